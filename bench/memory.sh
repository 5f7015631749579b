#!/usr/bin/env bash
# Memory per idle connection, the performance issue's memory rows: the RSS a server adds for
# each idle HTTP/1.1 keep-alive connection and for each idle WebSocket, 10,000 of each, Junction
# against granian (the goal: at most granian's) and, for ASGI, uvicorn. One row at a time, one
# server at a time (each alone on the machine while it is measured):
#   * idle-keepalive-wsgi: examples/hello/app.py; junction-wsgi, granian-wsgi;
#   * idle-keepalive-asgi: examples/hello/asgi_app.py; junction-asgi, granian-asgi, uvicorn-asgi;
#   * websocket-asgi: bench/apps/ws_idle.py (accepts every WebSocket, echoes its messages, else
#     waits in receive() until the client leaves); junction-asgi, granian-asgi, uvicorn-asgi.
#
#   bash bench/memory.sh            # N = 10,000 connections per server and row (about 1 min)
#   bash bench/memory.sh --quick    # smoke check: N = 1,000
#   BENCH_ROWS=websocket-asgi BENCH_SERVERS="junction granian" bash bench/memory.sh
#   JUNCTION_BIN=build/other/junction bash bench/memory.sh
#   JUNCTION_BASELINE_BIN=/work/baseline/junction bash bench/memory.sh   # an old build too
#
# Method, per server and row: the server starts alone, pinned with `taskset -c
# $BENCH_SERVER_CPU` (default 0), and answers one GET / (curl, the readiness check). Then
# bench/memory_client.py, one asyncio process (uvloop) on `taskset -c $BENCH_CLIENT_CPU`
# (default 1):
#   1. makes one warm-up exchange of the row's kind on a connection it then closes, and reads
#      the RSS (VmRSS of /proc/PID/status) of every process of the server's group once it is
#      stable (two samples 1 s apart within 1 %): "before";
#   2. opens N connections in batches of $BENCH_MEMORY_BATCH (500; each batch's exchanges all
#      done before the next starts, so no listen backlog overflows and no server refuses one),
#      each doing one exchange and then staying open and idle: for keep-alive, `GET /
#      HTTP/1.1` and the whole response read; for WebSockets, the handshake (no extensions,
#      so no compression state), one text message and its echo (pings the server sends later
#      are answered);
#   3. reads the RSS once stable again, "after", and checks that all N connections are still
#      open (none closed by an idle timeout) and held by one process of the group.
# The figure: (after - before) / N, in KiB per connection, for the process that holds the
# connections: the one process serving, which is the whole server for junction and uvicorn
# (one process each), and for granian its worker, not its master (a Python process that
# supervises the worker, holds no connection and does not grow with them). The report also
# gives the whole group's RSS before and after, master included. Each server is measured alone,
# so one server's memory cannot crowd another's. Every phase has a time limit
# ($BENCH_MEMORY_PHASE_TIMEOUT, 30 s: a batch, the RSS settling); the client ends with a line
# saying which phase overran, or which server refused, answered wrongly or closed
# connections, and the script stops there.
#
# Fairness, for every server: one process serving (plus granian's master), on one core, access
# logs off, error logs at warning to files, RLIMIT_NOFILE raised to 65,536 (or N + 1,024) for
# the servers and the client alike, and every limit that would close or refuse idle
# connections raised past N:
#   * junction: --io-threads 1 --no-access-log --log-level warning --timeout-keep-alive 3600;
#     WSGI: --threads $BENCH_THREADS (8) and --backlog N + 1,024 (requests waiting for a
#     thread: with its default of 256 a batch of 500 requests arriving at once gets 503s);
#     ASGI: --loop uvloop (when it imports in Junction's venv, as for the peers) and
#     --limit-concurrency N + 1,024 (its default of 1,000 counts open WebSockets); VIRTUAL_ENV
#     unset.
#   * granian: --workers 1 --runtime-threads 1 --http 1 --no-access-log --log-level warning;
#     WSGI: --blocking-threads 8; ASGI: --loop uvloop. Two of its limits apply to idle
#     connections: --backpressure (default backlog/workers = 1,024) is a semaphore each
#     accepted connection holds for its whole life, so the 1,025th connection would wait
#     unaccepted: raised to N + 1,024; and hyper's header-read timer, which also times an idle
#     keep-alive connection between requests: --http1-header-read-timeout set to its maximum,
#     60,000 ms. So a keep-alive row must read granian's RSS within 60 s of its first
#     connection (at N = 10,000 it takes about 3 s; the client checks none was closed).
#   * uvicorn[standard]: --workers 1 --http httptools --loop uvloop --lifespan on
#     --no-access-log --log-level warning --timeout-keep-alive 3600, --limit-concurrency not
#     set (no limit); --ws auto, which is websockets' sans-I/O implementation
#     (websockets-sansio) with websockets installed; it pings every WebSocket each 20 s
#     (--ws-ping-interval), and the client answers.
# With JUNCTION_BASELINE_BIN (an older Junction build), junction-wsgi-baseline and
# junction-asgi-baseline run that binary with the same flags right after Junction in each row,
# and the report adds the ratio of Junction's figure to the baseline's.
#
# The report, bench/results/memory-<timestamp>/summary.md: per row, each server's RSS before
# and after (KiB), KiB per connection, the process measured and the whole group, then
# Junction's ratio to each peer's KiB per connection (lower is better; the issue's goal is
# junction / granian <= 1.0); the versions and the interpreter of each server. memory.tsv,
# beside it, has a line per row and server (row, server, rss_before_kib, rss_after_kib,
# kib_per_conn, connections) for bench/plot.py (docs/img/bench-memory.png). A directory per row
# keeps the server logs, their command lines and the client's log.
#
# Environment: BENCH_MEMORY_CONNECTIONS (N, default 10000; --quick: 1000),
# BENCH_MEMORY_BATCH (default 500), BENCH_MEMORY_PHASE_TIMEOUT (s, default 30), BENCH_THREADS
# (WSGI, default 8), BENCH_SERVER_CPU, BENCH_CLIENT_CPU, BENCH_ROWS (default
# "idle-keepalive-wsgi idle-keepalive-asgi websocket-asgi"), BENCH_SERVERS (default "junction
# granian uvicorn"; each row takes those of its interface), BENCH_PYTHON (default
# /usr/bin/python3), JUNCTION_BIN (another installed `junction` to measure instead; then
# nothing is built), JUNCTION_BASELINE_BIN and JUNCTION_BASELINE_ARGS (as bench/app.sh). The
# peers (granian, uvicorn[standard] with httptools and websockets, uvloop; pinned in
# bench/common.sh) are installed into .tools/bench-venv, which also runs the client.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
# shellcheck source=bench/common.sh
source bench/common.sh

