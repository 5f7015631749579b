#!/usr/bin/env bash
# Hello-world app benchmark, HTTP/1.1 keep-alive, one app interface per run:
#   --interface wsgi: Junction against granian, gunicorn and uWSGI;
#   --interface asgi: Junction against granian, uvicorn and hypercorn.
#
#   bash bench/app.sh --interface wsgi          # 3 runs of 10 s per server (about 2.5 min of load)
#   bash bench/app.sh --interface asgi --quick  # smoke check: 1 run of 3 s per server
#   JUNCTION_BIN=build/other/junction bash bench/app.sh --interface wsgi
#   JUNCTION_BASELINE_BIN=/work/baseline/junction bash bench/app.sh --interface asgi   # old build too
#   BENCH_SERVERS="granian gunicorn uwsgi" bash bench/app.sh --interface wsgi   # leave Junction out
#   BENCH_SERVERS="granian uvicorn hypercorn" bash bench/app.sh --interface asgi
#
# The apps are in examples/hello, imported from that directory by every server:
#   * WSGI: app.py (`app`: 200, Content-Type text/plain, an explicit Content-Length, body
#     b"Hello, world!\n"), as the module `app`;
#   * ASGI: asgi_app.py (`app`: the same response; it answers lifespan startup and shutdown at
#     once), as the module `asgi_app`.
# They all run on one CPython build: Debian's /usr/bin/python3 (the one uWSGI's python3 plugin
# is linked against), from one venv, .tools/bench-venv, for both interfaces. Junction is this
# checkout pip-installed into that venv (bench/common.sh, ensure_bench_junction), so it imports
# the same uvloop as the peers; the report names each server's interpreter.
#
# Fairness, for every server:
#   * one process serving requests (plus an idle supervisor where the server insists on one:
#     granian's master, gunicorn's and hypercorn's), pinned with `taskset -c $BENCH_SERVER_CPU`
#     (default 0); wrk runs alone on `taskset -c $BENCH_CLIENT_CPU` (default 1);
#   * access logs off; error logs (warning level where the server has levels) to files;
#   * HTTP/1.1 keep-alive on, no limit on requests per connection, idle timeout >= 2 s (wrk
#     never leaves a connection idle, so the timeout never fires); each server's response head
#     is saved;
#   * WSGI: a pool of $BENCH_THREADS (default 8, Junction's default) Python threads running the
#     app, except uWSGI, see below. All send status, Content-Type and Content-Length; junction,
#     granian and gunicorn add Date and Server (gunicorn also Connection), uWSGI adds nothing;
#   * ASGI: one asyncio event loop running the app, and it is uvloop everywhere (Junction's
#     from the bench venv, like the peers'; the report says which loop Junction got);
#     lifespan on where the server has a switch (the app supports it). The servers all send
#     status, Content-Type, Content-Length, Date and Server.
# Per server, WSGI:
#   * junction: --io-threads 1 --threads 8 --no-access-log, VIRTUAL_ENV unset.
#   * granian (PyPI, Rust/hyper front end): --interface wsgi --workers 1 --runtime-threads 1
#     --blocking-threads 8 --http 1 (wrk speaks HTTP/1.1 only; Junction has no h2c sniffing
#     either); its access log is off by default.
#   * gunicorn (PyPI): -k gthread --workers 1 --threads 8 --keep-alive 5 --http-parser fast
#     (gunicorn_h1c, gunicorn's own optional C parser, so gunicorn runs its fastest
#     configuration; the gunicorn[fast] extra wants gunicorn_h1c>=0.6.14, newer than the
#     latest on PyPI when this was written, 0.6.10, which gunicorn's parser switch accepts, so
#     it is pinned by hand), no control socket; its access log is off by default.
#   * uWSGI (Debian uwsgi-core + uwsgi-plugin-python3): --plugin python3 --processes 1 (no
#     master) --http11-socket --disable-logging --single-interpreter. --http11-socket rather
#     than --http-socket: the latter closes the connection after every response (HTTP/1.0
#     style), which would measure TCP connection set-up instead of the server. uWSGI's
#     keep-alive holds a thread per connection for the connection's life, so it gets
#     --threads $BENCH_CONNECTIONS (64): with 8 threads it would serve 8 of wrk's 64
#     connections and leave 56 unanswered in the listen queue (the throughput is about the
#     same either way; the latency figures would not be comparable).
# Per server, ASGI:
#   * junction: --io-threads 1 --no-access-log --loop uvloop asgi:asgi_app:app, VIRTUAL_ENV
#     unset.
#   * granian (PyPI, Rust/hyper front end): --interface asgi --workers 1 --runtime-threads 1
#     --loop uvloop --http 1 (wrk speaks HTTP/1.1 only); its access log is off by default.
#   * uvicorn[standard] (PyPI): --http httptools --loop uvloop --workers 1 --no-access-log
#     --timeout-keep-alive 5 (httptools, its fastest HTTP/1.1 parser; its default ws
#     implementation is irrelevant here).
#   * hypercorn (PyPI): --worker-class uvloop --workers 1 --keep-alive 5; its access log is
#     off unless asked for. Its HTTP/1.1 is h11, pure Python (it has no faster parser to pick).
# With JUNCTION_BASELINE_BIN (an older Junction build), a second Junction, "junction-baseline",
# runs that binary with the same flags right after junction in every round, and the report adds
# the ratio junction / junction-baseline: a refactored build against the one before, same run.
#
# Method: as bench/run.sh (both go round the servers with bench/common.sh). All servers start
# together (idle ones cost next to nothing); each gets a warm-up run, then the measured runs go
# round the servers (junction, granian, gunicorn, uwsgi, junction, ...; for ASGI granian,
# uvicorn, hypercorn) so drift on this noisy 2-core VM hits all alike. Load: wrk -t1
# -c$BENCH_CONNECTIONS -d${BENCH_DURATION}s GET /. The report gives each run's requests/sec,
# the median, Junction's ratio to each peer (of medians), and, from /proc over all the server's
# processes and threads, its CPU time per request (and the kernel's part), its context switches
# per request and its use of its core. A server near 100% of its core is the bottleneck, as it
# should be; well under that means something else took the core (this VM is shared with builds
# and tests) or the server waited on something, and the report says so, as it does when the
# machine was busy before the runs or wrk saw errors (read errors: the server closed
# connections, i.e. no keep-alive).
#
# Environment: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 3), BENCH_RUNS
# (default 3), BENCH_CONNECTIONS (default 64), BENCH_THREADS (WSGI, default 8),
# BENCH_SERVER_CPU, BENCH_CLIENT_CPU, BENCH_SERVERS (default "junction granian gunicorn uwsgi"
# for WSGI, "junction granian uvicorn hypercorn" for ASGI), BENCH_PYTHON (the peers'
# interpreter and Junction's, default /usr/bin/python3), JUNCTION_BIN (another installed
# `junction` to measure instead; then nothing is built), JUNCTION_BASELINE_BIN (see above; never
# built) and JUNCTION_BASELINE_ARGS (extra flags for it: `--venv .venv` for an older build that
# embedded its Python). The peers
# are installed by this script: Debian packages with apt-get when missing, granian and gunicorn
# (WSGI) or granian, uvicorn[standard], hypercorn and uvloop (ASGI), pinned in bench/common.sh,
# into .tools/bench-venv. Raw wrk output, server logs, each server's response head and
# summary.md go to bench/results/wsgi-<timestamp>/ or asgi-<timestamp>/ (not committed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
# shellcheck source=bench/common.sh
source bench/common.sh

