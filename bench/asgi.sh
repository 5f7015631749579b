#!/usr/bin/env bash
# Hello-world ASGI benchmark: Junction against granian, uvicorn and hypercorn, HTTP/1.1 keep-alive.
#
#   bash bench/asgi.sh                      # 3 runs of 10 s per server (about 2.5 min of load)
#   bash bench/asgi.sh --quick              # smoke check: 1 run of 3 s per server
#   JUNCTION_BIN=build/other/junction bash bench/asgi.sh
#   BENCH_SERVERS="granian uvicorn hypercorn" bash bench/asgi.sh   # leave Junction out
#
# The app is examples/hello/asgi_app.py (`app`: 200, Content-Type text/plain, an explicit
# Content-Length, body b"Hello, world!\n"; it answers lifespan startup and shutdown at once),
# imported as the module `asgi_app` from its directory by every server. The peers run on
# Debian's /usr/bin/python3 from .tools/bench-venv (shared with bench/wsgi.sh); Junction embeds
# the interpreter it was built with (scripts/setup.sh: the python3 first on PATH; the report
# names its libpython) and imports uvloop from $JUNCTION_VENV (default: the repository's .venv,
# made by scripts/setup.sh with that same interpreter, as --venv requires; requirements.txt pins
# the same uvloop as below).
#
# Fairness, for every server:
#   * one process serving requests (plus an idle supervisor where the server insists on one:
#     granian's master and hypercorn's), pinned with `taskset -c $BENCH_SERVER_CPU` (default 0);
#     wrk runs alone on `taskset -c $BENCH_CLIENT_CPU` (default 1);
#   * one asyncio event loop running the app, and it is uvloop everywhere (Junction only when
#     uvloop imports from $JUNCTION_VENV; the report says which loop Junction got);
#   * access logs off; error logs (warning level) to files;
#   * HTTP/1.1 keep-alive on, no limit on requests per connection, idle timeout >= 2 s (wrk
#     never leaves a connection idle, so the timeout never fires); lifespan on where the
#     server has a switch (the app supports it); each server's response head is saved: the
#     servers all send status, Content-Type, Content-Length, Date and Server.
# Per server:
#   * junction: --io-threads 1 --no-access-log [--venv $JUNCTION_VENV --loop uvloop]
#     asgi:asgi_app:app, VIRTUAL_ENV unset.
#   * granian (PyPI, Rust/hyper front end): --interface asgi --workers 1 --runtime-threads 1
#     --loop uvloop --http 1 (wrk speaks HTTP/1.1 only); its access log is off by default.
#   * uvicorn[standard] (PyPI): --http httptools --loop uvloop --workers 1 --no-access-log
#     --timeout-keep-alive 5 (httptools, its fastest HTTP/1.1 parser; its default ws
#     implementation is irrelevant here).
#   * hypercorn (PyPI): --worker-class uvloop --workers 1 --keep-alive 5; its access log is
#     off unless asked for. Its HTTP/1.1 is h11, pure Python (it has no faster parser to pick).
#
# Method: as bench/wsgi.sh. All servers start together (idle ones cost next to nothing); each
# gets a warm-up run, then the measured runs go round the servers (junction, granian, uvicorn,
# hypercorn, junction, ...) so drift on this noisy 2-core VM hits all alike. Load:
# wrk -t1 -c$BENCH_CONNECTIONS -d${BENCH_DURATION}s GET /. The report gives each run's
# requests/sec, the median, Junction's ratio to each peer (of medians), and, from /proc over
# all the server's processes and threads, its CPU time per request (and the kernel's part),
# its context switches per request and its use of its core. A server near 100% of its core is
# the bottleneck, as it should be; well under that means something else took the core (this
# VM is shared with builds and tests) or the server waited on something, and the report says
# so, as it does when the machine was busy before the runs or wrk saw errors.
#
# Environment: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 3), BENCH_RUNS
# (default 3), BENCH_CONNECTIONS (default 64), BENCH_SERVER_CPU, BENCH_CLIENT_CPU,
# BENCH_SERVERS (default "junction granian uvicorn hypercorn"), BENCH_PYTHON (the peers'
# interpreter, default /usr/bin/python3), JUNCTION_BIN (default build/release/junction, built
# by scripts/setup.sh; when JUNCTION_BIN is set, or Junction is left out, setup.sh is not run),
# JUNCTION_VENV (default .venv). The peers are installed by this script: Debian packages with
# apt-get when missing, granian, uvicorn[standard], hypercorn and uvloop (pinned below) into
# .tools/bench-venv. Raw wrk output, server logs, each server's response head and summary.md
# go to bench/results/asgi-<timestamp>/ (not committed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/wrk_warnings.sh
source bench/wrk_warnings.sh
root="$PWD"

