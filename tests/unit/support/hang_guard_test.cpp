// The hang guard the scenario tests run in: its outcomes, what a scenario says, and (in the
// ASan build) the leak check a child has to make itself.
#include "support/hang_guard.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

namespace junction::test {
namespace {

using namespace std::chrono_literals;

TEST_CASE("run_guarded: passed, failed, hung", "[hang_guard]") {
  CHECK(run_guarded([] { return true; }, 5s) == Outcome::passed);
  CHECK(run_guarded([] { return false; }, 5s) == Outcome::failed);
  CHECK(run_guarded(
            [] {
              for (;;) pause();
              return true;
            },
            50ms) == Outcome::hung);
}

TEST_CASE("run_guarded: what the scenario said reaches the parent", "[hang_guard]") {
  std::string said;
  auto outcome = run_guarded(
      [](const Say& say) {
        say("one");
        say("two");
        return true;
      },
      5s, said);
  CHECK(outcome == Outcome::passed);
  CHECK(said == "one\ntwo\n");

  SECTION("also when it hangs afterwards") {
    said.clear();
    outcome = run_guarded(
        [](const Say& say) {
          say("before");
          for (;;) pause();
          return true;
        },
        100ms, said);
    CHECK(outcome == Outcome::hung);
    CHECK(said == "before\n");
  }
}

// Blocks no pointer is kept to (one may linger in a register or on the stack; the rest not).
[[gnu::noinline]] void leak_blocks() {
  for (int i = 0; i < 100; ++i) {
    char* volatile lost = new char[64];
    lost[0] = 1;
  }
}

TEST_CASE("no_leaks: a block nothing points to is found in the child", "[hang_guard]") {
  auto outcome = run_guarded(
      [] {
        // LeakSanitizer's report of the leak made on purpose would only be noise.
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        leak_blocks();
        return no_leaks();
      },
      20s);
#if defined(__SANITIZE_ADDRESS__)
  CHECK(outcome == Outcome::failed);
#else
  CHECK(outcome == Outcome::passed);  // nothing checks without LeakSanitizer
#endif
}

}  // namespace
}  // namespace junction::test
