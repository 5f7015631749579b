#!/usr/bin/env bash
# "Real apps" benchmark, HTTP/1.1 keep-alive: Junction against the peers on framework apps that
# do some work per request, one row at a time (each row starts its own servers and stops them):
#   * django-template (WSGI): a Django view, one ORM query on SQLite (10 rows), a template
#     rendered to 2.2 KB of HTML; against granian and gunicorn;
#   * flask-json (WSGI): a Flask endpoint answering jsonify of a small nested object (469 B);
#     against granian and gunicorn;
#   * fastapi-pydantic (ASGI): a FastAPI POST endpoint validating a JSON body with a pydantic
#     model and answering a response model (105 B); against granian and uvicorn;
#   * wsgi-stream-1mib (WSGI): 1 MiB from a generator of 64 KiB pieces; granian, gunicorn;
#   * asgi-stream-1mib (ASGI): 1 MiB as 16 `more_body` sends of 64 KiB; granian, uvicorn;
#   * wsgi-stream-rows (WSGI): 64 pieces of 200 B from a generator (CSV rows, a template
#     rendered in parts); granian, gunicorn;
#   * asgi-stream-rows (ASGI): the same as 64 `more_body` sends; granian, uvicorn.
#
#   bash bench/real_apps.sh              # 3 runs of 10 s per server and row (about 8 min of load)
#   bash bench/real_apps.sh --quick      # smoke check: 1 run of 3 s per server and row
#   BENCH_ROWS="django-template flask-json" bash bench/real_apps.sh      # some rows only
#   BENCH_SERVERS="junction granian" bash bench/real_apps.sh             # some servers only
#   JUNCTION_BIN=build/other/junction bash bench/real_apps.sh
#   JUNCTION_BASELINE_BIN=/work/baseline/junction bash bench/real_apps.sh   # an old build too
#
# The apps are in bench/apps, imported from that directory by every server (each one's working
# directory and import path):
#   * django_app.py (`application`): settings made in code (DEBUG off, the table-free middleware
#     of startproject, the cached template loader, persistent connections), a 100-row model
#     table in a SQLite file created at import, one file per server process, in the row's
#     results directory ($JUNCTION_BENCH_DB_DIR); GET / renders templates/items.html with the
#     first 10 rows (ORM query ordered by id);
#   * flask_app.py (`app`): GET / returns jsonify of an order (scalars, a nested object, a list
#     of 5 line items);
#   * fastapi_app.py (`app`): POST /items with item.json's body (sent by wrk with
#     post_item.lua: Content-Type application/json, 150 B), validated as the pydantic model
#     `Item` (bounds, a list, a nested model), answered as the response model `Quote`;
#   * stream_app.py (`wsgi_app`, `asgi_app`): GET / streams 16 pieces of 64 KiB, GET /rows 64
#     pieces of 200 B, no Content-Length (every server sends them chunked); the ASGI app answers
#     lifespan at once.
# Each app answers GET /ready with "ready", which the script waits for; before the runs it
# sends each server the row's request once with curl and checks the status (200), a piece of
# the expected body (the size for the streams) and that every server answered the same bytes.
# They all run on one CPython: Debian's /usr/bin/python3, from one venv, .tools/bench-venv,
# where this script pip-installs the frameworks and the peers (pinned in bench/common.sh) and
# Junction is this checkout pip-installed (ensure_bench_junction), so every server imports the
# same Django, Flask, FastAPI, pydantic and uvloop.
#
# Fairness, for every server (as bench/app.sh):
#   * one process serving requests (plus an idle supervisor where the server insists on one:
#     granian's master, gunicorn's), pinned with `taskset -c $BENCH_SERVER_CPU` (default 0);
#     wrk runs alone on `taskset -c $BENCH_CLIENT_CPU` (default 1);
#   * access logs off; error logs (warning level) to files;
#   * HTTP/1.1 keep-alive on, no limit on requests per connection, idle timeout >= 2 s;
#   * WSGI: a pool of $BENCH_THREADS (default 8) Python threads running the app;
#   * ASGI: one uvloop event loop running the app (Junction's from the bench venv, like the
#     peers'; the report says which loop Junction got), lifespan on where there is a switch.
# Per server, WSGI rows:
#   * junction: --io-threads 1 --threads 8 --no-access-log --log-level warning --chdir bench/apps
#     wsgi:MODULE:ATTR (the interface forced: Django's handler is an object), VIRTUAL_ENV unset.
#   * granian: --interface wsgi --workers 1 --runtime-threads 1 --blocking-threads 8 --http 1
#     --no-access-log --log-level warning --working-dir bench/apps.
#   * gunicorn: -k gthread --workers 1 --threads 8 --keep-alive 5 --http-parser fast
#     (gunicorn_h1c) --no-control-socket --log-level warning --chdir bench/apps; its access log
#     is off by default.
# Per server, ASGI rows:
#   * junction: --io-threads 1 --no-access-log --log-level warning --loop uvloop --chdir
#     bench/apps asgi:MODULE:ATTR, VIRTUAL_ENV unset.
#   * granian: --interface asgi --workers 1 --runtime-threads 1 --loop uvloop --http 1
#     --no-access-log --log-level warning --working-dir bench/apps.
#   * uvicorn[standard]: --http httptools --loop uvloop --workers 1 --lifespan on
#     --no-access-log --log-level warning --timeout-keep-alive 5 --app-dir bench/apps.
# bench/app.sh explains these choices (why --http 1, why gunicorn_h1c, ...).
# With JUNCTION_BASELINE_BIN (an older Junction build), "junction-baseline" runs that binary
# with the same flags right after junction in every round, and each row adds the ratio
# junction / junction-baseline.
#
# Method: as bench/app.sh, per row: the row's servers start together; each gets a warm-up run, then
# the measured runs go round them (junction, granian, gunicorn, junction, ...) so drift on this
# noisy 2-core VM hits all alike. Load: wrk -t1 -c$BENCH_CONNECTIONS (default 64) for the framework
# rows and the *-stream-rows rows; the 1 MiB rows use -c$BENCH_STREAM_CONNECTIONS (default 16): each
# response is 1 MiB, so with 64 connections wrk (one thread, which must read every byte) would be
# nearer the bottleneck and the latency would mostly be queueing. The report gives, per row, each
# run's requests/s, the median, the medians of wrk's p50 and p99 latency, and, from /proc over all
# the server's processes and threads, its CPU time and context switches per request and its use of
# its core, then Junction's ratio to each peer (of medians); warnings when the machine was busy
# before the row, a server used under 85% of its core (for the streams wrk may be the limit), or wrk
# saw errors (Non-2xx: the app refused the request; socket errors).
#
# Environment: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 3), BENCH_RUNS
# (default 3), BENCH_CONNECTIONS (default 64), BENCH_STREAM_CONNECTIONS (default 16),
# BENCH_THREADS (WSGI, default 8), BENCH_SERVER_CPU, BENCH_CLIENT_CPU, BENCH_ROWS (default
# "django-template flask-json fastapi-pydantic wsgi-stream-1mib asgi-stream-1mib
# wsgi-stream-rows asgi-stream-rows"),
# BENCH_SERVERS (default "junction granian gunicorn uvicorn"; each row takes those of its
# interface), BENCH_PYTHON (default /usr/bin/python3), JUNCTION_BIN (another installed
# `junction` to measure instead; then nothing is built), JUNCTION_BASELINE_BIN and
# JUNCTION_BASELINE_ARGS (as bench/app.sh). Results: bench/results/real-apps-<timestamp>/
# (not committed): summary.md (every row's table), rows.tsv (a line per server per row, for
# bench/plot.py), and a directory per row with the raw wrk output, the server logs and command
# lines, each server's response head and body for the row's request.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
# shellcheck source=bench/common.sh
source bench/common.sh

