#!/usr/bin/env bash
# Static file benchmark, HTTP/1.1 keep-alive: Junction's --static against nginx serving the same
# directory, both on one core, for a 1 KiB file and a 1 MiB file.
#
#   bash bench/static.sh              # 3 runs of 10 s per server and file (about 2 min of load)
#   bash bench/static.sh --quick      # smoke check: 1 run of 3 s per server and file
#   BENCH_DURATION=2 BENCH_RUNS=1 BENCH_WARMUP=1 bash bench/static.sh
#   JUNCTION_BIN=.venv/bin/junction bash bench/static.sh   # an installed junction, nothing built
#   JUNCTION_BASELINE_BIN=/work/baseline/junction bash bench/static.sh   # old build too
#
# Files: 1k.bin (1024 bytes) and 1m.bin (1048576 bytes) of random bytes, made for every run in a
# temporary directory (mktemp -d, removed at exit; never in the repository), in its www/s/,
# which both servers serve at /s/ (plus ready.txt, "ok", to see that a server is up).
#
# Servers (one process, one I/O thread or worker, pinned with `taskset -c $BENCH_SERVER_CPU`,
# default 0; access logs off; error logs at warning into the results directory):
#   * junction: --bind 127.0.0.1:PORT --static /s=DIR --io-threads 1 --no-access-log
#     --log-level warning, and no APP (--static alone is something to serve). Per request it
#     opens the file (openat2 beneath the root); it would look for .br and .gz siblings for a
#     request with Accept-Encoding, which wrk does not send; a file up to 64 KiB goes out with
#     pread + write, a larger one with sendfile(2).
#   * nginx (Debian nginx-light): worker_processes 1, master_process off, daemon off, root
#     DIR's parent, sendfile on, tcp_nopush on, keepalive_requests 1000000 (it keeps wrk's
#     connections as Junction does), access_log off, a `types` block of its own (it does not
#     read /etc/nginx), no open_file_cache (the default: it opens the file for every request,
#     as Junction does); config, pid and temp paths in the temporary directory, run as the
#     current user.
# Both send status, Date, Server, Content-Type, Content-Length, Last-Modified, ETag and
# Accept-Ranges; each server's response head is saved per file.
#
# Check, before any timing: curl fetches each file from each server, which must answer 200 with
# a body whose sha256 is the file's; otherwise the script stops and says which.
#
# Method: as bench/run.sh (bench/common.sh's run_wrk). Load: wrk -t1 -c$BENCH_CONNECTIONS
# -d${BENCH_DURATION}s on `taskset -c $BENCH_CLIENT_CPU` (default 1), HTTP/1.1 keep-alive (wrk's
# default), GET /s/FILE. Each (file, server) gets a warm-up run; then the measured runs go
# round the files and servers (1 KiB: junction, nginx; 1 MiB: junction, nginx; then run 2)
# so drift on this noisy VM hits both alike. The report gives, per file and server, each run's
# requests/sec, the median, MB/s (the median req/s times the bytes of one response, head and
# body, in 10^6 bytes: what wrk reads), the server's CPU time per request and its use of its
# core (from /proc), how busy wrk's core was, and Junction's ratio to nginx (of medians). A
# server well under 100% of its core was not the limit (wrk may be: its core near 100%), and
# the report says so; it also warns when other processes used the server's core during a run,
# when wrk saw errors or non-2xx answers, when the machine was busy before the runs, and when
# Junction's log or nginx's error log has anything in it.
# With JUNCTION_BASELINE_BIN (an older Junction build with --static), a second Junction,
# "junction-baseline", runs that binary with the same flags right after junction in every
# round, and the report adds the ratio junction / junction-baseline.
#
# Environment: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 3), BENCH_RUNS
# (default 3), BENCH_CONNECTIONS (default 32), BENCH_SERVER_CPU / BENCH_CLIENT_CPU (0 / 1),
# JUNCTION_BIN (another installed `junction` to measure; by default this checkout is
# pip-installed into .tools/bench-venv, see bench/common.sh), JUNCTION_BASELINE_BIN (see
# above; never built), JUNCTION_BASELINE_ARGS (extra flags for the baseline only). Raw wrk
# output, the nginx config, the server logs, the response heads and summary.md go to
# bench/results/static-<timestamp>/ (not committed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
# shellcheck source=bench/common.sh
source bench/common.sh

