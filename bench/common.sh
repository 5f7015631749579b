# shellcheck shell=bash
# Sourced by every bench/*.sh after it has set `root` (the repository): the options, the pinned
# peers and their venv, starting, pinning and stopping servers, a Junction baseline beside
# Junction, wrk runs going round the servers, the /proc counters, and the medians, ratios and
# warnings of the report. The caller sets `results` (a directory), `connections` and `servers`
# (an array), and declares the associative arrays `pid`, `port` and
# `desc` (and `rps`, `cpu`, `sys`, `csw`, `util` for wrk_rounds, `med` for ratio_line); `log`
# and `die` are defined here.
# The variables here are the callers' (set on one side, read on the other):
# shellcheck disable=SC2034,SC2154

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf '%s: %s\n' "$(basename "$0")" "$*" >&2
  exit 1
}

# --- options --------------------------------------------------------------------------------
server_cpu="${BENCH_SERVER_CPU:-0}" # the servers' core (taskset -c)
client_cpu="${BENCH_CLIENT_CPU:-1}" # the load generator's core

# Sets `duration`, `warmup` and `runs` from BENCH_DURATION (10 s), BENCH_WARMUP (3 s) and
# BENCH_RUNS (3); --quick makes it one run of 3 s; --help prints the script's header comment.
bench_options() {
  duration="${BENCH_DURATION:-10}"
  warmup="${BENCH_WARMUP:-3}"
  runs="${BENCH_RUNS:-3}"
  for arg in "$@"; do
    case "$arg" in
      --quick) duration=3 warmup=1 runs=1 ;;
      -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
      *) die "unknown argument '$arg' (try --help)" ;;
    esac
  done
}

