#include "gateway/server/worker_board.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

using namespace junction::gateway;
using namespace std::chrono_literals;

TEST_CASE("WorkerSlot::stuck names the part that stopped beating", "[workers]") {
  WorkerBoard board;
  auto index = board.claim();
  REQUIRE(index);
  auto& slot = board[*index];
  CHECK(slot.state.load() == WorkerSlot::kStarting);
  slot.begin_serving(2, true, false);
  CHECK(slot.state.load() == WorkerSlot::kServing);
  auto t = WorkerSlot::now();
  CHECK_FALSE(slot.stuck(t, 5s));
  slot.io_beats[0].store(t + 10'000'000'000);
  slot.wsgi_beat.store(t + 10'000'000'000);
  // I/O thread 1 beat last at t: 10 s later it has been silent for 10 s.
  auto stuck = slot.stuck(t + 10'000'000'000, 5s);
  REQUIRE(stuck);
  CHECK(stuck->part == "I/O thread 1");
  CHECK(stuck->silent_seconds >= 10.0);  // begin_serving beat a moment before t
  CHECK(stuck->silent_seconds < 10.1);
  slot.io_beats[1].store(t + 10'000'000'000);
  stuck = slot.stuck(t + 12'000'000'000, 1s);
  CHECK_FALSE(slot.stuck(t + 12'000'000'000, 5s));
  REQUIRE(stuck);
  CHECK(stuck->part == "I/O thread 0");
  // No ASGI loop: its beat is never looked at.
  CHECK(slot.asgi_beat.load() == 0);
}

TEST_CASE("WorkerSlot::stuck: the WSGI pool and the ASGI loop", "[workers]") {
  WorkerBoard board;
  auto& slot = board[*board.claim()];
  slot.begin_serving(1, true, true);
  auto t = WorkerSlot::now();
  slot.io_beats[0].store(t + 3'000'000'000);
  slot.wsgi_beat.store(t + 3'000'000'000);
  auto stuck = slot.stuck(t + 3'000'000'000, 2s);
  REQUIRE(stuck);
  CHECK(stuck->part == "ASGI event loop");
  slot.asgi_beat.store(t + 3'000'000'000);
  slot.wsgi_beat.store(t);
  stuck = slot.stuck(t + 3'000'000'000, 2s);
  REQUIRE(stuck);
  CHECK(stuck->part == "WSGI pool");
}

TEST_CASE("WorkerBoard: slots are claimed, released and shared with a child", "[workers]") {
  WorkerBoard board;
  auto a = board.claim();
  auto b = board.claim();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a != *b);
  board.release(*a);
  CHECK(board[*a].state.load() == WorkerSlot::kFree);
  auto c = board.claim();
  CHECK(c == a);  // reused

  // What a forked worker writes, the master reads.
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    board[*b].state.store(WorkerSlot::kDraining);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(board[*b].state.load() == WorkerSlot::kDraining);
}

TEST_CASE("WorkerBoard::should_yield_accept balances connections across serving workers",
          "[workers]") {
  WorkerBoard board;
  auto a = *board.claim();
  auto b = *board.claim();
  auto c = *board.claim();
  board[a].begin_serving(1, true, false);
  board[b].begin_serving(1, true, false);
  // c is still starting (importing): it takes no connection yet, so it does not count.
  CHECK_FALSE(board.should_yield_accept(a));
  board[a].connections = 1;
  CHECK_FALSE(board.should_yield_accept(a));  // one ahead is fine
  board[a].connections = 2;
  CHECK(board.should_yield_accept(a));
  CHECK_FALSE(board.should_yield_accept(b));
  board[b].connections = 1;
  CHECK_FALSE(board.should_yield_accept(a));
  board[c].begin_serving(1, true, false);  // a new worker with none: the others let it take some
  CHECK(board.should_yield_accept(a));
  CHECK_FALSE(board.should_yield_accept(b));
  board[b].state = WorkerSlot::kDraining;  // a draining worker accepts nothing: not compared
  board[c].state = WorkerSlot::kDraining;
  CHECK_FALSE(board.should_yield_accept(a));
}
