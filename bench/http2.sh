#!/usr/bin/env bash
# Hello-world HTTP/2 benchmark (h2c prior knowledge): Junction's ASGI and WSGI against granian
# (--http 2), hypercorn (h2c) and nginx (h2c, a static `return 200`: the front-end limit, no
# Python at all), with h2load.
#
#   bash bench/http2.sh                     # 3 runs of 10 s per server
#   bash bench/http2.sh --quick             # smoke check: 1 run of 3 s per server
#   JUNCTION_BIN=build/other/junction bash bench/http2.sh
#   BENCH_SERVERS="junction-asgi nginx" bash bench/http2.sh
#   JUNCTION_BASELINE_BIN=/work/baseline/junction bash bench/http2.sh   # old build too
#
# Servers (BENCH_SERVERS, default all): junction-asgi, junction-wsgi, granian-asgi,
# granian-wsgi, hypercorn-asgi, nginx. The apps are examples/hello/asgi_app.py and
# examples/hello/app.py, as in bench/app.sh (--interface asgi and wsgi), and every server is set
# up as there (one process serving requests, pinned with `taskset -c $BENCH_SERVER_CPU`, uvloop,
# access logs off; WSGI with $BENCH_THREADS threads, default 8; Junction's --backlog is twice
# the streams h2load keeps open, so none gets 503); only the protocol differs:
#   * junction: --http 2 (auto would serve the same h2c; 2 skips the preface sniffing);
#   * granian: --http 2 (h2c prior knowledge on a plain listener);
#   * hypercorn: its plain listener takes the HTTP/2 preface (h2, pure Python);
#   * nginx: `listen ... http2` (h2c prior knowledge), 1 worker, master_process off,
#     keepalive_requests unbounded (its default of 1000 ends each connection early).
# The peers come from .tools/bench-venv at the versions bench/common.sh pins (run
# `bash bench/app.sh --interface asgi --quick` once if they are missing); nginx is Debian's
# nginx-light. With JUNCTION_BASELINE_BIN (an older Junction build), each Junction server NAME
# gets a twin NAME-baseline (junction-asgi-baseline, junction-wsgi-baseline) running that binary
# with the same flags right after it in every round, and the report adds NAME / NAME-baseline.
#
# Load: h2load -t1 -c$BENCH_CONNECTIONS (16) -m$BENCH_STREAMS (32) -D ${BENCH_DURATION}s GET /,
# on `taskset -c $BENCH_CLIENT_CPU`. Warm-up per server, then the measured runs go round the
# servers; the report gives each run's successful requests/sec, the medians, Junction's ratios (of
# medians) and the server's CPU time per request and core use from /proc, as the other bench
# scripts do. Output in bench/results/http2-<timestamp>/ (not committed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
# shellcheck source=bench/common.sh
source bench/common.sh