# --- rows and servers -------------------------------------------------------------------------
# ALL_ROWS ALL_SERVERS (space-separated): sets the arrays `rows` and `wanted` from BENCH_ROWS
# and BENCH_SERVERS (default: all of them), and dies on a name not in the lists. want NAME: is
# that server in the run (a script with another list defines its own want).
pick_rows_and_servers() {
  local all_rows="$1" all_servers="$2" r s
  read -r -a rows <<<"${BENCH_ROWS:-$all_rows}"
  read -r -a wanted <<<"${BENCH_SERVERS:-$all_servers}"
  ((${#rows[@]})) || die "BENCH_ROWS is empty"
  ((${#wanted[@]})) || die "BENCH_SERVERS is empty"
  for r in "${rows[@]}"; do
    [[ " $all_rows " == *" $r "* ]] || die "unknown row '$r' in BENCH_ROWS (the rows: $all_rows)"
  done
  for s in "${wanted[@]}"; do
    [[ " $all_servers " == *" $s "* ]] || die "unknown server '$s' in BENCH_SERVERS (the servers: $all_servers)"
  done
}
want() { [[ " ${wanted[*]} " == *" $1 "* ]]; }

# Sets `junction_loop`, Junction's ASGI loop: uvloop when it imports in the venv Junction runs
# in (as for the peers), else asyncio's, with a warning. Needs ensure_bench_junction first.
pick_junction_loop() {
  junction_loop=asyncio
  want junction || return 0
  if "$junction_python" -c 'import uvloop' 2>/dev/null; then
    junction_loop=uvloop
  else
    log "warning: uvloop does not import with $junction_python; Junction runs on asyncio's loop"
  fi
}

# --- the peers ------------------------------------------------------------------------------
# Pinned peer versions (PyPI), the same for every script here; bump deliberately and note it in
# docs/benchmarks.md.
GRANIAN_VERSION=2.8.7
GUNICORN_VERSION=27.0.1
GUNICORN_H1C_VERSION=0.6.10
UVICORN_VERSION=0.54.0
HTTPTOOLS_VERSION=0.9.0
HYPERCORN_VERSION=0.18.0
UVLOOP_VERSION=0.23.0
WEBSOCKETS_VERSION=17.4 # uvicorn's WebSockets (bench/memory.sh)
# The frameworks of bench/real_apps.sh (Django 5.2 is the last line for Python 3.11; starlette
# is FastAPI's, pinned because its speed is most of FastAPI's).
DJANGO_VERSION=5.2.20
FLASK_VERSION=3.1.3
FASTAPI_VERSION=0.165.0
STARLETTE_VERSION=1.10.0
PYDANTIC_VERSION=2.14.4
MATPLOTLIB_VERSION=3.11.2 # bench/plot.py, for bench/all.sh

venv="$root/.tools/bench-venv"                  # the peers' venv, shared by every script here
peer_python="${BENCH_PYTHON:-/usr/bin/python3}" # the interpreter it is made with

# STAMP SPEC...: makes $venv with $peer_python when it is missing or was made with another
# interpreter, then pip-installs SPEC... into it unless the file $venv/STAMP already lists
# exactly them (a stamp per script: they share the venv). Sets `peer_python_exe`.
ensure_bench_venv() {
  local stamp="$1"
  shift
  [[ -x "$peer_python" ]] || die "no Python at $peer_python (set BENCH_PYTHON)"
  peer_python_exe="$("$peer_python" -c 'import sys; print(sys.executable)')"
  if [[ ! -x "$venv/bin/python" ]] || [[ "$(cat "$venv/.python" 2>/dev/null)" != "$peer_python_exe" ]] ||
    ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    log "creating $venv with $peer_python_exe"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$peer_python" -m venv "$venv"
    echo "$peer_python_exe" >"$venv/.python"
  fi
  if [[ "$(cat "$venv/$stamp" 2>/dev/null)" != "$*" ]]; then
    log "installing $* into $venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" >&2 ||
      die "could not install $* into $venv"
    echo "$*" >"$venv/$stamp"
  fi
}

# --- Junction and its baseline --------------------------------------------------------------
# JUNCTION_BASELINE_BIN=/path/to/an/older/junction: LIST NAME...: each Junction server NAME in
# the array named LIST gets a twin NAME-baseline right after it, which the caller starts with
# that binary and the same flags; it is measured in the same rounds, and the report adds the
# ratio NAME / NAME-baseline. Sets `baseline` (the binary, absolute; empty without the variable).
add_baselines() {
  local -n _baseline_list="$1"
  local item name twins=()
  shift
  baseline="${JUNCTION_BASELINE_BIN:-}"
  [[ -n "$baseline" ]] || return 0
  [[ "$baseline" == /* ]] || baseline="$root/$baseline"
  [[ -x "$baseline" ]] || die "no Junction binary at $baseline (JUNCTION_BASELINE_BIN)"
  for item in "${_baseline_list[@]}"; do
    twins+=("$item")
    for name in "$@"; do
      if [[ "$item" == "$name" ]]; then twins+=("$item-baseline"); fi
    done
  done
  ((${#twins[@]} > ${#_baseline_list[@]})) || log "warning: JUNCTION_BASELINE_BIN is set, but no Junction server is in the list"
  _baseline_list=("${twins[@]}")
}

# JUNCTION_BASELINE_ARGS: extra flags for the baseline only, split on spaces; an older build that
# embedded its interpreter needs `--venv .venv` to import uvloop. Sets `baseline_args`.
read -r -a baseline_args <<<"${JUNCTION_BASELINE_ARGS:-}"

# The Junction under test: $JUNCTION_BIN when set (any installed `junction` command), else this
# checkout pip-installed into $venv, the peers' venv, so that Junction and the peers run on one
# interpreter; build/bench is kept, so a second run rebuilds only what changed. scripts/setup.sh
# runs first (the Debian build packages). Sets `junction` (absolute) and `junction_python`.
ensure_bench_junction() {
  if [[ -n "${JUNCTION_BIN:-}" ]]; then
    junction="$JUNCTION_BIN"
    [[ "$junction" == /* ]] || junction="$root/$junction"
    [[ -x "$junction" ]] || die "no junction at $junction (JUNCTION_BIN)"
  else
    bash "$root/scripts/setup.sh" >&2
    local build_requirements
    mapfile -t build_requirements < <(sed 's/#.*//; /^[[:space:]]*$/d' "$root/requirements-build.txt")
    ensure_bench_venv .spec-junction-build "${build_requirements[@]}"
    log "installing this checkout's junction into $venv (build in build/bench)"
    # The symbol table is kept (not debug information: the code is the release build's), so
    # that perf names the functions (bench/observability.sh).
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps \
      --config-settings build-dir="$root/build/bench" --config-settings install.strip=false \
      --config-settings cmake.define.JUNCTION_KEEP_SYMBOLS=ON "$root" >&2 ||
      die "could not install junction into $venv"
    junction="$venv/bin/junction"
  fi
  junction_python="$(dirname "$junction")/python"
}

junction_version() { { "$1" --version 2>&1 || true; } | head -1 | sed 's/^junction //'; } # BINARY

# NAME BINARY [WHERE]: appends "NAME VERSION on Python X (interpreter)" to the array `versions`;
# for an older build that embedded Python, the libpython it links instead.
junction_versions() {
  local version jpy
  version="$(junction_version "$2")"
  if [[ "$version" == *" on Python "* ]]; then
    versions+=("$1 $version${3:+ ($3)}")
  else
    jpy="$(ldd "$2" 2>/dev/null | awk '/libpython/ && !l { l = $3 } END { print l }')"
    versions+=("$1 $version (${3:+$3; }libpython: ${jpy:-not linked})")
  fi
}

# --- servers --------------------------------------------------------------------------------
# NGINX DIR: the *_temp_path lines (indented, one per line) that keep nginx's temporary files in
# DIR, one for each module this nginx was built with (nginx-light leaves some out, and a path for
# a missing module is a config error). Without them nginx wants /var/lib/nginx, root's.
nginx_temp_paths() {
  local build module
  build="$("$1" -V 2>&1)"
  for module in client_body proxy fastcgi uwsgi scgi; do
    if [[ "$module" == client_body || "$build" != *"--without-http_${module}_module"* ]]; then
      printf '  %s_temp_path %s/%s;\n' "$module" "$2" "$module"
    fi
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() { # NAME DESCRIPTION DIR COMMAND...: run it in DIR, pinned, in its own process group
  local name="$1" dir="$3"
  desc["$name"]="$2"
  shift 3
  printf '%q ' "$@" >"$results/$name.cmd"
  echo >>"$results/$name.cmd"
  # setsid: the server leads a new process group, so stop_server also ends its workers.
  (cd "$dir" && exec setsid taskset -c "$server_cpu" "$@") >"$results/$name.log" 2>&1 </dev/null &
  pid["$name"]=$!
}

# NAME URL BODY [CURL_OPTION...]: wait until URL answers BODY (at most 20 s), then save the
# response head as NAME-response-head.txt; fail with the server's log if it exits or never does.
wait_ready() {
  local name="$1" url="$2" body="$3" i
  shift 3
  for i in $(seq 200); do
    if [[ "$(curl -fsS --max-time 1 "$@" "$url" 2>/dev/null)" == "$body" ]]; then
      curl -sS "$@" -D "$results/$name-response-head.txt" -o /dev/null "$url" || true
      return 0
    fi
    if ! kill -0 "${pid[$name]}" 2>/dev/null; then
      unset "pid[$name]"
      tail -n 20 "$results/$name.log" >&2 || true
      die "$name exited during start-up (log: $results/$name.log)"
    fi
    sleep 0.1
  done
  tail -n 20 "$results/$name.log" >&2 || true
  die "$name did not answer $url with '$body'${*:+ (curl $*)} within 20 s (log: $results/$name.log)"
}

stop_server() { # NAME: SIGTERM its process group, SIGKILL after 5 s
  local name="$1" p="${pid[$1]:-}" i
  [[ -n "$p" ]] || return 0
  kill -TERM -- "-$p" 2>/dev/null || true
  for i in $(seq 50); do
    kill -0 -- "-$p" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  unset "pid[$name]"
}

stop_all_servers() {
  local name
  for name in "${!pid[@]}"; do stop_server "$name"; done
}

# --- measuring ------------------------------------------------------------------------------
clk_tck="$(getconf CLK_TCK)"

counters() { # PGID: "utime stime switches" summed over every process and thread in the group
  local p total_u=0 total_s=0 stat rest f
  for p in $(pgrep -g "$1" || true); do
    stat="$(cat "/proc/$p/stat" 2>/dev/null)" || continue
    rest="${stat##*) }" # fields from 3 on; comm may hold spaces
    read -r -a f <<<"$rest"
    total_u=$((total_u + f[11])) total_s=$((total_s + f[12])) # utime, stime (fields 14, 15)
  done
  # Voluntary and involuntary context switches of every thread: the wake-ups and hand-offs
  # that decide the speed (docs/benchmarks.md). (Threads that end during a run are not counted.)
  echo "$total_u $total_s $(pgrep -g "$1" | while read -r p; do cat /proc/"$p"/task/*/status 2>/dev/null; done |
    awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }')"
}

busy_percent() { # % of all CPUs not idle over one second (before the runs: anything else running?)
  local a b
  a="$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat)"
  sleep 1
  b="$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat)"
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); busy = y[1] - x[1]; idle = y[2] - x[2];
    printf "%.0f", (busy + idle > 0) ? busy * 100 / (busy + idle) : 0 }'
}

# P FILE: wrk --latency's P% latency in FILE, in milliseconds ("647.00us" -> 0.647).
wrk_percentile() {
  awk -v p="$1%" '$1 == p {
    v = $2; unit = v; sub(/^[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
    print v * (unit == "us" ? 0.001 : unit == "s" ? 1000 : unit == "m" ? 60000 : 1); exit }' "$2"
}

# NAME SECONDS OUTFILE [PATH]: wrk -t1 -c$connections on CPU $client_cpu against the server NAME,
# GET PATH (default /), or what the Lua script $wrk_script makes of it when the caller sets that
# (wrk -s: another method, a body). Sets last_rps and, per request, last_cpu (server CPU µs, user
# + kernel), last_sys (kernel µs) and last_csw (context switches); last_util is the server's CPU
# time as % of the run's wall time (well under 100: something else took the core), last_p50 and
# last_p99 wrk's latency percentiles (ms).
run_wrk() {
  local name="$1" seconds="$2" out="$3" path="${4:-/}" before after reqs probe="" script=()
  [[ -z "${wrk_script:-}" ]] || script=(-s "$wrk_script")
  before="$(counters "${pid[$name]}")"
  # A caller may define wrk_probe NAME SECONDS OUTFILE, run beside each wrk to look at the
  # server under load (bench/workers.sh: how the connections spread over the workers).
  if declare -F wrk_probe >/dev/null; then
    wrk_probe "$name" "$seconds" "$out" &
    probe=$!
  fi
  taskset -c "$client_cpu" timeout $((seconds + 15)) \
    wrk -t1 -c"$connections" -d"${seconds}s" --latency "${script[@]}" "http://127.0.0.1:${port[$name]}$path" >"$out" ||
    die "wrk against $name failed (output: $out)"
  [[ -z "$probe" ]] || wait "$probe" || true
  after="$(counters "${pid[$name]}")"
  kill -0 "${pid[$name]}" 2>/dev/null || die "$name died during the run (log: $results/$name.log)"
  reqs="$(awk '/ requests in / { print $1 }' "$out")"
  last_rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
  last_p50="$(wrk_percentile 50 "$out")" last_p99="$(wrk_percentile 99 "$out")"
  [[ -n "$last_rps" && "$reqs" -gt 0 ]] || die "no requests counted in $out"
  read -r last_cpu last_sys last_csw last_util < <(awk -v a="$before" -v b="$after" -v n="$reqs" \
    -v hz="$clk_tck" -v s="$seconds" 'BEGIN { split(a, x, " "); split(b, y, " ");
      u = (y[1] - x[1]) / hz; k = (y[2] - x[2]) / hz;
      printf "%.2f %.2f %.2f %.0f\n", (u + k) * 1e6 / n, k * 1e6 / n, (y[3] - x[3]) / n, (u + k) / s * 100 }')
}

# PATH: a warm-up run of $warmup s for each server in `servers`, then $runs rounds of $duration s
# going round them (junction, peer, ..., junction, ...) so drift on this noisy VM hits all alike;
# each measured run (wrk, GET PATH) appends its figures to rps, cpu, sys, csw, util, p50 and
# p99 (declared here, so that callers that do not report latency need not).
wrk_rounds() {
  local name i
  for name in "${servers[@]}"; do
    log "warm-up $name (${warmup}s)"
    run_wrk "$name" "$warmup" "$results/$name-warmup.txt" "$1"
  done
  for i in $(seq "$runs"); do
    for name in "${servers[@]}"; do
      log "run $i/$runs: $name (${duration}s)"
      run_wrk "$name" "$duration" "$results/$name-$i.txt" "$1"
      rps["$name"]+="$last_rps " cpu["$name"]+="$last_cpu " sys["$name"]+="$last_sys "
      csw["$name"]+="$last_csw " util["$name"]+="$last_util "
      p50["$name"]+="$last_p50 " p99["$name"]+="$last_p99 "
    done
  done
}

declare -A p50=() p99=()

# --- the report -----------------------------------------------------------------------------
# ROW [NAME...]: appends the medians of the servers NAME... (default: all of `servers`) to
# $results/rows.tsv, one line each, for bench/plot.py: row, server, requests/s, p50 and p99
# latency (ms), CPU µs per request, context switches per request. ROW names what was measured
# ("wsgi-hello", "django-template"); the header line is written with the file.
write_rows_tsv() {
  local row="$1" name file="$results/rows.tsv"
  shift
  (($# > 0)) || set -- "${servers[@]}"
  [[ -s "$file" ]] || printf 'row\tserver\trps\tp50_ms\tp99_ms\tcpu_us\tswitches\n' >"$file"
  for name in "$@"; do
    [[ -n "${rps[$name]:-}" ]] || continue
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$name" "$(median <<<"${rps[$name]}")" \
      "$(median <<<"${p50[$name]:-}")" "$(median <<<"${p99[$name]:-}")" \
      "$(median <<<"${cpu[$name]:-}")" "$(median <<<"${csw[$name]:-}")" >>"$file"
  done
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ratio_line() { # A B [DECIMALS]: "**A / B = x.xx**" of the medians med[A] and med[B], when both ran
  [[ -n "${med[$1]:-}" && -n "${med[$2]:-}" ]] || return 0
  echo "**$1 / $2 = $(awk -v a="${med[$1]}" -v b="${med[$2]}" -v d="${3:-2}" 'BEGIN { printf "%." d "f", a / b }')**  "
}

cpu_model() { lscpu | awk -F: '/^Model name/ && !m { gsub(/^[ \t]+/, "", $2); m = $2 } END { print m }' || true; }
row() { printf '| %s ' "$@"; printf '|\n'; }         # a markdown table row
runs_header() { seq "$runs" | awk '{ printf "| run %s ", $1 }'; } # the table's "| run 1 | run 2 ..."
runs_rule() { seq "$runs" | awk '{ printf "| ---: " }'; }          # and their rule

# WHEN ("the runs", "this row"): the end of a wrk_rounds report for the servers in `servers`:
# junction's ratio to each other server and to its baseline, then warnings for a machine busy
# ($busy_before % before WHEN), a server under 85 % of CPU $server_cpu in some run, and wrk
# errors in $results.
report_tail() {
  local when="$1" name least low=""
  if [[ " ${servers[*]} " == *" junction "* ]] && ((${#servers[@]} > 1)); then
    echo
    for name in "${servers[@]}"; do
      [[ "$name" == junction || "$name" == junction-baseline ]] || ratio_line junction "$name"
    done
    ratio_line junction junction-baseline
  fi
  if ((busy_before > 10)); then
    echo
    echo "Warning: before $when the machine was already ${busy_before}% busy (other processes); the numbers are suspect."
  fi
  for name in "${servers[@]}"; do
    least="$(tr ' ' '\n' <<<"${util[$name]}" | grep . | sort -n | head -1)"
    ((least >= 85)) || low+="$name $least%, "
  done
  if [[ -n "$low" ]]; then
    echo
    echo "Warning: a server used under 85% of CPU $server_cpu in some run (least: ${low%, }): something else took the core, or the server was not the bottleneck."
  fi
  warn_wrk_errors "$results"
}

# wrk prints "Non-2xx" and "Socket errors" lines only when something went wrong (read errors:
# the server closed connections, i.e. no keep-alive); a clean run has none. Prints a warning for
# each run file in $1 that has them.
warn_wrk_errors() {
  local f
  for f in "$1"/*-[0-9]*.txt; do
    if grep -qE 'Non-2xx|Socket errors' "$f"; then
      echo
      echo "Warning: $(basename "$f" .txt): $(grep -E 'Non-2xx|Socket errors' "$f" | tr -s ' ' | paste -sd';')"
    fi
  done
}
