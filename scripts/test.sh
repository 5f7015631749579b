#!/usr/bin/env bash
# Sets everything up (including the AddressSanitizer build) and runs every test: the unit tests
# in the ASan/UBSan build, the fuzzers, then the end-to-end tests against the ASan/UBSan build and
# the release build.
# Every suite runs even if an earlier one failed; the exit status is non-zero if any failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --asan

failed=()

# The layer rule (docs/architecture.md): no include goes up a layer, every target links what its
# files include.
echo "==> layers"
python3 scripts/check_layers.py || failed+=("layers")

echo "==> unit tests (build/asan)"
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  ctest --test-dir build/asan --output-on-failure --no-tests=error -j "$(nproc)" ||
  failed+=("unit tests (asan)")

# The repaired manylinux wheel, from build/release (seconds after setup), before the end-to-end
# tests: test_package.py installs it into a venv of a different CPython build and serves from
# it, and test_edge_listeners.py's --user test into one that the dropped-to user can read.
echo "==> wheel (scripts/wheel.sh)"
bash scripts/wheel.sh || failed+=("wheel")

# The libFuzzer targets (tests/fuzz: the HTTP/1 connection, the HTTP/2 session, the TLS stream,
# the PROXY header and the configuration file), 60 s each from their committed corpora, built
# with clang and ASan/UBSan in build/fuzz. A crash fails the run; its input is in
# build/fuzz/artifacts/.
echo "==> fuzzers (scripts/fuzz.sh 60)"
bash scripts/fuzz.sh 60 || failed+=("fuzzers")

# The whole end-to-end suite against the ASan/UBSan (Debug) build too: the bridges' C++/Python
# hand-offs (thread states, the GIL, the loop thread's events, objects Python keeps after a
# request), the hand-overs between protocols (h2c, WebSocket, TLS), HTTP/2 with h2spec, the
# workers' bookkeeping, the edge, request buffering and dropped work, so that a lifetime bug
# anywhere is a report, not a lucky pass. Left to the release pass: bounds on RSS, which ASan's
# quarantine of freed memory breaks (the 100 MiB uploads, memory coming back after a peak), and
# running out of descriptors, where UBSan's own checks need descriptors (a false "invalid vptr").
# CPython and pybind11 keep some allocations until exit by design: tests/lsan.supp.
echo "==> end-to-end tests (build/asan)"
# The sanitizer build is an extension module of an interpreter that is not: libasan and
# libubsan are preloaded into the server processes (conftest.py passes JUNCTION_TEST_PRELOAD on as
# LD_PRELOAD), whose Python allocates with malloc so LeakSanitizer can follow its pointers.
JUNCTION_BIN="$PWD/.venv-asan/bin/junction" \
  JUNCTION_TEST_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
  LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  .venv/bin/python -m pytest tests/e2e -q -k "not 100mib" \
  --deselect tests/e2e/test_memory_returns.py --deselect tests/e2e/test_descriptors.py \
  --deselect tests/e2e/test_load.py::test_accept_survives_emfile ||
  failed+=("end-to-end tests (asan)")

if ((${#failed[@]})); then
  echo "==> FAILED so far: ${failed[*]}" >&2
fi

# pytest runs last, so its summary is the last one printed.
echo "==> end-to-end tests"
export JUNCTION_BIN="${JUNCTION_BIN:-$PWD/.venv/bin/junction}"
e2e=0
.venv/bin/python -m pytest tests/e2e -v || e2e=$?

if ((${#failed[@]})) || ((e2e != 0)); then
  exit 1
fi