bench_options "$@"
connections="${BENCH_CONNECTIONS:-16}"
streams="${BENCH_STREAMS:-32}"
threads="${BENCH_THREADS:-8}"
all="junction-asgi junction-wsgi granian-asgi granian-wsgi hypercorn-asgi nginx"
read -r -a servers <<<"${BENCH_SERVERS:-$all}"
((${#servers[@]})) || die "BENCH_SERVERS is empty"
for s in "${servers[@]}"; do [[ " $all " == *" $s "* ]] || die "unknown server '$s' in BENCH_SERVERS"; done
want() { [[ " ${servers[*]} " == *" $1 "* ]]; }
add_baselines servers junction-asgi junction-wsgi
app_dir="$root/examples/hello"
expected_body="Hello, world!"

# --- tools and peers ------------------------------------------------------------------------
packages=(nghttp2-client curl util-linux nginx-light)
# shellcheck source=scripts/debian_packages.sh
source scripts/debian_packages.sh
ensure_debian_packages "${packages[@]}"
for tool in h2load curl taskset setsid nginx; do command -v "$tool" >/dev/null || die "$tool is missing"; done
if want junction-asgi || want junction-wsgi; then ensure_bench_junction; fi
peer_version() { "$venv/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true; }
if want granian-asgi || want granian-wsgi || want hypercorn-asgi; then
  [[ "$(peer_version granian)" == "$GRANIAN_VERSION" && "$(peer_version hypercorn)" == "$HYPERCORN_VERSION" &&
    "$(peer_version uvloop)" == "$UVLOOP_VERSION" ]] ||
    die "$venv lacks granian $GRANIAN_VERSION, hypercorn $HYPERCORN_VERSION or uvloop $UVLOOP_VERSION: run 'bash bench/app.sh --interface asgi --quick' once"
fi
junction_loop_args=(--loop asyncio)
if { want junction-asgi || want junction-wsgi; } && "$junction_python" -c 'import uvloop' 2>/dev/null; then
  junction_loop_args=(--loop uvloop)
fi

# --- servers --------------------------------------------------------------------------------
results="$root/bench/results/http2-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
declare -A pid=() port=() desc=()
trap stop_all_servers EXIT
trap 'exit 130' INT TERM
for name in "${servers[@]}"; do port[$name]="$(free_port)"; done

jargs=(--io-threads 1 --http 2 --no-access-log --log-level warning --chdir "$app_dir")
# Every stream h2load keeps open may wait for a WSGI thread: past --backlog they would get 503.
backlog=$((connections * streams * 2))
for name in junction-asgi junction-wsgi junction-asgi-baseline junction-wsgi-baseline; do
  want "$name" || continue
  bin="$junction" who=junction extra=()
  if [[ "$name" == *-baseline ]]; then bin="$baseline" who=junction-baseline extra=("${baseline_args[@]}"); fi
  case "$name" in
    junction-asgi*)
      start_server "$name" "$who ASGI (1 I/O thread, ${junction_loop_args[-1]})" "$app_dir" \
        env -u VIRTUAL_ENV "$bin" --bind "127.0.0.1:${port[$name]}" "${extra[@]}" "${jargs[@]}" \
        "${junction_loop_args[@]}" asgi:asgi_app:app
      ;;
    junction-wsgi*)
      start_server "$name" "$who WSGI (1 I/O thread, $threads threads)" "$app_dir" \
        env -u VIRTUAL_ENV "$bin" --bind "127.0.0.1:${port[$name]}" "${extra[@]}" "${jargs[@]}" \
        --threads "$threads" --backlog "$backlog" app:app
      ;;
  esac
done
gargs=(--host 127.0.0.1 --http 2 --workers 1 --runtime-threads 1 --no-access-log --log-level warning --working-dir "$app_dir")
want granian-asgi && start_server granian-asgi "granian $GRANIAN_VERSION ASGI (1 worker, uvloop)" "$app_dir" \
  "$venv/bin/granian" --interface asgi --port "${port[granian-asgi]}" "${gargs[@]}" --loop uvloop asgi_app:app
want granian-wsgi && start_server granian-wsgi "granian $GRANIAN_VERSION WSGI (1 worker, $threads threads)" "$app_dir" \
  "$venv/bin/granian" --interface wsgi --port "${port[granian-wsgi]}" "${gargs[@]}" \
  --blocking-threads "$threads" app:app
want hypercorn-asgi && start_server hypercorn-asgi "hypercorn $HYPERCORN_VERSION ASGI (1 worker, uvloop)" "$app_dir" \
  "$venv/bin/hypercorn" --bind "127.0.0.1:${port[hypercorn-asgi]}" --workers 1 \
  --worker-class uvloop --keep-alive 5 --log-level warning asgi_app:app
if want nginx; then
  cat >"$results/nginx.conf" <<CONF
worker_processes 1;
master_process off;
daemon off;
pid $results/nginx.pid;
error_log $results/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000000;
  server {
    listen 127.0.0.1:${port[nginx]} http2;
    location / { default_type text/plain; return 200 "Hello, world!\n"; }
  }
}
CONF
  start_server nginx "nginx $(nginx -v 2>&1 | sed 's|.*/||') (static return 200)" "$results" \
    nginx -e "$results/nginx-error.log" -c "$results/nginx.conf"
fi

for name in "${servers[@]}"; do
  wait_ready "$name" "http://127.0.0.1:${port[$name]}/" "$expected_body" --http2-prior-knowledge
done

# --- runs -----------------------------------------------------------------------------------
declare -A rps=() cpu=() util=()
failures=""
run_h2load() { # NAME SECONDS OUTFILE: sets last_rps, last_cpu (server CPU µs/request), last_util (%)
  local name="$1" seconds="$2" out="$3" before after ok failed
  before="$(counters "${pid[$name]}")"
  taskset -c "$client_cpu" timeout $((seconds + 20)) h2load -t1 -c"$connections" -m"$streams" \
    -D "$seconds" "http://127.0.0.1:${port[$name]}/" >"$out" 2>&1 || die "h2load against $name failed ($out)"
  after="$(counters "${pid[$name]}")"
  kill -0 "${pid[$name]}" 2>/dev/null || die "$name died during the run (log: $results/$name.log)"
  read -r ok failed < <(awk '/^requests:/ { print $8, $10 + $12 }' "$out")
  # Requests/sec counts only successes (h2load's own figure counts failed ones too).
  last_rps="$(awk '/^finished in/ { t = $3 + 0 } /^requests:/ { ok = $8 } END { if (t > 0) printf "%.0f", ok / t }' "$out")"
  [[ -n "$last_rps" && "${ok:-0}" -gt 0 ]] || die "no requests done in $out"
  if ((failed > 0)); then
    log "warning: $name: $failed requests failed or errored ($out)"
    failures+="$name $failed ($(basename "$out")), "
  fi
  read -r last_cpu last_util < <(awk -v a="$before" -v b="$after" -v n="$ok" -v hz="$clk_tck" -v s="$seconds" \
    'BEGIN { split(a, x, " "); split(b, y, " "); t = (y[1] - x[1] + y[2] - x[2]) / hz;
      printf "%.2f %.0f\n", t * 1e6 / n, t / s * 100 }')
}
busy_before="$(busy_percent)"
((busy_before <= 10)) || log "warning: the machine is already ${busy_before}% busy; the numbers will be noisy"
log "results in ${results#"$root"/}; about $(((warmup + runs * duration) * ${#servers[@]}))s of load"
for name in "${servers[@]}"; do run_h2load "$name" "$warmup" "$results/$name-warmup.txt"; done
for i in $(seq "$runs"); do
  for name in "${servers[@]}"; do
    log "run $i/$runs: $name (${duration}s)"
    run_h2load "$name" "$duration" "$results/$name-$i.txt"
    rps[$name]+="$last_rps " cpu[$name]+="$last_cpu " util[$name]+="$last_util "
  done
done
stop_all_servers

# --- report ---------------------------------------------------------------------------------
declare -A med=()
for name in "${servers[@]}"; do med[$name]="$(median <<<"${rps[$name]}")"; done
{
  echo "Machine: $(nproc) cores, $(cpu_model); servers on CPU $server_cpu, h2load on CPU $client_cpu."
  echo "Load: h2load -t1 -c$connections -m$streams -D ${duration}s, h2c prior knowledge, GET / of examples/hello (14-byte body); ${warmup}s warm-up each; $({ h2load --version 2>&1 || true; } | head -1)."
  versions=()
  if want junction-asgi || want junction-wsgi; then junction_versions junction "$junction"; fi
  if [[ -n "${baseline:-}" ]]; then junction_versions junction-baseline "$baseline" "$baseline"; fi
  if want granian-asgi || want granian-wsgi || want hypercorn-asgi; then
    versions+=("granian $GRANIAN_VERSION, hypercorn $HYPERCORN_VERSION, uvloop $UVLOOP_VERSION on Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())') ($venv/bin/python)")
  fi
  if ((${#versions[@]})); then
    joined="$(printf '%s; ' "${versions[@]}")"
    echo "Versions: ${joined%; }."
  fi
  echo
  echo "| server $(runs_header)| median req/s | CPU µs/req | core use |"
  echo "| --- $(runs_rule)| ---: | ---: | ---: |"
  for name in "${servers[@]}"; do
    # shellcheck disable=SC2086
    row "${desc[$name]}" ${rps[$name]} "**${med[$name]}**" "$(median <<<"${cpu[$name]}")" "$(median <<<"${util[$name]}")%"
  done
  echo
  for peer in granian-asgi hypercorn-asgi nginx junction-asgi-baseline; do ratio_line junction-asgi "$peer"; done
  for peer in granian-wsgi nginx junction-wsgi-baseline; do ratio_line junction-wsgi "$peer"; done
  if [[ -n "$failures" ]]; then
    echo
    echo "Warning: requests failed or errored (not counted in req/s): ${failures%, }."
  fi
  if ((busy_before > 10)); then
    echo
    echo "Warning: before the runs the machine was already ${busy_before}% busy (other processes); the numbers are suspect."
  fi
} | tee "$results/summary.md"
write_rows_tsv h2-asgi-hello junction-asgi granian-asgi hypercorn-asgi
write_rows_tsv h2-wsgi-hello junction-wsgi granian-wsgi