bench_options "$@"
apps="$root/bench/apps"
threads="${BENCH_THREADS:-8}"
all_rows="django-template flask-json fastapi-pydantic wsgi-stream-1mib asgi-stream-1mib"
all_rows+=" wsgi-stream-rows asgi-stream-rows"
all_servers="junction granian gunicorn uvicorn"
pick_rows_and_servers "$all_rows" "$all_servers"

# ROW: sets what the row runs and checks: interface, target (MODULE:ATTR in bench/apps), path,
# wrk_script (empty: GET), connections, curl_args (the same request for the check), expect (a
# piece of the body) or expect_size (its length), load (the report's description).
row_settings() {
  wrk_script="" curl_args=() expect="" expect_size="" connections="${BENCH_CONNECTIONS:-64}"
  case "$1" in
    django-template)
      interface=wsgi target=django_app:application path=/ expect="<h1>The first 10 items</h1>"
      load="GET / of bench/apps/django_app.py (an ORM query of 10 rows from SQLite, a Django template, 2200 B of HTML)"
      ;;
    flask-json)
      interface=wsgi target=flask_app:app path=/ expect='"id":12345'
      load="GET / of bench/apps/flask_app.py (jsonify of a nested object, 469 B)"
      ;;
    fastapi-pydantic)
      interface=asgi target=fastapi_app:app path=/items expect='"total":29.97'
      wrk_script="$apps/post_item.lua"
      curl_args=(-H "Content-Type: application/json" --data-binary "@$apps/item.json")
      load="POST /items of bench/apps/fastapi_app.py with bench/apps/item.json (pydantic in, response model out, 105 B; wrk -s post_item.lua)"
      ;;
    wsgi-stream-1mib | asgi-stream-1mib)
      interface="${1%%-*}" path=/ expect_size=1048576
      target="stream_app:${interface}_app"
      connections="${BENCH_STREAM_CONNECTIONS:-16}"
      if [[ "$interface" == wsgi ]]; then
        load="GET / of bench/apps/stream_app.py:wsgi_app (a generator of 16 × 64 KiB, chunked)"
      else
        load="GET / of bench/apps/stream_app.py:asgi_app (16 sends of 64 KiB with more_body, chunked)"
      fi
      ;;
    wsgi-stream-rows | asgi-stream-rows)
      interface="${1%%-*}" path=/rows expect_size=12800
      target="stream_app:${interface}_app"
      if [[ "$interface" == wsgi ]]; then
        load="GET /rows of bench/apps/stream_app.py:wsgi_app (a generator of 64 × 200 B, chunked)"
      else
        load="GET /rows of bench/apps/stream_app.py:asgi_app (64 sends of 200 B with more_body, chunked)"
      fi
      ;;
  esac
}

