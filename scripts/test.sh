#!/usr/bin/env bash
# Sets everything up (including the AddressSanitizer build) and runs every test:
# the unit tests in the Release and the ASan/UBSan build, then the end-to-end tests.
# Every suite runs even if an earlier one failed; the exit status is non-zero if any failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --asan

failed=()

# The layer rule (docs/architecture.md): no include goes up a layer, every target links what its
# files include.
echo "==> layers"
python3 scripts/check_layers.py || failed+=("layers")

echo "==> unit tests (build/release)"
ctest --test-dir build/release --output-on-failure --no-tests=error || failed+=("unit tests (release)")

echo "==> unit tests (build/asan)"
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  ctest --test-dir build/asan --output-on-failure --no-tests=error || failed+=("unit tests (asan)")

# The repaired manylinux wheel, from build/release (seconds after setup), before the end-to-end
# tests: test_package.py installs it into a venv of a different CPython build and serves from
# it, and test_edge_listeners.py's --user test into one that the dropped-to user can read.
echo "==> wheel (scripts/wheel.sh)"
bash scripts/wheel.sh || failed+=("wheel")

# The bridges', HTTP/2 (h2spec included), TLS and connection-burst end-to-end tests against the
# ASan/UBSan (Debug) build too: they drive the C++/Python hand-offs (thread states, the GIL, the
# loop thread's events, objects Python keeps after a request) and the hand-overs between
# protocols (h2c, WebSocket, TLS) that unit tests cannot reach, so a lifetime bug there is a
# report, not a lucky pass. The workers' tests too: the master's bookkeeping while workers
# come and go (it caught a use-after-free there) and the request timeout's races. The edge
# too: the PROXY header read off the socket before TLS, static file bodies paced by the
# client, the forwarded-header parsers fed hostile values, listeners of both kinds. Request
# buffering and dropped work too: exchanges that outlive the read-ahead, queued jobs taken
# back from the pool when their client leaves. The RSS bounds of the 100 MiB uploads do not
# hold under ASan, whose quarantine keeps freed memory, so those run in the release pass only.
# CPython and pybind11 keep some allocations until exit by design: tests/lsan.supp.
echo "==> end-to-end tests of the bridges, HTTP/2, TLS, connection hand-overs and workers (build/asan)"
# The sanitizer build is an extension module of an interpreter that is not: libasan and
# libubsan are preloaded into the server processes (conftest.py passes JUNCTION_TEST_PRELOAD on as
# LD_PRELOAD), whose Python allocates with malloc so LeakSanitizer can follow its pointers.
JUNCTION_BIN="$PWD/.venv-asan/bin/junction" \
  JUNCTION_TEST_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
  LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  .venv/bin/python -m pytest tests/e2e/test_wsgi_*.py tests/e2e/test_asgi_*.py tests/e2e/test_tls_*.py \
  tests/e2e/test_http2_*.py tests/e2e/test_connection_bursts.py tests/e2e/test_workers.py \
  tests/e2e/test_supervision.py tests/e2e/test_request_timeout.py tests/e2e/test_proxy_protocol.py \
  tests/e2e/test_static.py tests/e2e/test_forwarded.py tests/e2e/test_edge_listeners.py \
  tests/e2e/test_request_buffering.py tests/e2e/test_dead_work.py \
  -q -k "not 100mib" ||
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