bench_options "$@"
connections="${BENCH_CONNECTIONS:-32}"
servers=(junction nginx)
add_baselines servers junction
sizes=(1KiB 1MiB)
declare -A file_of=([1KiB]=1k.bin [1MiB]=1m.bin) bytes_of=([1KiB]=1024 [1MiB]=1048576)

for tool in wrk curl taskset setsid sha256sum; do command -v "$tool" >/dev/null || die "$tool is missing"; done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
[[ -x "$nginx_bin" ]] || die "no nginx (Debian nginx-light) at $nginx_bin"
ensure_bench_junction
declare -A binary_of=([junction]="$junction" [junction-baseline]="${baseline:-}")
for name in junction junction-baseline; do
  bin="${binary_of[$name]}"
  [[ -n "$bin" ]] || continue
  junction_help="$("$bin" --help 2>&1 || true)" # not piped into grep -q: SIGPIPE with pipefail
  [[ "$junction_help" == *--static* ]] || die "$bin has no --static option (a build from before static files?)"
done

results="$root/bench/results/static-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
tmp="$(mktemp -d)"
declare -A pid=() port=() desc=()

cleanup() {
  stop_all_servers
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- files ----------------------------------------------------------------------------------
www="$tmp/www" # nginx's root; Junction serves $www/s at /s, so both answer /s/FILE
mkdir -p "$www/s"
for size in "${sizes[@]}"; do
  head -c "${bytes_of[$size]}" /dev/urandom >"$www/s/${file_of[$size]}"
done
printf ok >"$www/s/ready.txt"

# --- servers --------------------------------------------------------------------------------
for name in "${servers[@]}"; do port[$name]="$(free_port)"; done
for name in junction junction-baseline; do
  bin="${binary_of[$name]}" extra=()
  [[ -n "$bin" ]] || continue
  [[ "$name" == junction ]] || extra=("${baseline_args[@]}")
  start_server "$name" "$name (--static, 1 I/O thread)" "$tmp" \
    env -u VIRTUAL_ENV "$bin" --bind "127.0.0.1:${port[$name]}" "${extra[@]}" --static "/s=$www/s" \
    --io-threads 1 --no-access-log --log-level warning
done

ng="$tmp/nginx"
mkdir -p "$ng"
nginx_version="$("$nginx_bin" -v 2>&1 | sed 's|.*/||')"
temp_paths="$(nginx_temp_paths "$nginx_bin" "$ng")"$'\n'
cat >"$ng/nginx.conf" <<CONF
# Written by bench/static.sh: one process, no access log, the files under $www/s at /s/.
worker_processes 1;
master_process off;
daemon off;
pid $ng/nginx.pid;
error_log $results/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
$temp_paths  types {
    text/plain txt;
    text/html html;
    application/octet-stream bin;
  }
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port[nginx]};
    root $www;
    location /s/ { }
    location / { return 404; }
  }
}
CONF
cp "$ng/nginx.conf" "$results/nginx.conf"
start_server nginx "nginx $nginx_version (sendfile, 1 worker)" "$ng" \
  "$nginx_bin" -p "$ng" -e "$results/nginx-error.log" -c "$ng/nginx.conf"

for name in "${servers[@]}"; do wait_ready "$name" "http://127.0.0.1:${port[$name]}/s/ready.txt" ok; done

# --- check ----------------------------------------------------------------------------------
# Each file from each server: 200 and the file's sha256. Sets response_bytes[SIZE/SERVER], the
# bytes of one response (head + body) for the MB/s column.
declare -A response_bytes=()
for size in "${sizes[@]}"; do
  file="$www/s/${file_of[$size]}"
  want_sum="$(sha256sum <"$file" | awk '{ print $1 }')"
  for name in "${servers[@]}"; do
    url="http://127.0.0.1:${port[$name]}/s/${file_of[$size]}"
    head_file="$results/$name-$size-response-head.txt"
    status="$(curl -sS --max-time 10 -D "$head_file" -o "$tmp/fetched" -w '%{http_code}' "$url" 2>&1)" ||
      die "check: curl could not fetch $url from $name: $status (log: $results/$name.log)"
    [[ "$status" == 200 ]] || die "check: $name answered $url with status $status, not 200 (head: $head_file)"
    got_sum="$(sha256sum <"$tmp/fetched" | awk '{ print $1 }')"
    [[ "$got_sum" == "$want_sum" ]] ||
      die "check: $name sent a different $size file for $url: sha256 $got_sum ($(wc -c <"$tmp/fetched") bytes), want $want_sum (${bytes_of[$size]} bytes)"
    response_bytes[$size/$name]=$(($(wc -c <"$head_file") + ${bytes_of[$size]}))
  done