# --- tools, frameworks and peers ------------------------------------------------------------
# shellcheck source=scripts/debian_packages.sh
source scripts/debian_packages.sh
ensure_debian_packages wrk curl util-linux python3-venv
for tool in wrk curl taskset setsid sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done
ensure_bench_venv .spec-real-apps "granian==$GRANIAN_VERSION" "gunicorn==$GUNICORN_VERSION" \
  "gunicorn_h1c==$GUNICORN_H1C_VERSION" "uvicorn[standard]==$UVICORN_VERSION" \
  "httptools==$HTTPTOOLS_VERSION" "uvloop==$UVLOOP_VERSION" "Django==$DJANGO_VERSION" \
  "Flask==$FLASK_VERSION" "fastapi==$FASTAPI_VERSION" "starlette==$STARLETTE_VERSION" \
  "pydantic==$PYDANTIC_VERSION"
if want junction; then ensure_bench_junction; fi

out="$root/bench/results/real-apps-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
# The apps import in the venv, from their directory (django_app makes its database at import).
(cd "$apps" && JUNCTION_BENCH_DB_DIR="$out" "$venv/bin/python" -c \
  'import django_app, flask_app, fastapi_app, stream_app, uvloop, httptools') ||
  die "$venv cannot import the apps of $apps"

pick_junction_loop

# --- servers --------------------------------------------------------------------------------
declare -A pid=() port=() desc=()
trap stop_all_servers EXIT
trap 'exit 130' INT TERM