quick=0
for arg in "$@"; do [[ "$arg" != --quick ]] || quick=1; done
bench_options "$@"
if ((quick)); then default_connections=1000; else default_connections=10000; fi
connections="${BENCH_MEMORY_CONNECTIONS:-$default_connections}"
batch="${BENCH_MEMORY_BATCH:-500}"
phase_timeout="${BENCH_MEMORY_PHASE_TIMEOUT:-30}"
threads="${BENCH_THREADS:-8}"
[[ "$connections" =~ ^[1-9][0-9]*$ ]] || die "BENCH_MEMORY_CONNECTIONS must be a positive number, not '$connections'"
[[ "$batch" =~ ^[1-9][0-9]*$ ]] || die "BENCH_MEMORY_BATCH must be a positive number, not '$batch'"
[[ "$phase_timeout" =~ ^[1-9][0-9]*$ ]] || die "BENCH_MEMORY_PHASE_TIMEOUT must be a whole number of seconds, not '$phase_timeout'"
keep_alive=3600                    # s: no idle connection may time out while it is measured
limit=$((connections + 1024)) # junction's --backlog and --limit-concurrency, granian's --backpressure
all_rows="idle-keepalive-wsgi idle-keepalive-asgi websocket-asgi"
all_servers="junction granian uvicorn"
pick_rows_and_servers "$all_rows" "$all_servers"

# ROW: sets what the row runs: interface, mode (the client's exchange), app_dir, target
# (MODULE:ATTR in app_dir), ready (the body of GET /), what (the log's words for its
# connections), load (the report's description).
row_settings() {
  case "$1" in
    idle-keepalive-wsgi)
      interface=wsgi mode=http app_dir="$root/examples/hello" target=app:app ready="Hello, world!"
      what="idle keep-alive connections"
      load="idle HTTP/1.1 keep-alive connections, each after one GET / of examples/hello/app.py (WSGI, 14-byte body)"
      ;;
    idle-keepalive-asgi)
      interface=asgi mode=http app_dir="$root/examples/hello" target=asgi_app:app ready="Hello, world!"
      what="idle keep-alive connections"
      load="idle HTTP/1.1 keep-alive connections, each after one GET / of examples/hello/asgi_app.py (ASGI, 14-byte body)"
      ;;
    websocket-asgi)
      interface=asgi mode=ws app_dir="$root/bench/apps" target=ws_idle:app ready=ready
      what="idle WebSockets"
      load="idle WebSockets of bench/apps/ws_idle.py (ASGI), each after one text message and its echo"
      ;;
  esac
}

