#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, AddressSanitizer and UBSan in
# build/fuzz, and runs each one for SECONDS (default 60) from its committed seed corpus
# (tests/fuzz/corpus/TARGET) with its dictionary (tests/fuzz/dict/TARGET.dict). Inputs that
# reach new code are kept in build/fuzz/corpus/TARGET (the next run starts from them too); an
# input that crashes is written to build/fuzz/artifacts/ and the script exits 1. Prints, per
# target, the executions, the coverage reached (libFuzzer's "cov": instrumented edges; "ft":
# features) and the corpus size. docs/reliability.md, "Fuzzing", says how to turn a crash into a
# unit test.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]    # needs scripts/setup.sh's .venv
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=60
if (($#)) && [[ "$1" =~ ^[0-9]+$ ]]; then
  seconds="$1"
  shift
elif (($#)) && [[ "$1" == -h || "$1" == --help ]]; then
  sed -n '2,11p' "$0"
  exit 0
fi
all=(http1_fuzz http2_fuzz tls_fuzz proxy_header_fuzz config_file_fuzz)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
for target in "${targets[@]}"; do
  if [[ ! " ${all[*]} " == *" $target "* ]]; then
    echo "fuzz.sh: unknown target '$target' (one of: ${all[*]})" >&2
    exit 2
  fi
done

log() { printf '==> %s\n' "$*"; }
# shellcheck source=scripts/debian_packages.sh
source scripts/debian_packages.sh
# libclang-rt-14-dev holds the sanitizer and libFuzzer runtimes (libclang_rt.*.a); clang-14
# only recommends it, and recommends are not installed here.
ensure_debian_packages clang-14 libfuzzer-14-dev libclang-rt-14-dev
if [[ ! -x .venv/bin/python ]]; then
  echo "fuzz.sh: no .venv: run bash scripts/setup.sh first" >&2
  exit 2
fi

# The configure step finds pybind11 and the Python headers through .venv, as setup.sh's build.
log "building the fuzz targets in build/fuzz (clang, ASan/UBSan, coverage)"
cmake -S . -B build/fuzz -G Ninja -Wno-dev \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DJUNCTION_SANITIZE=ON -DJUNCTION_BUILD_FUZZERS=ON \
  -DJUNCTION_BUILD_TESTS=OFF -DPython_EXECUTABLE="$PWD/.venv/bin/python" \
  -Dpybind11_DIR="$(.venv/bin/python -m pybind11 --cmakedir)" >/dev/null
ninja -C build/fuzz fuzzers

# Longest input per target: a few requests or frames, a PROXY v2 header with its TLVs, a
# configuration file.
declare -A max_len=([http1_fuzz]=16384 [http2_fuzz]=16384 [tls_fuzz]=16384
  [proxy_header_fuzz]=4200 [config_file_fuzz]=8192)

# Runs one target; its output goes to build/fuzz/TARGET.log, its exit status to .status.
run_target() {
  local target="$1" status=0
  mkdir -p "build/fuzz/corpus/$target" "build/fuzz/artifacts/$target"
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "build/fuzz/tests/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 \
    -max_len="${max_len[$target]}" -dict="tests/fuzz/dict/$target.dict" \
    -artifact_prefix="build/fuzz/artifacts/$target/" -print_final_stats=1 \
    "build/fuzz/corpus/$target" "tests/fuzz/corpus/$target" >"build/fuzz/$target.log" 2>&1 ||
    status=$?
  echo "$status" >"build/fuzz/$target.status"
}

# Each target is one process on one core: as many at once as there are cores.
jobs="$(nproc)"
running=0
for target in "${targets[@]}"; do
  log "$target for ${seconds}s"
  run_target "$target" &
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

failed=()
summary=()
for target in "${targets[@]}"; do
  logfile="build/fuzz/$target.log"
  status="$(cat "build/fuzz/$target.status")"
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$logfile" | tail -1)"
  # The last status line: "#N  DONE  cov: C ft: F corp: K/..." (or the last pulse).
  last="$(grep -E '^#[0-9]+' "$logfile" | tail -1)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
  corp="$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")"
  result=ok
  if ((status != 0)); then
    result="FAILED (exit $status; see $logfile, input in build/fuzz/artifacts/$target/)"
    failed+=("$target")
    echo "--- $target:" >&2
    grep -E 'ERROR|SUMMARY|runtime error|abort|#[0-9]+ 0x' "$logfile" | head -40 >&2 || true
  fi
  summary+=("$(printf '%-18s %10s runs  cov %6s  ft %7s  corpus %6s  %s' "$target" "${runs:-?}" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result")")
done

log "fuzzing summary (${seconds}s each, $jobs at a time)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz.sh: crashes in: ${failed[*]}" >&2
  exit 1
fi