interface="" options=()
while (($#)); do
  case "$1" in
    --interface)
      (($# > 1)) || die "--interface needs wsgi or asgi"
      interface="$2"
      shift 2
      ;;
    --interface=*)
      interface="${1#--interface=}"
      shift
      ;;
    *)
      options+=("$1")
      shift
      ;;
  esac
done
bench_options "${options[@]}"
app_dir="$root/examples/hello"
app_attr=app
expected_body="Hello, world!"
case "$interface" in
  wsgi)
    all="junction granian gunicorn uwsgi"
    app_module=app
    venv_peers="granian gunicorn" # the peers from .tools/bench-venv
    spec=("granian==$GRANIAN_VERSION" "gunicorn==$GUNICORN_VERSION" "gunicorn_h1c==$GUNICORN_H1C_VERSION")
    imports="$app_module"
    ;;
  asgi)
    all="junction granian uvicorn hypercorn"
    app_module=asgi_app
    venv_peers="granian uvicorn hypercorn"
    spec=("granian==$GRANIAN_VERSION" "uvicorn[standard]==$UVICORN_VERSION"
      "httptools==$HTTPTOOLS_VERSION" "hypercorn==$HYPERCORN_VERSION" "uvloop==$UVLOOP_VERSION")
    imports="$app_module, uvloop, httptools"
    ;;
  "") die "which app interface? --interface wsgi or --interface asgi (try --help)" ;;
  *) die "--interface must be wsgi or asgi, not '$interface'" ;;