# Pinned peer versions (PyPI); bump deliberately and note it in docs/benchmarks.md.
GRANIAN_VERSION=2.8.7
UVICORN_VERSION=0.54.0
HTTPTOOLS_VERSION=0.9.0
HYPERCORN_VERSION=0.18.0
UVLOOP_VERSION=0.23.0

duration="${BENCH_DURATION:-10}"
warmup="${BENCH_WARMUP:-3}"
runs="${BENCH_RUNS:-3}"
for arg in "$@"; do
  case "$arg" in
    --quick)
      duration=3
      warmup=1
      runs=1
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "asgi.sh: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done
connections="${BENCH_CONNECTIONS:-64}"
server_cpu="${BENCH_SERVER_CPU:-0}"
client_cpu="${BENCH_CLIENT_CPU:-1}"
read -r -a servers <<<"${BENCH_SERVERS:-junction granian uvicorn hypercorn}"
peer_python="${BENCH_PYTHON:-/usr/bin/python3}"
venv="$root/.tools/bench-venv"
junction_venv="${JUNCTION_VENV:-$root/.venv}"
[[ "$junction_venv" == /* ]] || junction_venv="$root/$junction_venv"
app_dir="$root/examples/hello"
app_module=asgi_app
app_attr=app
expected_body="Hello, world!"

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'asgi.sh: %s\n' "$*" >&2
  exit 1
}

want() { # NAME: is this server in BENCH_SERVERS?
  local s
  for s in "${servers[@]}"; do [[ "$s" == "$1" ]] && return 0; done
  return 1
}
for s in "${servers[@]}"; do
  case "$s" in junction | granian | uvicorn | hypercorn) ;; *) die "unknown server '$s' in BENCH_SERVERS" ;; esac
done
((${#servers[@]})) || die "BENCH_SERVERS is empty"
[[ -f "$app_dir/$app_module.py" ]] || die "the app $app_dir/$app_module.py is missing"

# --- tools and peers ------------------------------------------------------------------------
if want junction && [[ -z "${JUNCTION_BIN:-}" ]]; then
  bash scripts/setup.sh >&2
fi
junction="${JUNCTION_BIN:-$root/build/release/junction}"
[[ "$junction" == /* ]] || junction="$root/$junction"
if want junction && [[ ! -x "$junction" ]]; then die "no Junction binary at $junction"; fi

packages=(wrk curl util-linux python3-venv)
# shellcheck source=scripts/debian_packages.sh
source scripts/debian_packages.sh
ensure_debian_packages "${packages[@]}"

if want granian || want uvicorn || want hypercorn; then
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
  spec=("granian==$GRANIAN_VERSION" "uvicorn[standard]==$UVICORN_VERSION"
    "httptools==$HTTPTOOLS_VERSION" "hypercorn==$HYPERCORN_VERSION" "uvloop==$UVLOOP_VERSION")
  # Its own stamp: bench/wsgi.sh keeps .spec for its packages in the same venv.
  if [[ "$(cat "$venv/.spec-asgi" 2>/dev/null)" != "${spec[*]}" ]]; then
    log "installing ${spec[*]} into $venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "${spec[@]}" >&2
    echo "${spec[*]}" >"$venv/.spec-asgi"
  fi
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$app_dir" >"$site/junction_bench_app.pth"
  "$venv/bin/python" -c "import $app_module, uvloop, httptools; assert callable($app_module.$app_attr)" ||
    die "$venv cannot import $app_module:$app_attr, uvloop and httptools"
fi
for tool in wrk curl taskset setsid; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done

# Junction's loop: uvloop when it imports from the venv Junction is given (as for the peers).
junction_loop=asyncio
junction_venv_args=()
if want junction; then
  if [[ -x "$junction_venv/bin/python" ]] && "$junction_venv/bin/python" -c 'import uvloop' 2>/dev/null; then
    junction_loop=uvloop
    junction_venv_args=(--venv "$junction_venv" --loop uvloop)
  else
    log "warning: uvloop does not import from $junction_venv; Junction runs on asyncio's loop"
    junction_venv_args=(--loop asyncio)
  fi
fi

# --- servers --------------------------------------------------------------------------------
results="$root/bench/results/asgi-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
declare -A pid=() port=() desc=()

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
cleanup() {
  local name
  for name in "${!pid[@]}"; do stop_server "$name"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() { # NAME DESCRIPTION COMMAND...: run it pinned, in its own process group
  local name="$1"
  desc[$name]="$2"
  shift 2
  printf '%q ' "$@" >"$results/$name.cmd"
  echo >>"$results/$name.cmd"
  # setsid: the server leads a new process group, so stop_server also ends its workers.
  (cd "$app_dir" && exec setsid taskset -c "$server_cpu" "$@") >"$results/$name.log" 2>&1 </dev/null &
  pid[$name]=$!
}

wait_ready() { # NAME: the app answers within 20 s, or fail with the server's log
  local name="$1" url="http://127.0.0.1:${port[$1]}/" i
  for i in $(seq 200); do
    if [[ "$(curl -fsS --max-time 1 "$url" 2>/dev/null)" == "$expected_body" ]]; then
      curl -sS -D "$results/$name-response-head.txt" -o /dev/null "$url" || true
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
  die "$name did not answer $url with '$expected_body' within 20 s (log: $results/$name.log)"
}

for name in "${servers[@]}"; do port[$name]="$(free_port)"; done

if want junction; then
  start_server junction "junction (1 I/O thread, $junction_loop)" \
    env -u VIRTUAL_ENV "$junction" --bind "127.0.0.1:${port[junction]}" --io-threads 1 \
    --no-access-log --log-level warning "${junction_venv_args[@]}" --chdir "$app_dir" \
    "asgi:$app_module:$app_attr"
fi
if want granian; then
  start_server granian "granian (asgi, 1 worker, uvloop)" \
    "$venv/bin/granian" --interface asgi --host 127.0.0.1 --port "${port[granian]}" --http 1 \
    --workers 1 --runtime-threads 1 --loop uvloop --no-access-log --log-level warning \
    --working-dir "$app_dir" "$app_module:$app_attr"
fi
if want uvicorn; then
  start_server uvicorn "uvicorn (httptools, uvloop, 1 worker)" \
    "$venv/bin/uvicorn" --host 127.0.0.1 --port "${port[uvicorn]}" --workers 1 \
    --http httptools --loop uvloop --lifespan on --no-access-log --log-level warning \
    --timeout-keep-alive 5 --app-dir "$app_dir" "$app_module:$app_attr"
fi
if want hypercorn; then
  start_server hypercorn "hypercorn (uvloop, 1 worker)" \
    "$venv/bin/hypercorn" --bind "127.0.0.1:${port[hypercorn]}" --workers 1 \
    --worker-class uvloop --keep-alive 5 --log-level warning "$app_module:$app_attr"
fi
for name in "${servers[@]}"; do wait_ready "$name"; done
# --- runs -----------------------------------------------------------------------------------
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
  # that DESIGN.md says decide the speed. (Threads that end during a run are not counted.)
  echo "$total_u $total_s $(pgrep -g "$1" | while read -r p; do cat /proc/"$p"/task/*/status 2>/dev/null; done |
    awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }')"
}