# --- tools and peers ------------------------------------------------------------------------
# shellcheck source=scripts/debian_packages.sh
source scripts/debian_packages.sh
ensure_debian_packages curl util-linux python3-venv
for tool in curl taskset setsid timeout; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done
ensure_bench_venv .spec-memory "granian==$GRANIAN_VERSION" "uvicorn[standard]==$UVICORN_VERSION" \
  "httptools==$HTTPTOOLS_VERSION" "uvloop==$UVLOOP_VERSION" "websockets==$WEBSOCKETS_VERSION"
if want junction; then ensure_bench_junction; fi
for r in "${rows[@]}"; do
  row_settings "$r"
  (cd "$app_dir" && "$venv/bin/python" -c "import ${target%%:*}, uvloop, httptools, websockets") ||
    die "$venv cannot import the app $app_dir/${target%%:*}.py or the peers' modules"
done

pick_junction_loop

# Descriptors for N connections (and the client's own), for the servers and the client, who
# inherit this shell's limit; root may raise the hard limit too.
nofile=$((connections + 1024 > 65536 ? connections + 1024 : 65536))
ulimit -n "$nofile" 2>/dev/null || { ulimit -Hn "$nofile" 2>/dev/null && ulimit -n "$nofile"; } ||
  ulimit -n "$(ulimit -Hn)" || true
if [[ "$(ulimit -n)" != unlimited ]] && (($(ulimit -n) < connections + 256)); then
  die "RLIMIT_NOFILE is $(ulimit -n) (hard $(ulimit -Hn)), under the $((connections + 256)) descriptors $connections connections need"
fi

# --- servers --------------------------------------------------------------------------------
out="$root/bench/results/memory-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
declare -A pid=() port=() desc=() med=() row_servers=() row_load=()
trap stop_all_servers EXIT
trap 'exit 130' INT TERM

start() { # NAME: start that server for the row's interface, app directory and target
  local name="$1" args
  case "$name" in
    junction-*)
      local bin="$junction" extra=()
      [[ "$name" != *-baseline ]] || bin="$baseline" extra=("${baseline_args[@]}")
      if [[ "$interface" == wsgi ]]; then
        desc[$name]="$name (1 I/O thread, $threads WSGI threads)"
        args=(--threads "$threads" --backlog "$limit" "wsgi:$target")
      else
        desc[$name]="$name (1 I/O thread, $junction_loop)"
        args=(--loop "$junction_loop" --limit-concurrency "$limit" "asgi:$target")
      fi
      start_server "$name" "${desc[$name]}" "$app_dir" \
        env -u VIRTUAL_ENV "$bin" --bind "127.0.0.1:${port[$name]}" "${extra[@]}" --io-threads 1 \
        --no-access-log --log-level warning --timeout-keep-alive "$keep_alive" --chdir "$app_dir" \
        "${args[@]}"
      ;;
    granian-*)
      if [[ "$interface" == wsgi ]]; then
        desc[$name]="$name (1 worker, $threads blocking threads)"
        args=(--blocking-threads "$threads")
      else
        desc[$name]="$name (1 worker, uvloop)"
        args=(--loop uvloop)
      fi
      start_server "$name" "${desc[$name]}" "$app_dir" \
        "$venv/bin/granian" --interface "$interface" --host 127.0.0.1 --port "${port[$name]}" \
        --http 1 --workers 1 --runtime-threads 1 "${args[@]}" --backpressure "$limit" \
        --http1-header-read-timeout 60000 --no-access-log --log-level warning \
        --working-dir "$app_dir" "$target"
      ;;
    uvicorn-asgi)
      start_server "$name" "$name (httptools, uvloop, websockets-sansio, 1 worker)" "$app_dir" \
        "$venv/bin/uvicorn" --host 127.0.0.1 --port "${port[$name]}" --workers 1 \
        --http httptools --loop uvloop --ws auto --lifespan on --no-access-log \
        --log-level warning --timeout-keep-alive "$keep_alive" --app-dir "$app_dir" "$target"
      ;;
  esac
}