esac
connections="${BENCH_CONNECTIONS:-64}"
threads="${BENCH_THREADS:-8}"
read -r -a servers <<<"${BENCH_SERVERS:-$all}"
for s in "${servers[@]}"; do
  [[ " $all " == *" $s "* ]] || die "unknown server '$s' in BENCH_SERVERS (for --interface $interface: $all)"
done
((${#servers[@]})) || die "BENCH_SERVERS is empty"
want() { [[ " ${servers[*]} " == *" $1 "* ]]; } # NAME: is this server in the run?
want_venv_peers() {
  local p
  for p in $venv_peers; do want "$p" && return 0; done
  return 1
}
add_baselines servers junction
[[ -f "$app_dir/$app_module.py" ]] || die "the app $app_dir/$app_module.py is missing"

# --- tools and peers ------------------------------------------------------------------------
packages=(wrk curl util-linux python3-venv)
if want uwsgi; then packages+=(uwsgi-core uwsgi-plugin-python3); fi
# shellcheck source=scripts/debian_packages.sh
source scripts/debian_packages.sh
ensure_debian_packages "${packages[@]}"

if want_venv_peers || want junction; then
  ensure_bench_venv ".spec-$interface" "${spec[@]}"
  # The venv imports the app from anywhere (the servers also run from its directory).
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$app_dir" >"$site/junction_bench_app.pth"
  "$venv/bin/python" -c "import $imports; assert callable($app_module.$app_attr)" ||
    die "$venv cannot import $app_module:$app_attr${imports#"$app_module"}"
fi
if want junction; then ensure_bench_junction; fi
for tool in wrk curl taskset setsid; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done

# Junction's flags after --bind (the same for its baseline) and its row's description.
if [[ "$interface" == wsgi ]]; then
  junction_desc="1 I/O thread, $threads WSGI threads"
  junction_args=(--io-threads 1 --threads "$threads" --no-access-log --log-level warning
    --chdir "$app_dir" "$app_module:$app_attr")
else
  pick_junction_loop
  junction_desc="1 I/O thread, $junction_loop"
  junction_args=(--io-threads 1 --no-access-log --log-level warning --loop "$junction_loop"
    --chdir "$app_dir" "asgi:$app_module:$app_attr")
fi

# --- servers --------------------------------------------------------------------------------
results="$root/bench/results/$interface-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
declare -A pid=() port=() desc=()
trap stop_all_servers EXIT
trap 'exit 130' INT TERM

start() { # NAME: start that server of this interface
  local name="$1" target="$app_module:$app_attr"
  case "$interface/$name" in
    */junction | */junction-baseline)
      local bin="$junction" extra=()
      [[ "$name" == junction ]] || bin="$baseline" extra=("${baseline_args[@]}")
      start_server "$name" "$name ($junction_desc)" "$app_dir" \
        env -u VIRTUAL_ENV "$bin" --bind "127.0.0.1:${port[$name]}" "${extra[@]}" "${junction_args[@]}"
      ;;
    wsgi/granian)
      start_server granian "granian (wsgi, 1 worker, $threads blocking threads)" "$app_dir" \
        "$venv/bin/granian" --interface wsgi --host 127.0.0.1 --port "${port[granian]}" --http 1 \
        --workers 1 --runtime-threads 1 --blocking-threads "$threads" --no-access-log \
        --log-level warning --working-dir "$app_dir" "$target"
      ;;
    wsgi/gunicorn)
      start_server gunicorn "gunicorn (gthread, 1 worker, $threads threads)" "$app_dir" \
        "$venv/bin/gunicorn" --bind "127.0.0.1:${port[gunicorn]}" --worker-class gthread \
        --workers 1 --threads "$threads" --keep-alive 5 --http-parser fast --no-control-socket \
        --log-level warning --chdir "$app_dir" "$target"
      ;;
    wsgi/uwsgi)
      start_server uwsgi "uWSGI (1 process, $connections threads, http11-socket)" "$app_dir" \
        uwsgi --plugin python3 --http11-socket "127.0.0.1:${port[uwsgi]}" --processes 1 \
        --threads "$connections" --single-interpreter --disable-logging --die-on-term --need-app \
        --chdir "$app_dir" --module "$target"
      ;;
    asgi/granian)
      start_server granian "granian (asgi, 1 worker, uvloop)" "$app_dir" \
        "$venv/bin/granian" --interface asgi --host 127.0.0.1 --port "${port[granian]}" --http 1 \
        --workers 1 --runtime-threads 1 --loop uvloop --no-access-log --log-level warning \
        --working-dir "$app_dir" "$target"
      ;;
    asgi/uvicorn)
      start_server uvicorn "uvicorn (httptools, uvloop, 1 worker)" "$app_dir" \
        "$venv/bin/uvicorn" --host 127.0.0.1 --port "${port[uvicorn]}" --workers 1 \
        --http httptools --loop uvloop --lifespan on --no-access-log --log-level warning \
        --timeout-keep-alive 5 --app-dir "$app_dir" "$target"
      ;;
    asgi/hypercorn)
      start_server hypercorn "hypercorn (uvloop, 1 worker)" "$app_dir" \
        "$venv/bin/hypercorn" --bind "127.0.0.1:${port[hypercorn]}" --workers 1 \
        --worker-class uvloop --keep-alive 5 --log-level warning "$target"
      ;;
  esac
}
for name in "${servers[@]}"; do port[$name]="$(free_port)"; done
for name in "${servers[@]}"; do start "$name"; done
for name in "${servers[@]}"; do wait_ready "$name" "http://127.0.0.1:${port[$name]}/" "$expected_body"; done