start() { # NAME: start that server for the row's interface and target
  local name="$1"
  case "$interface/$name" in
    */junction | */junction-baseline)
      local bin="$junction" extra=() args
      [[ "$name" == junction ]] || bin="$baseline" extra=("${baseline_args[@]}")
      if [[ "$interface" == wsgi ]]; then
        desc[$name]="$name (1 I/O thread, $threads WSGI threads)"
        args=(--io-threads 1 --threads "$threads" --no-access-log --log-level warning
          --chdir "$apps" "wsgi:$target")
      else
        desc[$name]="$name (1 I/O thread, $junction_loop)"
        args=(--io-threads 1 --no-access-log --log-level warning --loop "$junction_loop"
          --chdir "$apps" "asgi:$target")
      fi
      start_server "$name" "${desc[$name]}" "$apps" \
        env -u VIRTUAL_ENV "$bin" --bind "127.0.0.1:${port[$name]}" "${extra[@]}" "${args[@]}"
      ;;
    wsgi/granian)
      start_server granian "granian (wsgi, 1 worker, $threads blocking threads)" "$apps" \
        "$venv/bin/granian" --interface wsgi --host 127.0.0.1 --port "${port[granian]}" --http 1 \
        --workers 1 --runtime-threads 1 --blocking-threads "$threads" --no-access-log \
        --log-level warning --working-dir "$apps" "$target"
      ;;
    wsgi/gunicorn)
      start_server gunicorn "gunicorn (gthread, 1 worker, $threads threads)" "$apps" \
        "$venv/bin/gunicorn" --bind "127.0.0.1:${port[gunicorn]}" --worker-class gthread \
        --workers 1 --threads "$threads" --keep-alive 5 --http-parser fast --no-control-socket \
        --log-level warning --chdir "$apps" "$target"
      ;;
    asgi/granian)
      start_server granian "granian (asgi, 1 worker, uvloop)" "$apps" \
        "$venv/bin/granian" --interface asgi --host 127.0.0.1 --port "${port[granian]}" --http 1 \
        --workers 1 --runtime-threads 1 --loop uvloop --no-access-log --log-level warning \
        --working-dir "$apps" "$target"
      ;;
    asgi/uvicorn)
      start_server uvicorn "uvicorn (httptools, uvloop, 1 worker)" "$apps" \
        "$venv/bin/uvicorn" --host 127.0.0.1 --port "${port[uvicorn]}" --workers 1 \
        --http httptools --loop uvloop --lifespan on --no-access-log --log-level warning \
        --timeout-keep-alive 5 --app-dir "$apps" "$target"
      ;;
  esac
}

# NAME: the row's request once with curl: status 200, the expected piece of the body (or its
# size), and the same bytes as the first server checked (reference_sum). Keeps the response head
# and, but for the streams, the body in the row's directory.
check_response() {
  local name="$1" code body sum
  body="$results/$name-body"
  code="$(curl -sS --max-time 10 "${curl_args[@]}" -D "$results/$name-response-head.txt" \
    -o "$body" -w '%{http_code}' "http://127.0.0.1:${port[$name]}$path")" ||
    die "$name: curl $path failed"
  [[ "$code" == 200 ]] || die "$name answered $path with $code, not 200 (body: $body)"
  if [[ -n "$expect" ]] && ! grep -qF -- "$expect" "$body"; then
    die "$name: the body of $path lacks '$expect' (body: $body)"
  fi
  if [[ -n "$expect_size" && "$(stat -c %s "$body")" != "$expect_size" ]]; then
    die "$name: the body of $path is $(stat -c %s "$body") bytes, not $expect_size"
  fi
  sum="$(sha256sum <"$body" | cut -d' ' -f1)"
  [[ -z "$expect_size" ]] || rm -f "$body"
  if [[ -z "$reference_sum" ]]; then
    reference_sum="$sum" reference_name="$name"
  elif [[ "$sum" != "$reference_sum" ]]; then
    die "$name answered $path with other bytes than $reference_name (see $results)"
  fi
}

# --- versions -------------------------------------------------------------------------------
versions=()
if want junction; then junction_versions junction "$junction"; fi
if want junction && [[ -n "${JUNCTION_BASELINE_BIN:-}" ]]; then
  add_baselines wanted junction # sets `baseline`, adds junction-baseline after junction
  junction_versions junction-baseline "$baseline" "$baseline"
