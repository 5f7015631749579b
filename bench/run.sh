#!/usr/bin/env bash
# HTTP/1.1 keep-alive benchmark: Junction's health path against nginx returning a fixed 200.
#
# Both servers run on one core (taskset -c $BENCH_SERVER_CPU, default 0) with one I/O thread
# or worker; wrk runs on the other (default 1). Each server gets a warm-up run, then the
# measured runs alternate between the servers so drift on the machine hits both alike. The
# median requests/sec of each and the ratio junction/nginx are printed as a markdown table.
# With JUNCTION_BASELINE_BIN (an older Junction build), a second Junction, "junction-baseline",
# runs that binary with the same flags right after junction in every round, and the report adds
# the ratio junction / junction-baseline.
#
#   bash bench/run.sh                       # 10 s runs
#   bash bench/run.sh --quick               # smoke check: 1 run of 3 s per server
#   BENCH_DURATION=30 bash bench/run.sh     # longer runs
#   JUNCTION_BASELINE_BIN=/work/baseline/junction bash bench/run.sh
#
# Environment: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 3), BENCH_RUNS
# (default 3), BENCH_CONNECTIONS (default 64), BENCH_SERVER_CPU / BENCH_CLIENT_CPU,
# JUNCTION_BIN (another installed `junction` to measure; by default this checkout is
# pip-installed into .tools/bench-venv, see bench/common.sh), JUNCTION_BASELINE_BIN (see above;
# never built), JUNCTION_BASELINE_ARGS (extra flags for the baseline only).
# Raw wrk output and the server logs are kept in bench/results/<timestamp>/ (not committed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
# shellcheck source=bench/common.sh
source bench/common.sh

bench_options "$@"
connections="${BENCH_CONNECTIONS:-64}"
servers=(junction nginx)
add_baselines servers junction

ensure_bench_junction
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
results="$root/bench/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
tmp="$(mktemp -d)"
declare -A pid=() port=() desc=()

cleanup() {
  stop_all_servers
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- servers ------------------------------------------------------------------------------
for name in "${servers[@]}"; do port[$name]="$(free_port)"; done
for name in junction junction-baseline; do
  bin="$junction" extra=()
  [[ "$name" == junction ]] || bin="${baseline:-}" extra=("${baseline_args[@]}")
  [[ -n "$bin" ]] || continue
  start_server "$name" "$name (health path, 1 I/O thread)" "$root" \
    "$bin" --bind "127.0.0.1:${port[$name]}" "${extra[@]}" --health-path /healthz \
    --io-threads 1 --no-access-log --log-level warning
done

mkdir -p "$tmp/nginx"
temp_paths="$(nginx_temp_paths "$nginx_bin" "$tmp/nginx")"$'\n'
cat >"$tmp/nginx/nginx.conf" <<CONF
# Written by bench/run.sh: one process, no logs, a fixed 200 "ok" on /healthz.
worker_processes 1;
daemon off;
master_process off;
pid $tmp/nginx/nginx.pid;
error_log $results/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
$temp_paths  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port[nginx]};
    location = /healthz { return 200 "ok"; }
  }
}
CONF
cp "$tmp/nginx/nginx.conf" "$results/nginx.conf"
start_server nginx "nginx (return 200, 1 worker)" "$tmp/nginx" \
  "$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$results/nginx-error.log"

for name in "${servers[@]}"; do wait_ready "$name" "http://127.0.0.1:${port[$name]}/healthz" ok; done

# --- runs ---------------------------------------------------------------------------------
declare -A rps=() cpu=() sys=() csw=() util=()
wrk_rounds /healthz
stop_all_servers

declare -A med=()
for name in "${servers[@]}"; do med[$name]="$(median <<<"${rps[$name]}")"; done

# --- report -------------------------------------------------------------------------------
versions=()
junction_versions junction "$junction"
if [[ -n "${baseline:-}" ]]; then junction_versions junction-baseline "$baseline" "$baseline"; fi
versions="$(printf '%s, ' "${versions[@]}")"
versions="${versions%, }, nginx $("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///'), wrk $({ wrk -v 2>&1 || true; } | head -1 | awk '{ print $2 }')"

{
  echo "Machine: $(nproc) cores, $(cpu_model); servers on CPU $server_cpu, wrk on CPU $client_cpu."
  echo "Versions: $versions."
  echo "Load: wrk -t1 -c$connections -d${duration}s, HTTP/1.1 keep-alive, GET /healthz; ${warmup}s warm-up each."
  echo
  echo "| server $(runs_header)| median req/s |"
  echo "| --- $(runs_rule)| ---: |"
  for name in "${servers[@]}"; do
    # shellcheck disable=SC2086
    row "${desc[$name]}" ${rps[$name]} "**${med[$name]}**"
  done
  echo
  ratio_line junction nginx 3
  ratio_line junction junction-baseline 3
  warn_wrk_errors "$results"
} | tee "$results/summary.md"
