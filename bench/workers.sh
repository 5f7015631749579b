#!/usr/bin/env bash
# Worker processes benchmark, WSGI, HTTP/1.1 keep-alive: Junction with one and with two worker
# processes (--workers 1 / --workers 2) against granian and gunicorn with two workers each, on
# two apps:
#   * hello: examples/hello/app.py (14 bytes, as bench/app.sh uses it): the front end and the
#     hand-offs decide, Python's share is small;
#   * cpu: examples/hello/cpu_app.py, a view that runs a fixed pure-Python loop (about 2 ms,
#     holding the GIL) per request and answers the same body every time: one interpreter
#     serves at most about 500 req/s whatever its threads, so only a second process can use
#     the second core.
#
#   bash bench/workers.sh            # 3 runs of 10 s per server and app (about 4.5 min of load)
#   bash bench/workers.sh --quick    # smoke check: 1 run of 3 s per server and app
#   BENCH_APPS=cpu bash bench/workers.sh
#   BENCH_SERVERS="junction-w1 junction-w2" bash bench/workers.sh
#   JUNCTION_BIN=.tools/bench-venv/bin/junction bash bench/workers.sh   # measure, build nothing
#
# Not pinned, unlike the other scripts here: workers need every core, so the servers run on
# all the CPUs this script may use (taskset -c over its own affinity, 0-1 on the bench VM) and
# wrk does too. On a 2-core machine the load generator therefore shares the cores with the
# servers: whatever wrk spends (one thread, cheap per request but not free) is taken from the
# servers, most of all on the hello app, where wrk needs about as much CPU per request as a
# fast server. The absolute figures are low for that reason and are not comparable with
# bench/app.sh's one-core-each figures; the ratios between servers measured in the same
# rounds, under the same load generator, are what this measures. BENCH_SERVER_CPU and
# BENCH_CLIENT_CPU (taskset lists) split the cores instead, on a machine that has more.
#
# Fairness, for every server (as bench/app.sh, per worker):
#   * one Python interpreter per worker, all of them Debian's /usr/bin/python3 from one venv,
#     .tools/bench-venv; Junction is this checkout pip-installed into it (bench/common.sh,
#     ensure_bench_junction), VIRTUAL_ENV unset;
#   * each worker has a pool of $BENCH_THREADS (default 8) Python threads running the app and
#     one I/O (runtime) thread where the server has the setting;
#   * access logs off; error logs (warning level) to files; HTTP/1.1 keep-alive on, no limit
#     on requests per connection; every response has status, Content-Type and
#     Content-Length (and Date, Server); each server's response head is saved.
# Per server:
#   * junction-w1: --workers 1 (a single process, no master) --io-threads 1 --threads 8;
#   * junction-w2: --workers 2 --io-threads 1 --threads 8 (a master that binds and supervises,
#     two forked workers accepting from the same listening socket, docs/workers.md);
#   * granian-w2: --interface wsgi --workers 2 --runtime-threads 1 --blocking-threads 8
#     --http 1;
#   * gunicorn-w2: -k gthread --workers 2 --threads 8 --keep-alive 5 --http-parser fast
#     (gunicorn_h1c) --no-control-socket.
#
# Method: as bench/app.sh (bench/common.sh's wrk_rounds): for each app all servers start
# together (idle ones cost next to nothing), each gets a warm-up run (which also gives every
# worker time to be ready), then the measured runs go round the servers so drift on this
# noisy VM hits all alike. Load: wrk -t1 -d${BENCH_DURATION}s GET /, with
# -c$BENCH_CONNECTIONS (default 64) for hello and -c$BENCH_CPU_CONNECTIONS (default 16) for
# cpu: 16 connections keep 16 requests queued for at most 2 x 8 pool threads, enough to keep
# every worker busy, and with 2 ms per request a 10 s run still counts thousands of requests.
# The report gives, per app, each run's requests/sec, the median, and from /proc over all the
# server's processes (master and workers) and threads its CPU time per request and its CPU use
# in % of one core (up to 100 x the cores), and how wrk's connections were spread over its
# workers halfway through each run (ss: "9+7", "16+0"; a keep-alive connection stays with the
# worker that accepted it, so this decides how many cores a server could use); then the
# ratios of medians junction-w2 / junction-w1, junction-w2 / granian-w2 and junction-w2 /
# gunicorn-w2. It also times the cpu app's loop alone with the venv's Python, so the ceiling
# is known: cores / cost per request.
#
# Environment: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 3), BENCH_RUNS
# (default 3), BENCH_CONNECTIONS (hello, default 64), BENCH_CPU_CONNECTIONS (cpu, default 16),
# BENCH_THREADS (per worker, default 8), BENCH_SERVER_CPU / BENCH_CLIENT_CPU (default: every
# CPU of the script's affinity, for both), BENCH_APPS (default "hello cpu"), BENCH_SERVERS
# (default "junction-w1 junction-w2 granian-w2 gunicorn-w2"), BENCH_PYTHON (default
# /usr/bin/python3), JUNCTION_BIN (another installed `junction`, with --workers, to measure
# instead; then nothing is built). No JUNCTION_BASELINE_BIN here: builds before --workers
# cannot run junction-w2. Raw wrk output, server logs, response heads and summary.md go to
# bench/results/workers-<timestamp>/ (not committed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
# shellcheck source=bench/common.sh
source bench/common.sh