fi
if want granian; then versions+=("granian $GRANIAN_VERSION"); fi
if want gunicorn; then versions+=("gunicorn $GUNICORN_VERSION + gunicorn_h1c $GUNICORN_H1C_VERSION"); fi
if want uvicorn; then versions+=("uvicorn $UVICORN_VERSION + httptools $HTTPTOOLS_VERSION"); fi
# The frameworks as installed (with the dependencies that matter most to their speed).
versions+=("$("$venv/bin/python" - <<'EOF'
from importlib.metadata import version as v

print("; ".join(" + ".join(f"{name} {v(name)}" for name in group) for group in (
    ["Django"], ["Flask", "Werkzeug", "Jinja2"], ["fastapi", "starlette"],
    ["pydantic", "pydantic_core"], ["uvloop"])))
EOF
)")
versions+=("Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())') ($peer_python_exe) for every server")
if want junction && [[ "$junction_loop" != uvloop ]]; then versions+=("Junction's ASGI loop: asyncio"); fi
versions+=("wrk $({ wrk -v 2>&1 || true; } | head -1 | awk '{ print $2 }')")
model="$(cpu_model)"
{
  echo "# Real apps: Junction against the peers"
  echo
  echo "Machine: $(nproc) cores, ${model:-unknown CPU}; servers on CPU $server_cpu, wrk on CPU $client_cpu."
  joined="$(printf '%s; ' "${versions[@]}")"
  echo "Versions: ${joined%; }."
  echo "Load: wrk -t1 -d${duration}s, HTTP/1.1 keep-alive, ${warmup}s warm-up each, $runs run(s) going round the servers; connections per row below."
} | tee "$out/summary.md"

# --- the rows, one at a time ----------------------------------------------------------------
log "results in ${out#"$root"/}"
for row_name in "${rows[@]}"; do
  row_settings "$row_name"
  servers=()
  for s in "${wanted[@]}"; do
    case "$interface/$s" in
      */junction | */junction-baseline | */granian | wsgi/gunicorn | asgi/uvicorn) servers+=("$s") ;;
    esac
  done
  if ((${#servers[@]} == 0)); then
    log "warning: no server of BENCH_SERVERS serves $interface; row $row_name left out"
    continue
  fi
  results="$out/$row_name"
  mkdir -p "$results"
  export JUNCTION_BENCH_DB_DIR="$results" # django_app's SQLite files, one per server process
  desc=() port=()
  for name in "${servers[@]}"; do port[$name]="$(free_port)"; done
  log "row $row_name: starting ${servers[*]}"
  for name in "${servers[@]}"; do start "$name"; done
  reference_sum="" reference_name=""
  for name in "${servers[@]}"; do
    wait_ready "$name" "http://127.0.0.1:${port[$name]}/ready" ready
    check_response "$name"
  done

  declare -A rps=() cpu=() sys=() csw=() util=() p50=() p99=()
  busy_before="$(busy_percent)"
  ((busy_before <= 10)) || log "warning: the machine is already ${busy_before}% busy; the numbers will be noisy"
  log "row $row_name: wrk -c$connections, about $(((warmup + runs * duration) * ${#servers[@]}))s of load"
  wrk_rounds "$path"
  stop_all_servers

  declare -A med=()
  for name in "${servers[@]}"; do med[$name]="$(median <<<"${rps[$name]}")"; done
  {
    echo
    echo "## $row_name ($interface)"
    echo
    echo "Load: wrk -t1 -c$connections, $load."
    echo
    echo "| server $(runs_header)| median req/s | p50 ms | p99 ms | CPU µs/req (kernel) | switches/req | core use |"
    echo "| --- $(runs_rule)| ---: | ---: | ---: | ---: | ---: | ---: |"
    for name in "${servers[@]}"; do
      # shellcheck disable=SC2086
      row "${desc[$name]}" ${rps[$name]} "**${med[$name]}**" "$(median <<<"${p50[$name]}")" \
        "$(median <<<"${p99[$name]}")" "$(median <<<"${cpu[$name]}") ($(median <<<"${sys[$name]}"))" \
        "$(median <<<"${csw[$name]}")" "$(median <<<"${util[$name]}")%"
    done
    report_tail "this row"
  } | tee -a "$out/summary.md"
  results="$out" write_rows_tsv "$row_name"
done
{
  echo
  echo "p50, p99: wrk's latency percentiles (ms). CPU µs/req: the server's CPU time (all processes"
  echo "and threads, user + kernel; kernel in brackets) per request; switches/req: its threads'"
  echo "context switches per request; core use: its CPU time over the run's wall time. Medians over"
  echo "the runs."
} | tee -a "$out/summary.md"
[[ -s "$out/rows.tsv" ]] || die "no row was measured"
log "results in ${out#"$root"/} (summary.md, rows.tsv)"
