#!/usr/bin/env bash
# ThreadSanitizer, by hand (not in CI: a third full build does not fit its time): builds
# junction with -fsanitize=thread (Debug, unit tests included) in build/tsan, installs it into
# .venv-tsan, runs the unit tests, then the bridges' end-to-end tests (WSGI and ASGI: the
# worker pool, the event loop thread and their hand-offs to the I/O threads) against it. A data
# race or a lock-order inversion is reported and fails the run. Needs scripts/setup.sh's .venv.
#
#   bash scripts/tsan.sh [PYTEST ARGS...]    # default: tests/e2e/test_wsgi_*.py test_asgi_*.py
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
  sed -n '2,8p' "$0"
  exit 0
fi
log() { printf '==> %s\n' "$*"; }
if [[ ! -x .venv/bin/python ]]; then
  echo "tsan.sh: no .venv: run bash scripts/setup.sh first" >&2
  exit 2
fi

# A venv of the same Python, seeing .venv's packages through a .pth file (as .venv-asan).
python="$(.venv/bin/python -c 'import sys; print(sys._base_executable)')"
if [[ ! -x .venv-tsan/bin/python ]]; then
  "$python" -m venv .venv-tsan
fi
site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
tsan_site="$(.venv-tsan/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
echo "$site" >"$tsan_site/junction-test-requirements.pth"
log "building build/tsan and installing junction into .venv-tsan"
.venv-tsan/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps \
  --config-settings build-dir=build/tsan --config-settings cmake.build-type=Debug \
  --config-settings cmake.define.JUNCTION_BUILD_TESTS=ON \
  --config-settings cmake.define.JUNCTION_SANITIZE_THREAD=ON .

export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp}"
failed=()
log "unit tests (build/tsan)"
ctest --test-dir build/tsan --output-on-failure --no-tests=error || failed+=("unit tests")

# The server is an extension module of an interpreter that is not instrumented: libtsan is
# preloaded into the server processes (conftest.py passes JUNCTION_TEST_PRELOAD on as LD_PRELOAD).
log "end-to-end tests of the bridges (build/tsan)"
(($#)) || set -- tests/e2e/test_wsgi_*.py tests/e2e/test_asgi_*.py
JUNCTION_BIN="$PWD/.venv-tsan/bin/junction" \
  JUNCTION_TEST_PRELOAD="$(gcc -print-file-name=libtsan.so)" \
  .venv/bin/python -m pytest -q "$@" || failed+=("end-to-end tests")

if ((${#failed[@]})); then
  echo "tsan.sh: failed: ${failed[*]}" >&2
  exit 1
fi
log "no ThreadSanitizer report"