declare -A rps=() cpu=() sys=() csw=() util=()
# NAME SECONDS OUTFILE: sets last_rps and, per request, last_cpu (server CPU µs, user + kernel),
# last_sys (kernel µs) and last_csw (context switches); last_util is the server's CPU time as %
# of the run's wall time (well under 100: something else took the core).
run_wrk() {
  local name="$1" seconds="$2" out="$3" before after reqs
  before="$(counters "${pid[$name]}")"
  taskset -c "$client_cpu" timeout $((seconds + 15)) \
    wrk -t1 -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:${port[$name]}/" >"$out" ||
    die "wrk against $name failed (output: $out)"
  after="$(counters "${pid[$name]}")"
  kill -0 "${pid[$name]}" 2>/dev/null || die "$name died during the run (log: $results/$name.log)"
  reqs="$(awk '/ requests in / { print $1 }' "$out")"
  last_rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
  [[ -n "$last_rps" && "$reqs" -gt 0 ]] || die "no requests counted in $out"
  read -r last_cpu last_sys last_csw last_util < <(awk -v a="$before" -v b="$after" -v n="$reqs" \
    -v hz="$clk_tck" -v s="$seconds" 'BEGIN { split(a, x, " "); split(b, y, " ");
      u = (y[1] - x[1]) / hz; k = (y[2] - x[2]) / hz;
      printf "%.2f %.2f %.2f %.0f\n", (u + k) * 1e6 / n, k * 1e6 / n, (y[3] - x[3]) / n, (u + k) / s * 100 }')
}

busy_percent() { # % of all CPUs not idle over one second (before the runs: anything else running?)
  local a b
  a="$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat)"
  sleep 1
  b="$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat)"
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); busy = y[1] - x[1]; idle = y[2] - x[2];
    printf "%.0f", (busy + idle > 0) ? busy * 100 / (busy + idle) : 0 }'
}
busy_before="$(busy_percent)"
((busy_before <= 10)) || log "warning: the machine is already ${busy_before}% busy; the numbers will be noisy"

