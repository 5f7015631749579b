#!/usr/bin/env bash
# Sets up a Debian 12 machine for Junction and builds it. Idempotent: a second run skips
# what is already done (apt when every package is installed, pip when requirements.txt
# has not changed) and lets Ninja rebuild only what changed.
#
#   bash scripts/setup.sh            # packages, .venv, build/release
#   bash scripts/setup.sh --asan     # also build/asan (Debug + AddressSanitizer/UBSan)
#   JUNCTION_ASAN=1 bash scripts/setup.sh   # same as --asan
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

asan="${JUNCTION_ASAN:-0}"
for arg in "$@"; do
  case "$arg" in
    --asan) asan=1 ;;
    -h | --help)
      sed -n '2,9p' "$0"
      exit 0
      ;;
    *)
      echo "setup.sh: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

log() { printf '==> %s\n' "$*"; }

# --- Debian packages ------------------------------------------------------------------
packages=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev node-llhttp libnghttp2-dev libssl-dev
  pybind11-dev python3-dev python3-venv
  catch2 libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev
  curl nghttp2-client wrk nginx-light
  clang-format util-linux procps
)

# shellcheck source=scripts/debian_packages.sh
source scripts/debian_packages.sh
ensure_debian_packages "${packages[@]}"

# --- Python virtual environment -------------------------------------------------------
# The venv is made with the python3 first on PATH; that is also the interpreter the build
# embeds, so the two always agree.
python="$(command -v python3)"
python_exe="$("$python" -c 'import sys; print(sys.executable)')"
if [[ ! -x .venv/bin/python ]] || ! .venv/bin/python -c 'import sys' 2>/dev/null; then
  log "creating .venv with $python_exe"
  rm -rf .venv
  "$python" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  log "installing Python requirements into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  echo "$want" >"$stamp"
else
  log "Python requirements already installed"
fi

# --- Build ----------------------------------------------------------------------------
configure_and_build() {
  local dir="$1"
  shift
  log "configuring $dir"
  cmake -S . -B "$dir" -G Ninja -DPython3_EXECUTABLE="$python_exe" "$@" >/dev/null
  log "building $dir"
  cmake --build "$dir"
}

configure_and_build build/release -DCMAKE_BUILD_TYPE=Release
if [[ "$asan" == 1 ]]; then
  configure_and_build build/asan -DCMAKE_BUILD_TYPE=Debug -DJUNCTION_SANITIZE=ON
fi
log "setup done"
