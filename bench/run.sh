#!/usr/bin/env bash
# HTTP/1.1 keep-alive benchmark: Junction's health path against nginx returning a fixed 200.
#
# Both servers run on one core (taskset -c $BENCH_SERVER_CPU, default 0) with one I/O thread
# or worker; wrk runs on the other (default 1). Each server gets a warm-up run, then the
# measured runs alternate between the servers so drift on the machine hits both alike. The
# median requests/sec of each and the ratio junction/nginx are printed as a markdown table.
#
#   bash bench/run.sh                       # 10 s runs
#   BENCH_DURATION=30 bash bench/run.sh     # longer runs
#
# Environment: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 3), BENCH_RUNS
# (default 3), BENCH_CONNECTIONS (default 64), BENCH_SERVER_CPU / BENCH_CLIENT_CPU.
# Raw wrk output is kept in bench/results/<timestamp>/ (not committed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/wrk_warnings.sh
source bench/wrk_warnings.sh
root="$PWD"

duration="${BENCH_DURATION:-10}"
warmup="${BENCH_WARMUP:-3}"
runs="${BENCH_RUNS:-3}"
connections="${BENCH_CONNECTIONS:-64}"
server_cpu="${BENCH_SERVER_CPU:-0}"
client_cpu="${BENCH_CLIENT_CPU:-1}"

bash scripts/setup.sh >&2

junction="$root/build/release/junction"
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
results="$root/bench/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
tmp="$(mktemp -d)"
pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '==> %s\n' "$*" >&2; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ok() { # URL: wait until it answers "ok" (at most 10 s)
  local i
  for i in $(seq 100); do
    if [[ "$(curl -fsS --max-time 1 "$1" 2>/dev/null)" == ok ]]; then return 0; fi
    sleep 0.1
  done
  echo "bench: $1 did not answer 'ok' within 10 s" >&2
  return 1
}

# --- servers ------------------------------------------------------------------------------
junction_port="$(free_port)"
taskset -c "$server_cpu" "$junction" --bind "127.0.0.1:$junction_port" --health-path /healthz \
  --io-threads 1 --no-access-log --log-level warning >"$results/junction.log" 2>&1 &
pids+=($!)

nginx_port="$(free_port)"
mkdir -p "$tmp/nginx"
temp_paths=""
for module in client_body proxy fastcgi uwsgi scgi; do
  if [[ "$module" == client_body ]] || ! "$nginx_bin" -V 2>&1 | grep -q -- "--without-http_${module}_module"; then
    temp_paths+="  ${module}_temp_path $tmp/nginx/$module;"$'\n'
  fi
done
cat >"$tmp/nginx/nginx.conf" <<EOF
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
    listen 127.0.0.1:$nginx_port;
    location = /healthz { return 200 "ok"; }
  }
}
EOF
cp "$tmp/nginx/nginx.conf" "$results/nginx.conf"
taskset -c "$server_cpu" "$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" \
  -e "$results/nginx-error.log" >>"$results/nginx-error.log" 2>&1 &
pids+=($!)

wait_ok "http://127.0.0.1:$junction_port/healthz"
wait_ok "http://127.0.0.1:$nginx_port/healthz"

# --- runs ---------------------------------------------------------------------------------
declare -A url=(
  [junction]="http://127.0.0.1:$junction_port/healthz"
  [nginx]="http://127.0.0.1:$nginx_port/healthz"
)
declare -A rps=([junction]="" [nginx]="")

run_wrk() { # NAME SECONDS OUTFILE -> prints requests/sec
  local name="$1" seconds="$2" out="$3"
  taskset -c "$client_cpu" wrk -t1 -c"$connections" -d"${seconds}s" --latency "${url[$name]}" >"$out"
  awk '/^Requests\/sec:/ { print $2 }' "$out"
}

for name in junction nginx; do
  log "warm-up $name (${warmup}s)"
  run_wrk "$name" "$warmup" "$results/$name-warmup.txt" >/dev/null
done
for i in $(seq "$runs"); do
  for name in junction nginx; do
    log "run $i/$runs: $name (${duration}s)"
    rps[$name]+="$(run_wrk "$name" "$duration" "$results/$name-$i.txt") "
  done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
junction_median="$(median <<<"${rps[junction]}")"
nginx_median="$(median <<<"${rps[nginx]}")"
ratio="$(awk -v a="$junction_median" -v b="$nginx_median" 'BEGIN { printf "%.3f", a / b }')"

# --- report -------------------------------------------------------------------------------
model="$(lscpu | awk -F: '/^Model name/ { gsub(/^[ \t]+/, "", $2); print $2; exit }')"
nginx_version="$("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///')"
wrk_version="$({ wrk -v 2>&1 || true; } | head -1 | awk '{ print $2 }')"
junction_version="$({ "$junction" --version 2>&1 || true; } | head -1 | sed 's/^junction //')"

runs_header="$(for i in $(seq "$runs"); do printf '| run %s ' "$i"; done)"
runs_rule="$(for i in $(seq "$runs"); do printf '| ---: '; done)"
row() { printf '| %s ' "$@"; printf '|\n'; }

{
  echo "Machine: $(nproc) cores, ${model:-unknown CPU}; servers on CPU $server_cpu, wrk on CPU $client_cpu."
  echo "Versions: junction ${junction_version}, nginx ${nginx_version}, wrk ${wrk_version}."
  echo "Load: wrk -t1 -c$connections -d${duration}s, HTTP/1.1 keep-alive, GET /healthz; ${warmup}s warm-up each."
  echo
  echo "| server ${runs_header}| median req/s |"
  echo "| --- ${runs_rule}| ---: |"
  # shellcheck disable=SC2086
  row "junction (health path, 1 I/O thread)" ${rps[junction]} "**$junction_median**"
  # shellcheck disable=SC2086
  row "nginx (return 200, 1 worker)" ${rps[nginx]} "**$nginx_median**"
  echo
  echo "**junction / nginx = $ratio**"
  warn_wrk_errors "$results"
} | tee "$results/summary.md"