# --- runs -----------------------------------------------------------------------------------
declare -A rps=() cpu=() sys=() csw=() util=()
busy_before="$(busy_percent)"
((busy_before <= 10)) || log "warning: the machine is already ${busy_before}% busy; the numbers will be noisy"
log "results in ${results#"$root"/}; about $(((warmup + runs * duration) * ${#servers[@]}))s of load"
wrk_rounds /
stop_all_servers

# --- report ---------------------------------------------------------------------------------
declare -A med=()
for name in "${servers[@]}"; do med[$name]="$(median <<<"${rps[$name]}")"; done

versions=()
if want junction; then junction_versions junction "$junction"; fi
if want junction-baseline; then junction_versions junction-baseline "$baseline" "$baseline"; fi
if want granian; then versions+=("granian $GRANIAN_VERSION"); fi
peers_python="peers' Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo '?') (${peer_python_exe:-})"
if [[ "$interface" == wsgi ]]; then
  if want gunicorn; then versions+=("gunicorn $GUNICORN_VERSION + gunicorn_h1c $GUNICORN_H1C_VERSION"); fi
  if want uwsgi; then versions+=("uWSGI $(uwsgi --version 2>/dev/null)"); fi
  if want_venv_peers; then versions+=("$peers_python"); fi
  if want uwsgi; then
    versions+=("uWSGI's Python $(dpkg-query -W -f='${Version}' libpython3.11 2>/dev/null || echo '?') (Debian libpython3.11)")
  fi
  load_app="examples/hello (WSGI, 14-byte body)"
else
  if want uvicorn; then versions+=("uvicorn $UVICORN_VERSION + httptools $HTTPTOOLS_VERSION"); fi
  if want hypercorn; then versions+=("hypercorn $HYPERCORN_VERSION"); fi
  if want_venv_peers; then versions+=("uvloop $UVLOOP_VERSION; $peers_python"); fi
  if want junction && [[ "$junction_loop" == uvloop ]]; then
    versions+=("Junction's uvloop $("$junction_python" -c 'import uvloop; print(uvloop.__version__)') (with $junction_python)")
  fi
  load_app="examples/hello/asgi_app.py (ASGI, 14-byte body)"
fi
versions+=("wrk $({ wrk -v 2>&1 || true; } | head -1 | awk '{ print $2 }')")
model="$(cpu_model)"

{
  echo "Machine: $(nproc) cores, ${model:-unknown CPU}; servers on CPU $server_cpu, wrk on CPU $client_cpu."
  joined="$(printf '%s; ' "${versions[@]}")"
  echo "Versions: ${joined%; }."
  echo "Load: wrk -t1 -c$connections -d${duration}s, HTTP/1.1 keep-alive, GET / of $load_app; ${warmup}s warm-up each."
  echo
  echo "| server $(runs_header)| median req/s | CPU µs/req (kernel) | switches/req | core use |"
  echo "| --- $(runs_rule)| ---: | ---: | ---: | ---: |"
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
  report_tail "the runs"
} | tee "$results/summary.md"
write_rows_tsv "$interface-hello"