total=$(((warmup + runs * duration) * ${#servers[@]}))
log "results in ${results#"$root"/}; about ${total}s of load"
for name in "${servers[@]}"; do
  log "warm-up $name (${warmup}s)"
  run_wrk "$name" "$warmup" "$results/$name-warmup.txt"
done
for i in $(seq "$runs"); do
  for name in "${servers[@]}"; do
    log "run $i/$runs: $name (${duration}s)"
    run_wrk "$name" "$duration" "$results/$name-$i.txt"
    rps[$name]+="$last_rps "
    cpu[$name]+="$last_cpu "
    sys[$name]+="$last_sys "
    csw[$name]+="$last_csw "
    util[$name]+="$last_util "
  done
done
for name in "${servers[@]}"; do stop_server "$name"; done

# --- report ---------------------------------------------------------------------------------
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A med=()
for name in "${servers[@]}"; do med[$name]="$(median <<<"${rps[$name]}")"; done

model="$(lscpu | awk -F: '/^Model name/ { gsub(/^[ \t]+/, "", $2); print $2; exit }')"
versions=()
if want junction; then
  jv="$({ "$junction" --version 2>&1 || true; } | head -1 | sed 's/^junction //')"
  jpy="$(ldd "$junction" 2>/dev/null | awk '/libpython/ { print $3; exit }')"
  versions+=("junction $jv (libpython: ${jpy:-not linked})")
fi
want granian && versions+=("granian $GRANIAN_VERSION")
want uvicorn && versions+=("uvicorn $UVICORN_VERSION + httptools $HTTPTOOLS_VERSION")
want hypercorn && versions+=("hypercorn $HYPERCORN_VERSION")
if want granian || want uvicorn || want hypercorn; then
  versions+=("uvloop $UVLOOP_VERSION; peers' Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())') ($peer_python_exe)")
fi
if want junction && [[ "$junction_loop" == uvloop ]]; then
  versions+=("Junction's uvloop $("$junction_venv/bin/python" -c 'import uvloop; print(uvloop.__version__)') (from ${junction_venv#"$root"/})")
fi
versions+=("wrk $({ wrk -v 2>&1 || true; } | head -1 | awk '{ print $2 }')")

runs_header="$(for i in $(seq "$runs"); do printf '| run %s ' "$i"; done)"
runs_rule="$(for i in $(seq "$runs"); do printf '| ---: '; done)"
row() { printf '| %s ' "$@"; printf '|\n'; }

{
  echo "Machine: $(nproc) cores, ${model:-unknown CPU}; servers on CPU $server_cpu, wrk on CPU $client_cpu."
  joined="$(printf '%s; ' "${versions[@]}")"
  echo "Versions: ${joined%; }."
  echo "Load: wrk -t1 -c$connections -d${duration}s, HTTP/1.1 keep-alive, GET / of examples/hello/asgi_app.py (ASGI, 14-byte body); ${warmup}s warm-up each."
  echo
  echo "| server ${runs_header}| median req/s | CPU µs/req (kernel) | switches/req | core use |"
  echo "| --- ${runs_rule}| ---: | ---: | ---: | ---: |"
  for name in "${servers[@]}"; do
    # shellcheck disable=SC2086
    row "${desc[$name]}" ${rps[$name]} "**${med[$name]}**" \
      "$(median <<<"${cpu[$name]}") ($(median <<<"${sys[$name]}"))" "$(median <<<"${csw[$name]}")" \
      "$(median <<<"${util[$name]}")%"
  done
  echo
  echo "CPU µs/req: the server's CPU time (all processes and threads, user + kernel; kernel in"
  echo "brackets) per request; switches/req: its threads' context switches per request; core use:"
  echo "its CPU time over the run's wall time. Medians over the runs."
  if want junction && ((${#servers[@]} > 1)); then
    echo
    for name in "${servers[@]}"; do
      [[ "$name" == junction ]] && continue
      echo "**junction / $name = $(awk -v a="${med[junction]}" -v b="${med[$name]}" 'BEGIN { printf "%.2f", a / b }')**  "
    done
  fi
  if ((busy_before > 10)); then
    echo
    echo "Warning: before the runs the machine was already ${busy_before}% busy (other processes); the numbers are suspect."
  fi
  low=""
  for name in "${servers[@]}"; do
    least="$(tr ' ' '\n' <<<"${util[$name]}" | grep . | sort -n | head -1)"
    ((least >= 85)) || low+="$name $least%, "
  done
  if [[ -n "$low" ]]; then
    echo
    echo "Warning: a server used under 85% of CPU $server_cpu in some run (least: ${low%, }): something else took the core, or the server was not the bottleneck."
  fi
  warn_wrk_errors "$results"
} | tee "$results/summary.md"