# NAME: the client against that server (started, ready) in the row $row; appends its line to
# memory.tsv and keeps the report's figures under "ROW NAME" (kib: KiB per connection).
declare -A before=() after=() group=() process=() kib=()
measure() {
  local name="$1" line b a gb ga spid pname nprocs
  local client_log="$results/$name-client.log"
  local limit_s=$(((connections / batch + 4) * phase_timeout + 30))
  log "$name: $connections $what"
  line="$(taskset -c "$client_cpu" timeout "$limit_s" "$venv/bin/python" "$root/bench/memory_client.py" \
    --port "${port[$name]}" --pgid "${pid[$name]}" --mode "$mode" --connections "$connections" \
    --batch "$batch" --phase-timeout "$phase_timeout" 2>"$client_log")" || {
    tail -n 5 "$client_log" >&2
    kill -0 "${pid[$name]}" 2>/dev/null || tail -n 20 "$results/$name.log" >&2
    die "$name: the client failed or overran ${limit_s}s (its log: $client_log; the server's: $results/$name.log)"
  }
  sed 's/^/    /' "$client_log" >&2
  IFS=$'\t' read -r b a gb ga spid pname nprocs <<<"$line"
  [[ "$a" =~ ^[0-9]+$ && "$b" =~ ^[0-9]+$ ]] || die "$name: the client printed '$line'"
  local key="$row $name"
  before[$key]="$b" after[$key]="$a" process[$key]="$pname (pid $spid)"
  group[$key]="$gb → $ga ($nprocs process$( ((nprocs == 1)) || echo es))"
  kib[$key]="$(awk -v a="$a" -v b="$b" -v n="$connections" 'BEGIN { printf "%.2f", (a - b) / n }')"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$name" "$b" "$a" "${kib[$key]}" "$connections" >>"$out/memory.tsv"
}

# --- rows -----------------------------------------------------------------------------------
printf 'row\tserver\trss_before_kib\trss_after_kib\tkib_per_conn\tconnections\n' >"$out/memory.tsv"
log "results in ${out#"$root"/}; $connections connections per server and row"
report_rows=()
for row in "${rows[@]}"; do
  row_settings "$row"
  results="$out/$row"
  mkdir -p "$results"
  servers=()
  for s in junction granian uvicorn; do
    if want "$s" && [[ "$s" != uvicorn || "$interface" == asgi ]]; then servers+=("$s-$interface"); fi
  done
  add_baselines servers "junction-$interface"
  ((${#servers[@]})) || continue
  for name in "${servers[@]}"; do
    port[$name]="$(free_port)"
    start "$name"
    wait_ready "$name" "http://127.0.0.1:${port[$name]}/" "$ready"
    measure "$name"
    stop_server "$name"
  done
  report_rows+=("$row")
  row_servers[$row]="${servers[*]}" row_load[$row]="$load"
done

# --- report ---------------------------------------------------------------------------------
versions=()
if want junction; then
  junction_versions junction "$junction"
  if [[ "$junction_loop" == uvloop ]]; then
    versions+=("Junction's uvloop $("$junction_python" -c 'import uvloop; print(uvloop.__version__)') (with $junction_python)")
  fi
fi
if [[ -n "${baseline:-}" ]]; then junction_versions junction-baseline "$baseline" "$baseline"; fi
if want granian; then versions+=("granian $GRANIAN_VERSION"); fi
if want uvicorn; then
  versions+=("uvicorn $UVICORN_VERSION + httptools $HTTPTOOLS_VERSION + websockets $WEBSOCKETS_VERSION")
fi
versions+=("uvloop $UVLOOP_VERSION; peers' Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())') (${peer_python_exe:-}); the client on the same")
model="$(cpu_model)"
thp="$(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || true)"

{
  echo "Machine: $(nproc) cores, ${model:-unknown CPU}, $(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) of memory, kernel $(uname -r), transparent huge pages: ${thp:-?}; servers on CPU $server_cpu, the client on CPU $client_cpu."
  joined="$(printf '%s; ' "${versions[@]}")"
  echo "Versions: ${joined%; }."
  echo "Connections: $connections per server and row, opened $batch at a time; RSS is VmRSS, read once stable (two samples 1 s apart within 1 %)."
  for row in "${report_rows[@]}"; do
    read -r -a servers <<<"${row_servers[$row]}"
    echo
    echo "## $row"
    echo
    echo "$connections ${row_load[$row]}."
    echo
    echo "| server | process measured | RSS before (KiB) | RSS after (KiB) | KiB per connection | whole group before → after (KiB) |"
    echo "| --- | --- | ---: | ---: | ---: | --- |"
    med=()
    for name in "${servers[@]}"; do
      key="$row $name" med[$name]="${kib[$row $name]}"
      row "${desc[$name]}" "${process[$key]}" "${before[$key]}" "${after[$key]}" "**${med[$name]}**" "${group[$key]}"
    done
    junction_name=""
    for name in "${servers[@]}"; do [[ "$name" != junction-?sgi ]] || junction_name="$name"; done
    if [[ -n "$junction_name" ]] && ((${#servers[@]} > 1)); then
      echo
      for name in "${servers[@]}"; do
        [[ "$name" == "$junction_name" ]] || ratio_line "$junction_name" "$name"
      done
      echo
      echo "(KiB per connection, Junction's over the other's: lower is better; the goal is junction / granian <= 1.0.)"
    fi
  done
} | tee "$out/summary.md"