done
rm -f "$tmp/fetched"
log "check: every server sent every file intact (sha256)"

# --- runs -----------------------------------------------------------------------------------
declare -A rps=() cpu=() util=() wrk_core=()
run_files=() disturbed=""
# CPU [SOFTIRQ]: its user, nice and system ticks so far (/proc/stat), with SOFTIRQ also irq and
# softirq (loopback TCP's receive work, which no process is charged for).
core_busy() { awk -v c="cpu$1" -v all="${2:-}" '$1 == c { print $2 + $3 + $4 + (all ? $7 + $8 : 0) }' /proc/stat; }
busy_before="$(busy_percent)"
((busy_before <= 10)) || log "warning: the machine is already ${busy_before}% busy; the numbers will be noisy"
log "results in ${results#"$root"/}; about $(((warmup + runs * duration) * ${#sizes[@]} * ${#servers[@]}))s of load"
for size in "${sizes[@]}"; do
  for name in "${servers[@]}"; do
    log "warm-up $size $name (${warmup}s)"
    run_wrk "$name" "$warmup" "$results/$name-$size-warmup.txt" "/s/${file_of[$size]}"
  done
done
for i in $(seq "$runs"); do
  for size in "${sizes[@]}"; do
    for name in "${servers[@]}"; do
      log "run $i/$runs: $size $name (${duration}s)"
      out="$results/$name-$size-run$i.txt"
      server_a="$(core_busy "$server_cpu")" client_a="$(core_busy "$client_cpu" softirq)" time_a="${EPOCHREALTIME/,/.}"
      run_wrk "$name" "$duration" "$out" "/s/${file_of[$size]}"
      server_b="$(core_busy "$server_cpu")" client_b="$(core_busy "$client_cpu" softirq)" time_b="${EPOCHREALTIME/,/.}"
      # Of the wall time from before to after run_wrk (a little more than the run): the share of
      # the server's core that other processes used, and how busy wrk's core was (near 100%:
      # wrk, not the server, was the limit).
      read -r last_other last_client < <(awk -v s=$((server_b - server_a)) -v c=$((client_b - client_a)) \
        -v hz="$clk_tck" -v d="$duration" -v u="$last_util" -v ta="$time_a" -v tb="$time_b" 'BEGIN {
          w = tb - ta; o = (s / hz - u / 100 * d) / w * 100;
          printf "%.0f %.0f\n", (o > 0) ? o : 0, c / hz / w * 100 }')
      run_files+=("$out")
      rps[$size/$name]+="$last_rps " cpu[$size/$name]+="$last_cpu " util[$size/$name]+="$last_util "
      wrk_core[$size/$name]+="$last_client "
      ((last_other <= 5)) || disturbed+="$size $name run $i ${last_other}%, "
    done
  done
done
stop_all_servers

# --- report ---------------------------------------------------------------------------------
declare -A med=() mbps=()
for size in "${sizes[@]}"; do
  for name in "${servers[@]}"; do
    med[$size/$name]="$(median <<<"${rps[$size/$name]}")"
    mbps[$size/$name]="$(awk -v r="${med[$size/$name]}" -v b="${response_bytes[$size/$name]}" \
      'BEGIN { printf "%.1f", r * b / 1e6 }')"
  done
