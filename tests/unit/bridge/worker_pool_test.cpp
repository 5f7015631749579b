// The WSGI pool on a real interpreter: jobs run with the GIL held, on threads that keep their
// Python thread state; N threads run N jobs at once; try_submit refuses once every thread is busy
// and `backlog` jobs wait; busy() counts queued and running jobs; stop() drops queued jobs,
// joins, and gives up (false) on a job that does not finish in time.
#include "bridge/worker_pool.hpp"

#include <pybind11/embed.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "support/python.hpp"

namespace py = pybind11;
using namespace std::chrono_literals;

namespace junction::bridge {
namespace {

// How long a test waits for something that must happen: a broken pool fails the test instead of
// hanging it. Never reached when the pool works.
constexpr auto kPatience = 20s;

// Jobs that hold the GIL while they wait would keep every other pool thread out, so they wait
// with it released, as a WSGI job waiting for the client does.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    changed_.notify_all();
  }
  void wait() {
    py::gil_scoped_release nogil;
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, kPatience, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
};

// Counts events (jobs started, jobs done) for the test to wait on.
class Counter {
 public:
  void add() {
    {
      std::lock_guard lock(mutex_);
      ++count_;
    }
    changed_.notify_all();
  }
  int value() {
    std::lock_guard lock(mutex_);
    return count_;
  }
  // Waits (with the GIL released, if held) until the count reaches `n`.
  bool reaches(int n) {
    std::optional<py::gil_scoped_release> nogil;
    if (PyGILState_Check()) nogil.emplace();
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kPatience, [&] { return count_ >= n; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int count_ = 0;
};

// Polls `condition` until it holds (for state the pool exposes only through busy()).
template <typename Condition>
bool eventually(Condition condition) {
  auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// A pool's threads become idle asynchronously after construction, so the steady-state tests
// submit their first jobs once a thread takes them (see the "fresh pool" test below).
bool submit_when_accepted(WorkerPool& pool, const WorkerPool::Job& job) {
  return eventually([&] { return pool.try_submit(job); });
}

TEST_CASE("WorkerPool: jobs run with the GIL held", "[worker_pool][python]") {
  test::ensure_python();
  Counter done;
  std::atomic<int> with_gil{0};
  WorkerPool pool(2, 8);
  for (int i = 0; i < 6; ++i) {
    CHECK(pool.try_submit([&] {
      if (PyGILState_Check()) ++with_gil;
      // Python works as usual here.
      if (py::eval("6 * 7").cast<int>() != 42) --with_gil;
      done.add();
    }));
  }
  CHECK(done.reaches(6));
  CHECK(pool.stop(10s));
  CHECK(with_gil == 6);
  CHECK_FALSE(PyGILState_Check());  // the test thread still does not hold it
}

TEST_CASE("WorkerPool: a thread keeps its Python thread state across jobs",
          "[worker_pool][python]") {
  test::ensure_python();
  py::object local;
  {
    py::gil_scoped_acquire gil;
    local = py::module_::import("threading").attr("local")();
  }
  Counter done;
  bool seen_again = false;
  WorkerPool pool(1, 1);
  CHECK(pool.try_submit([&] {
    local.attr("value") = 41;
    done.add();
  }));
  CHECK(done.reaches(1));
  CHECK(pool.try_submit([&] {
    seen_again = py::hasattr(local, "value") && local.attr("value").cast<int>() == 41;
    done.add();
  }));
  CHECK(done.reaches(2));
  CHECK(pool.stop(10s));
  CHECK(seen_again);  // threading.local data survives from one job to the next
  py::gil_scoped_acquire gil;
  local = py::object();
}

// Jobs that each wait for all `n` of them to start: they finish only if `n` threads run them at
// the same time.
class AllAtOnce {
 public:
  explicit AllAtOnce(int n) : n_(n) {}
  WorkerPool::Job job() {
    return [this] {
      started_.add();
      if (started_.reaches(n_)) ++met_;
      done_.add();
    };
  }
  bool all_done() { return done_.reaches(n_); }
  bool all_met() const { return met_ == n_; }

 private:
  int n_;
  Counter started_;
  Counter done_;
  std::atomic<int> met_{0};
};

TEST_CASE("WorkerPool: N threads run N jobs at the same time", "[worker_pool][python]") {
  test::ensure_python();
  constexpr int kThreads = 4;
  AllAtOnce jobs(kThreads);
  WorkerPool pool(kThreads, kThreads);
  for (int i = 0; i < kThreads; ++i) CHECK(pool.try_submit(jobs.job()));
  CHECK(jobs.all_done());
  CHECK(pool.stop(10s));
  CHECK(jobs.all_met());
}

// An I/O thread submits the requests of one burst with defer_wake and wakes the pool once. One
// thread is woken; if its job is slow (a sleep, a query) the others must still be started, or the
// burst runs one request after another. Each job here waits for all of them to start.
TEST_CASE("WorkerPool: a burst submitted with one wake runs on as many threads as it needs",
          "[worker_pool][python]") {
  test::ensure_python();
  constexpr int kThreads = 3;
  AllAtOnce jobs(kThreads);
  WorkerPool pool(kThreads, kThreads);
  std::this_thread::sleep_for(50ms);  // every thread asleep, the monitor idle
  for (int i = 0; i < kThreads; ++i) CHECK(pool.try_submit(jobs.job(), true));
  pool.wake();
  CHECK(jobs.all_done());
  CHECK(pool.stop(10s));
  CHECK(jobs.all_met());
}

TEST_CASE("WorkerPool: one thread, backlog 1: one runs, one waits, the next is refused",
          "[worker_pool][python]") {
  test::ensure_python();
  Gate gate;
  Counter started;
  Counter done;
  std::atomic<int> ran{0};
  WorkerPool pool(1, 1);
  auto blocking = [&] {
    started.add();
    gate.wait();
    ++ran;
    done.add();
  };
  CHECK(pool.try_submit(blocking));
  CHECK(started.reaches(1));
  CHECK(pool.try_submit(blocking));  // waits in the backlog
  bool refused_ran = false;
  CHECK_FALSE(pool.try_submit([&] { refused_ran = true; }));
  CHECK(pool.busy() == 2);

  gate.open();
  CHECK(done.reaches(2));
  CHECK(pool.stop(10s));
  CHECK(ran == 2);
  CHECK_FALSE(refused_ran);
}

TEST_CASE("WorkerPool: cancel() takes back a queued job and frees its backlog place",
          "[worker_pool][python]") {
  test::ensure_python();
  Gate gate;
  Counter started;
  Counter done;
  std::atomic<int> ran{0};
  WorkerPool pool(1, 1);
  auto blocking = [&] {
    started.add();
    gate.wait();
    ++ran;
    done.add();
  };
  auto running = pool.submit(blocking);
  REQUIRE(running != WorkerPool::kRefused);
  CHECK(started.reaches(1));
  bool cancelled_ran = false;
  auto queued = pool.submit([&] { cancelled_ran = true; });
  REQUIRE(queued != WorkerPool::kRefused);
  CHECK_FALSE(pool.try_submit(blocking));  // the backlog is full
  CHECK(pool.cancel(queued));              // its client left: the place is free
  CHECK_FALSE(pool.cancel(queued));        // once
  CHECK_FALSE(pool.cancel(running));       // a thread has it
  CHECK(pool.busy() == 1);
  CHECK(pool.try_submit(blocking));

  gate.open();
  CHECK(done.reaches(2));
  CHECK(pool.stop(10s));
  CHECK(ran == 2);
  CHECK_FALSE(cancelled_ran);
}

TEST_CASE("WorkerPool: two threads, backlog 0: two run, the third is refused",
          "[worker_pool][python]") {
  test::ensure_python();
  Gate gate;
  Counter started;
  Counter done;
  WorkerPool pool(2, 0);
  auto blocking = [&] {
    started.add();
    gate.wait();
    done.add();
  };
  CHECK(submit_when_accepted(pool, blocking));
  CHECK(submit_when_accepted(pool, blocking));
  CHECK(started.reaches(2));
  bool refused_ran = false;
  CHECK_FALSE(pool.try_submit([&] { refused_ran = true; }));
  CHECK(pool.busy() == 2);

  gate.open();
  CHECK(done.reaches(2));
  CHECK(pool.stop(10s));
  CHECK_FALSE(refused_ran);
}

// The caller may hold the GIL while it builds the pool (worker_pool.hpp), as PythonRuntime does
// while it loads the apps; its threads then cannot start until the GIL is released. They are not
// busy, so the pool must still accept one job per thread.
TEST_CASE("WorkerPool: a fresh pool accepts a job per thread before its threads start",
          "[worker_pool][python]") {
  test::ensure_python();
  Gate gate;
  Counter done;
  std::optional<WorkerPool> pool;
  int accepted = 0;
  {
    py::gil_scoped_acquire gil;
    pool.emplace(2, 0);
    for (int i = 0; i < 3; ++i)
      accepted += pool->try_submit([&] {
        gate.wait();
        done.add();
      });
  }
  CHECK(accepted == 2);
  gate.open();
  CHECK(done.reaches(accepted));
  CHECK(pool->stop(10s));
}

TEST_CASE("WorkerPool: busy() counts queued and running jobs", "[worker_pool][python]") {
  test::ensure_python();
  Gate gate;
  Counter started;
  Counter done;
  WorkerPool pool(1, 2);
  CHECK(pool.busy() == 0);
  auto blocking = [&] {
    started.add();
    gate.wait();
    done.add();
  };
  CHECK(pool.try_submit(blocking));
  CHECK(started.reaches(1));
  CHECK(pool.busy() == 1);
  CHECK(pool.try_submit(blocking));
  CHECK(pool.busy() == 2);
  CHECK(pool.try_submit(blocking));
  CHECK(pool.busy() == 3);
  CHECK_FALSE(pool.try_submit(blocking));
  CHECK(pool.busy() == 3);

  gate.open();
  CHECK(done.reaches(3));
  CHECK(eventually([&] { return pool.busy() == 0; }));
  CHECK(pool.stop(10s));
  CHECK(pool.busy() == 0);
}

TEST_CASE("WorkerPool: stop() drops queued jobs, lets the running one finish, and joins",
          "[worker_pool][python]") {
  test::ensure_python();
  Gate gate;
  Counter started;
  std::atomic<int> ran{0};
  auto token = std::make_shared<int>(0);  // every job holds a copy until it is destroyed
  WorkerPool pool(1, 2);
  auto job = [&, token] {
    started.add();
    gate.wait();
    ++ran;
  };
  CHECK(pool.try_submit(job));
  CHECK(started.reaches(1));
  CHECK(pool.try_submit(job));
  CHECK(pool.try_submit(job));
  CHECK(pool.busy() == 3);

  // Once stop() has dropped the queue only the running job is left; then let it finish.
  bool dropped = false;
  std::thread releaser([&] {
    dropped = eventually([&] { return pool.busy() == 1; });
    gate.open();
  });
  CHECK(pool.stop(kPatience));
  releaser.join();
  CHECK(dropped);
  CHECK(ran == 1);
  CHECK(pool.busy() == 0);
  CHECK(token.use_count() == 2);      // ours and `job`'s: the pool destroyed its copies
  CHECK_FALSE(pool.try_submit(job));  // a stopped pool takes nothing
}

TEST_CASE("WorkerPool: stop() on an idle pool joins its threads", "[worker_pool][python]") {
  test::ensure_python();
  WorkerPool pool(3, 3);
  CHECK(pool.stop(10s));
  CHECK_FALSE(pool.try_submit([] {}));
}

TEST_CASE("WorkerPool: stop() gives up on a job that does not finish in time",
          "[worker_pool][python]") {
  test::ensure_python();
  Gate gate;
  Counter started;
  Counter done;
  WorkerPool pool(1, 1);
  CHECK(pool.try_submit([&] {
    started.add();
    gate.wait();
    done.add();
  }));
  CHECK(started.reaches(1));

  auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::off);  // the "still running" error is expected here
  CHECK_FALSE(pool.stop(50ms));
  spdlog::set_level(level);
  CHECK_FALSE(pool.try_submit([] {}));
  CHECK(pool.busy() == 1);

  // Let the job finish so the thread can end before the pool goes: a second stop() joins it.
  gate.open();
  CHECK(done.reaches(1));
  CHECK(pool.stop(kPatience));
  CHECK(pool.busy() == 0);
}

}  // namespace
}  // namespace junction::bridge
