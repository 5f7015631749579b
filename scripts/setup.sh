#!/usr/bin/env bash
# Sets up a Debian 12 machine for Junction: the build packages, a .venv with the test
# requirements, and Junction itself pip-installed into it (the `junction` command, `python -m
# junction`), built in build/release (the C++ unit tests are built with --asan, in build/asan).
# Idempotent: a second run skips what is already done (apt when every package is installed, pip
# when the requirements have not changed) and the build directory is kept, so Ninja rebuilds
# only what changed.
#
#   bash scripts/setup.sh            # packages, .venv, build/release
#   bash scripts/setup.sh --asan     # also .venv-asan with an AddressSanitizer/UBSan build
#                                    # (build/asan, with the unit tests); it runs with libasan
#                                    # preloaded
#   JUNCTION_ASAN=1 bash scripts/setup.sh   # same as --asan
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

asan="${JUNCTION_ASAN:-0}"
for arg in "$@"; do
  case "$arg" in
    --asan) asan=1 ;;
    -h | --help)
      sed -n '2,14p' "$0"
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
  python3-dev python3-venv
  catch2 libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev
  curl nghttp2-client wrk nginx-light golang-go testssl.sh openssl
  clang-format util-linux procps
  clang-14 libfuzzer-14-dev libclang-rt-14-dev
  chromium chromium-driver prometheus systemd
)

# shellcheck source=scripts/debian_packages.sh
source scripts/debian_packages.sh
ensure_debian_packages "${packages[@]}"

# --- Python virtual environment -------------------------------------------------------
# The venv is made with the python3 first on PATH; Junction is built for it and runs in it.
python="$(command -v python3)"
python_exe="$("$python" -c 'import sys; print(sys.executable)')"
if [[ ! -x .venv/bin/python ]] || ! .venv/bin/python -c 'import sys' 2>/dev/null; then
  log "creating .venv with $python_exe"
  rm -rf .venv
  "$python" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want="$(cat requirements.txt requirements-build.txt | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  log "installing Python requirements into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-build.txt \
    -r requirements.txt
  echo "$want" >"$stamp"
else
  log "Python requirements already installed"
fi

# --- h2spec (HTTP/2 conformance, tests/e2e/test_http2_h2spec.py) ------------------------
# Built once into .tools/h2spec (delete it to rebuild) with Debian's Go (golang-go, 1.19).
# First the pinned commit; the v2 tags do not resolve through the Go module proxy. Where the
# pin cannot be fetched either (a module proxy that refuses the pseudo-version and no direct
# access to github.com), the newest tag the proxy serves, v2.2.1: it has no go.mod, so
# `go install ...@v2.2.1` would take the newest golang.org/x/net and friends, which need a newer
# Go; a throwaway module pins versions Go 1.19 builds. .tools/h2spec.version says which ran.
H2SPEC_PIN=af83a65f0b62
H2SPEC_FALLBACK=(github.com/summerwind/h2spec@v2.2.1+incompatible golang.org/x/net@v0.17.0
  golang.org/x/sys@v0.13.0 golang.org/x/text@v0.13.0 github.com/spf13/cobra@v1.7.0
  github.com/spf13/pflag@v1.0.5 github.com/fatih/color@v1.15.0
  github.com/mattn/go-colorable@v0.1.13 github.com/mattn/go-isatty@v0.0.19)
build_h2spec() {
  local go=/usr/lib/go/bin/go tmp
  [[ -x "$go" ]] || go="$(command -v go)"
  mkdir -p .tools
  log "building h2spec@$H2SPEC_PIN with $("$go" version)"
  if GOFLAGS= GOBIN="$PWD/.tools" "$go" install "github.com/summerwind/h2spec/cmd/h2spec@$H2SPEC_PIN" >&2; then
    echo "h2spec@$H2SPEC_PIN" >.tools/h2spec.version
    return
  fi
  log "h2spec@$H2SPEC_PIN cannot be fetched (above); building ${H2SPEC_FALLBACK[0]} instead"
  tmp="$(mktemp -d)"
  if (cd "$tmp" && export GOFLAGS= && "$go" mod init h2spec-build >/dev/null 2>&1 &&
    "$go" get "${H2SPEC_FALLBACK[@]}" >&2 &&
    "$go" build -o "$OLDPWD/.tools/h2spec" github.com/summerwind/h2spec/cmd/h2spec >&2); then
    echo "${H2SPEC_FALLBACK[0]#*/*/}" >.tools/h2spec.version
  else
    log "warning: h2spec could not be built; tests/e2e/test_http2_h2spec.py will fail"
  fi
  rm -rf "$tmp"
}
if [[ -x .tools/h2spec ]]; then
  log "h2spec already built ($(cat .tools/h2spec.version 2>/dev/null || echo unknown version))"
else
  build_h2spec
fi

# --- Build and install -------------------------------------------------------------------
# pip builds the package with scikit-build-core in a build directory that persists (so Ninja
# rebuilds only what changed), without an isolated environment (its build requirements are in
# the venv). The C++ unit tests are built in the sanitizer build (build/asan), where ctest runs
# them; the release build is the product alone (compiling the tests with link-time optimisation
# would double its time).
install_junction() {
  local venv="$1" dir="$2" tests="$3"
  shift 3
  log "building $dir and installing junction into $venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps \
    --config-settings build-dir="$dir" --config-settings cmake.define.JUNCTION_BUILD_TESTS="$tests" \
    "$@" .
}

install_junction .venv build/release OFF
if [[ "$asan" == 1 ]]; then
  # A venv of the same Python for the sanitizer build, which sees .venv's packages (the test
  # apps' Django, FastAPI, ...) through a .pth file; its own junction comes first.
  if [[ ! -x .venv-asan/bin/python ]] || ! .venv-asan/bin/python -c 'import sys' 2>/dev/null; then
    rm -rf .venv-asan
    "$python" -m venv .venv-asan
  fi
  site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
  asan_site="$(.venv-asan/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
  echo "$site" >"$asan_site/junction-test-requirements.pth"
  install_junction .venv-asan build/asan ON --config-settings cmake.build-type=Debug \
    --config-settings cmake.define.JUNCTION_SANITIZE=ON
fi
log "setup done"