bench_options "$@"
# Every CPU this script may run on (its affinity, e.g. "0,1" or "0-1"), for servers and wrk
# alike; common.sh's one-core-each defaults do not apply here.
own_cpus="$(taskset -pc $$ | awk -F': ' '{ print $2 }')"
server_cpu="${BENCH_SERVER_CPU:-$own_cpus}"
client_cpu="${BENCH_CLIENT_CPU:-$own_cpus}"
threads="${BENCH_THREADS:-8}"
app_dir="$root/examples/hello"
declare -A app_module=([hello]=app [cpu]=cpu_app)
declare -A app_connections=([hello]="${BENCH_CONNECTIONS:-64}" [cpu]="${BENCH_CPU_CONNECTIONS:-16}")

all_servers="junction-w1 junction-w2 granian-w2 gunicorn-w2"
read -r -a servers <<<"${BENCH_SERVERS:-$all_servers}"
((${#servers[@]})) || die "BENCH_SERVERS is empty"
for s in "${servers[@]}"; do
  [[ " $all_servers " == *" $s "* ]] || die "unknown server '$s' in BENCH_SERVERS ($all_servers)"
done
read -r -a apps <<<"${BENCH_APPS:-hello cpu}"
((${#apps[@]})) || die "BENCH_APPS is empty"
for a in "${apps[@]}"; do
  [[ -n "${app_module[$a]:-}" ]] || die "unknown app '$a' in BENCH_APPS (hello cpu)"
done
want() { [[ " ${servers[*]} " == *" $1 "* ]]; } # NAME: is this server in the run?

# --- tools and peers ------------------------------------------------------------------------
# shellcheck source=scripts/debian_packages.sh
source scripts/debian_packages.sh
ensure_debian_packages wrk curl util-linux python3-venv procps iproute2

# The same pins as bench/app.sh --interface wsgi; a stamp of this script's own (common.sh).
ensure_bench_venv .spec-workers "granian==$GRANIAN_VERSION" "gunicorn==$GUNICORN_VERSION" \
  "gunicorn_h1c==$GUNICORN_H1C_VERSION"
# The venv imports the apps from anywhere (the servers also run from their directory).
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$app_dir" >"$site/junction_bench_app.pth"
"$venv/bin/python" -c 'import app, cpu_app; assert callable(app.app) and callable(cpu_app.app)' ||
  die "$venv cannot import app:app and cpu_app:app from $app_dir"
if want junction-w1 || want junction-w2; then ensure_bench_junction; fi
for tool in wrk curl taskset setsid pgrep ss; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done

# The body each app answers (curl's $(...) drops the final newline, as wait_ready compares).
declare -A expected_body=([hello]="Hello, world!")
expected_body[cpu]="$("$venv/bin/python" -c 'import cpu_app; print(cpu_app.BODY.decode(), end="")')"
# The cpu app's cost per call on one core, measured alone before the load (best of 5 x 50).
cpu_ms="$("$venv/bin/python" -c 'import timeit, cpu_app
print(f"{min(timeit.repeat(cpu_app.burn, number=50, repeat=5)) / 50 * 1e3:.2f}")')"

# --- servers --------------------------------------------------------------------------------
run_dir="$root/bench/results/workers-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$run_dir"
declare -A pid=() port=() desc=()
trap stop_all_servers EXIT
trap 'exit 130' INT TERM

start() { # NAME MODULE: start that server on the app MODULE:app
  local name="$1" target="$2:app"
  case "$name" in
    junction-w1 | junction-w2)
      local n="${name#junction-w}" plural=s
      ((n > 1)) || plural=""
      start_server "$name" "junction ($n worker$plural, 1 I/O thread, $threads WSGI threads each)" \
        "$app_dir" env -u VIRTUAL_ENV "$junction" --bind "127.0.0.1:${port[$name]}" --workers "$n" \
        --io-threads 1 --threads "$threads" --no-access-log --log-level warning --chdir "$app_dir" "$target"
      ;;
    granian-w2)
      start_server "$name" "granian (wsgi, 2 workers, 1 runtime thread, $threads blocking threads each)" \
        "$app_dir" "$venv/bin/granian" --interface wsgi --host 127.0.0.1 --port "${port[$name]}" \
        --http 1 --workers 2 --runtime-threads 1 --blocking-threads "$threads" --no-access-log \
        --log-level warning --working-dir "$app_dir" "$target"
      ;;
    gunicorn-w2)
      start_server "$name" "gunicorn (gthread, 2 workers, $threads threads each)" "$app_dir" \
        "$venv/bin/gunicorn" --bind "127.0.0.1:${port[$name]}" --worker-class gthread \
        --workers 2 --threads "$threads" --keep-alive 5 --http-parser fast --no-control-socket \
        --log-level warning --chdir "$app_dir" "$target"
      ;;
  esac
}

# A worker takes a keep-alive connection for the connection's life, so how wrk's connections
# were spread over a server's workers when they opened decides how much of the second core it
# can use (on the cpu app most of all). Halfway through each run, wrk_probe (called by
# common.sh's run_wrk) saves the established connections per process of the server, most
# first, padded with the workers that have none: "9+7", "16+0"; the report lists them per run.
workers_of() { [[ "$1" == *-w1 ]] && echo 1 || echo 2; } # NAME: its worker processes
wrk_probe() { # NAME SECONDS OUTFILE
  sleep "$(awk -v s="$2" 'BEGIN { print s / 2 }')"
  ss -Htnp state established "( sport = :${port[$1]} )" 2>/dev/null |
    awk 'match($0, /pid=[0-9]+/) { print substr($0, RSTART + 4, RLENGTH - 4) }' | sort | uniq -c |
    sort -nr | awk -v w="$(workers_of "$1")" '{ s = s (NR > 1 ? "+" : "") $1 }
      END { for (i = NR; i < w; i++) s = s (i ? "+" : "") 0; print s }' >"$3.spread"
}
spreads() { # NAME: the probes' spreads of its measured runs, in order
  local i list=()
  for i in $(seq "$runs"); do list+=("$(cat "$results/$1-$i.txt.spread" 2>/dev/null || echo '?')"); done
  local joined
  joined="$(printf '%s, ' "${list[@]}")"
  echo "${joined%, }"
}

# --- runs, one app at a time ----------------------------------------------------------------
busy_before="$(busy_percent)"
((busy_before <= 10)) || log "warning: the machine is already ${busy_before}% busy; the numbers will be noisy"
log "results in ${run_dir#"$root"/}; about $(((warmup + runs * duration) * ${#servers[@]} * ${#apps[@]}))s of load"
declare -A all_med=() # APP/NAME: median req/s, for the closing table
for app in "${apps[@]}"; do
  results="$run_dir/$app"
  mkdir -p "$results"
  connections="${app_connections[$app]}"
  desc=()
  for name in "${servers[@]}"; do port[$name]="$(free_port)"; done
  for name in "${servers[@]}"; do start "$name" "${app_module[$app]}"; done
  for name in "${servers[@]}"; do
    wait_ready "$name" "http://127.0.0.1:${port[$name]}/" "${expected_body[$app]}"
  done
  declare -A rps=() cpu=() sys=() csw=() util=()
  log "app $app (${app_module[$app]}:app), wrk -c$connections"
  wrk_rounds /
  stop_all_servers

  declare -A med=()
  for name in "${servers[@]}"; do
    med[$name]="$(median <<<"${rps[$name]}")"
    all_med[$app/$name]="${med[$name]}"
  done
  {
    if [[ "$app" == hello ]]; then
      echo "## hello: examples/hello/app.py (14-byte body), wrk -t1 -c$connections"
    else
      echo "## cpu: examples/hello/cpu_app.py (${cpu_ms} ms of Python per request alone), wrk -t1 -c$connections"
    fi
    echo
    echo "| server $(runs_header)| median req/s | CPU µs/req (kernel) | switches/req | CPU use | connections per worker |"
    echo "| --- $(runs_rule)| ---: | ---: | ---: | ---: | --- |"
    for name in "${servers[@]}"; do
      # shellcheck disable=SC2086
      row "$name: ${desc[$name]}" ${rps[$name]} "**${med[$name]}**" \
        "$(median <<<"${cpu[$name]}") ($(median <<<"${sys[$name]}"))" "$(median <<<"${csw[$name]}")" \
        "$(median <<<"${util[$name]}")%" "$(spreads "$name")"
    done
    echo
    ratio_line junction-w2 junction-w1
    ratio_line junction-w2 granian-w2
    ratio_line junction-w2 gunicorn-w2
    warn_wrk_errors "$results"
    echo
  } >"$run_dir/$app.md"
done

# --- report ---------------------------------------------------------------------------------
versions=()
if want junction-w1 || want junction-w2; then junction_versions junction "$junction"; fi
if want granian-w2; then versions+=("granian $GRANIAN_VERSION"); fi
if want gunicorn-w2; then versions+=("gunicorn $GUNICORN_VERSION + gunicorn_h1c $GUNICORN_H1C_VERSION"); fi
versions+=("peers' Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())') ($peer_python_exe)")
versions+=("wrk $({ wrk -v 2>&1 || true; } | head -1 | awk '{ print $2 }')")
model="$(cpu_model)"

ratio_cell() { # APP A B: the ratio of the medians of A and B for APP, or "-" when one did not run
  local a="${all_med[$1/$2]:-}" b="${all_med[$1/$3]:-}"
  if [[ -n "$a" && -n "$b" ]]; then awk -v a="$a" -v b="$b" 'BEGIN { printf "**%.2f**", a / b }'; else echo -; fi
}

{
  echo "Machine: $(nproc) cores, ${model:-unknown CPU}; servers on CPUs $server_cpu, wrk on CPUs $client_cpu (shared)."
  joined="$(printf '%s; ' "${versions[@]}")"
  echo "Versions: ${joined%; }."
  echo "Load: wrk -t1 -d${duration}s, HTTP/1.1 keep-alive, GET /; ${warmup}s warm-up each; $runs run(s) going round the servers."
  echo
  for app in "${apps[@]}"; do cat "$run_dir/$app.md"; done
  echo "CPU µs/req: the server's CPU time (master, workers and all their threads, user + kernel;"
  echo "kernel in brackets) per request; switches/req: its threads' context switches per request;"
  echo "CPU use: its CPU time over the run's wall time, in % of one core. Medians over the runs."
  echo "Connections per worker: wrk's connections established to each worker process halfway"
  echo "through each run (most first; a keep-alive connection stays with the worker that accepted it)."
  echo
  echo "| app | junction-w2 / junction-w1 | junction-w2 / granian-w2 | junction-w2 / gunicorn-w2 |"
  echo "| --- | ---: | ---: | ---: |"
  for app in "${apps[@]}"; do
    row "$app" "$(ratio_cell "$app" junction-w2 junction-w1)" "$(ratio_cell "$app" junction-w2 granian-w2)" \
      "$(ratio_cell "$app" junction-w2 gunicorn-w2)"
  done
  if ((busy_before > 10)); then
    echo
    echo "Warning: before the runs the machine was already ${busy_before}% busy (other processes); the numbers are suspect."
  fi
} | tee "$run_dir/summary.md"