done
ratio() { # SIZE A B: "SIZE: **A / B = x.xx**" of the median req/s (and of MB/s), when both ran
  [[ -n "${med[$1/$2]:-}" && -n "${med[$1/$3]:-}" ]] || return 0
  awk -v s="$1" -v n="$2 / $3" -v a="${med[$1/$2]}" -v b="${med[$1/$3]}" -v ma="${mbps[$1/$2]}" \
    -v mb="${mbps[$1/$3]}" 'BEGIN { printf "%s: **%s = %.3f** (MB/s: %.3f)  \n", s, n, a / b, ma / mb }'
}
versions=()
junction_versions junction "$junction"
if [[ -n "${baseline:-}" ]]; then junction_versions junction-baseline "$baseline" "$baseline"; fi
versions="$(printf '%s, ' "${versions[@]}")"
versions="${versions%, }, nginx $nginx_version, wrk $({ wrk -v 2>&1 || true; } | head -1 | awk '{ print $2 }')"

{
  model="$(cpu_model)"
  echo "Machine: $(nproc) cores, ${model:-unknown CPU}, $(uname -r); servers on CPU $server_cpu, wrk on CPU $client_cpu."
  echo "Versions: $versions."
  echo "Files: 1k.bin (1024 bytes) and 1m.bin (1048576 bytes), random, in a temporary directory served at /s/ by both; each fetched from each server with curl and checked by sha256 before the runs."
  echo "Load: wrk -t1 -c$connections -d${duration}s, HTTP/1.1 keep-alive, GET /s/FILE; ${warmup}s warm-up each; $runs run(s) per file and server, alternating."
  echo
  echo "| file | server $(runs_header)| median req/s | MB/s | CPU µs/req | core use | wrk's core |"
  echo "| --- | --- $(runs_rule)| ---: | ---: | ---: | ---: | ---: |"
  for size in "${sizes[@]}"; do
    for name in "${servers[@]}"; do
      # shellcheck disable=SC2086
      row "$size" "${desc[$name]}" ${rps[$size/$name]} "**${med[$size/$name]}**" "${mbps[$size/$name]}" \
        "$(median <<<"${cpu[$size/$name]}")" "$(median <<<"${util[$size/$name]}")%" \
        "$(median <<<"${wrk_core[$size/$name]}")%"
    done
  done
  echo
  echo "MB/s: the median req/s times the bytes of one response (head + body; the heads differ a little"
  echo "between the servers), in 10^6 bytes. CPU µs/req: the server's CPU time (user + kernel) per"
  echo "request; core use: its CPU time over the run's wall time (neither counts softirq time); wrk's"
  echo "core: how busy CPU $client_cpu was, softirq included (near 100%: wrk was the limit). Medians."
  echo
  for size in "${sizes[@]}"; do
    ratio "$size" junction nginx
    ratio "$size" junction junction-baseline
  done
  for f in "${run_files[@]}"; do
    if grep -qE 'Non-2xx|Socket errors' "$f"; then
      echo
      echo "Warning: $(basename "$f" .txt): $(grep -E 'Non-2xx|Socket errors' "$f" | tr -s ' ' | paste -sd';')"
    fi
  done
  low=""
  for size in "${sizes[@]}"; do
    for name in "${servers[@]}"; do
      least="$(awk '{ m = $1; for (i = 2; i <= NF; i++) if ($i < m) m = $i; print m }' <<<"${util[$size/$name]}")"
      ((least >= 85)) || low+="$size $name $least%, "
    done
  done
  if [[ -n "$low" ]]; then
    echo
    echo "Warning: a server used under 85% of CPU $server_cpu in some run (least: ${low%, }): wrk was the limit (see wrk's core), or something else took the core."
  fi
  if [[ -n "$disturbed" ]]; then
    echo
    echo "Warning: other processes used CPU $server_cpu during some runs (${disturbed%, }); those runs are suspect."
  fi
  if ((busy_before > 10)); then
    echo
    echo "Warning: before the runs the machine was already ${busy_before}% busy (other processes); the numbers are suspect."
  fi
  for name in junction junction-baseline; do
    [[ -s "$results/$name.log" ]] || continue
    echo
    echo "Warning: $name's log (warning level and up) is not empty: $(wc -l <"$results/$name.log") line(s), the first: $(head -1 "$results/$name.log")"
  done
  if [[ -s "$results/nginx-error.log" ]]; then
    echo
    echo "Warning: nginx's error log is not empty: $(wc -l <"$results/nginx-error.log") line(s), the first: $(head -1 "$results/nginx-error.log")"
  fi
} | tee "$results/summary.md"
