#!/usr/bin/env bash
# What observability costs: Junction serving the hello apps (examples/hello: app.py, WSGI, and
# asgi_app.py, ASGI) with metrics and access logs on and off, HTTP/1.1 keep-alive, one I/O
# thread, all on one core.
#
#   bash bench/observability.sh            # 5 runs of 10 s per configuration (about 12 min)
#   bash bench/observability.sh --quick    # smoke check: 1 run of 3 s per configuration
#   BENCH_APPS=asgi bash bench/observability.sh       # one of the apps only
#   BENCH_CONFIGS="off log-json" bash bench/observability.sh   # some configurations only
#   BENCH_PERF=0 bash bench/observability.sh          # without perf (see below)
#   JUNCTION_BIN=.venv/bin/junction bash bench/observability.sh   # an installed junction
#
# Configurations, for each app (wsgi-..., asgi-...), every one `--io-threads 1 --threads 8
# --log-level warning`:
#   * off:          --no-access-log (the baseline);
#   * metrics:      --no-access-log --admin-bind 127.0.0.1:PORT (counters on, nobody scraping);
#   * log:          the default access log format, --access-log-file in the results directory;
#   * log-json:     --access-log-format json, to a file;
#   * metrics+json: both, and a scrape of /metrics every second during the runs (as Prometheus
#                   would, more often than its usual 15 s).
# The goals (docs/operations.md): metrics under 3 % and an access log under 5 % of the
# baseline's requests/s at full load.
#
# Method: the runs go round the configurations (wsgi-off, wsgi-metrics, ..., asgi-off, ...) so
# drift on this noisy VM hits all alike, and every run starts a fresh server, warms it up
# ($BENCH_WARMUP s) and stops it after, so that one slow process cannot bias a whole
# configuration; medians of BENCH_RUNS (default 5) runs.
# Load: wrk -t1 -c$BENCH_CONNECTIONS (default 64) on CPU $BENCH_CLIENT_CPU (1), the servers on
# $BENCH_SERVER_CPU (0). The report gives each configuration's requests/s per run, the median,
# its CPU µs per request and its ratio to its app's `off`.
# This VM moves ±15 % between runs of one configuration, more than the goals, so requests/s
# alone cannot show a cost of a few percent. With perf (BENCH_PERF=1, the default when `perf`
# is installed) every measured run is also sampled (`perf record -F 1999` on the server's
# threads) and the report adds the log's share of the server's CPU: the samples in the access
# log's code (AccessLog, AccessLogFormat, its escaping and clock, fmt's buffer appends) and in
# its writer thread ("junction-log", its write(2) included), less the same symbols' share in
# the app's `off` runs. The module the bench builds keeps its symbol table for this
# (JUNCTION_KEEP_SYMBOLS; with JUNCTION_BIN, an unstripped build gives the figures).
# Raw output, perf data, logs and summary.md go to bench/results/observability-<timestamp>/
# (not committed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
# shellcheck source=bench/common.sh
source bench/common.sh

BENCH_RUNS="${BENCH_RUNS:-5}"
bench_options "$@"
connections="${BENCH_CONNECTIONS:-64}"
read -r -a apps <<<"${BENCH_APPS:-wsgi asgi}"
read -r -a configurations <<<"${BENCH_CONFIGS:-off metrics log log-json metrics+json}"
[[ " ${configurations[*]} " == *" off "* ]] || die "BENCH_CONFIGS must include off (the baseline)"
servers=()
for app in "${apps[@]}"; do
  [[ "$app" == wsgi || "$app" == asgi ]] || die "BENCH_APPS: '$app' is not wsgi or asgi"
  for c in "${configurations[@]}"; do servers+=("$app-$c"); done
done
perf_on="${BENCH_PERF:-$(command -v perf >/dev/null && echo 1 || echo 0)}"
for tool in wrk curl taskset setsid; do command -v "$tool" >/dev/null || die "$tool is missing"; done
[[ "$perf_on" == 0 ]] || command -v perf >/dev/null || die "BENCH_PERF=1 but perf is missing (Debian: linux-perf)"
ensure_bench_junction

results="$root/bench/results/observability-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
declare -A pid=() port=() desc=() admin_port=()
trap 'stop_all_servers; [[ -z "${scraper:-}" ]] || kill "$scraper" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM

app_dir="$root/examples/hello"
common=(--io-threads 1 --threads 8 --log-level warning)
for name in "${servers[@]}"; do
  port[$name]="$(free_port)"
  admin_port[$name]="$(free_port)"
done
# NAME (APP-CONFIGURATION): starts that configuration as a fresh server and waits until it
# answers.
start_config() {
  local name="$1" app="${1%%-*}" config="${1#*-}" extra=() spec
  case "$app" in
    wsgi) spec=app:app ;;
    asgi) spec=asgi:asgi_app:app ;;
  esac
  case "$config" in
    off) extra=(--no-access-log) ;;
    metrics) extra=(--no-access-log --admin-bind "127.0.0.1:${admin_port[$name]}") ;;
    log) extra=(--access-log-file "$results/$name-access.log") ;;
    log-json) extra=(--access-log-format json --access-log-file "$results/$name-access.log") ;;
    metrics+json)
      extra=(--admin-bind "127.0.0.1:${admin_port[$name]}" --access-log-format json
        --access-log-file "$results/$name-access.log")
      ;;
  esac
  start_server "$name" "$name: ${extra[*]//$results\//}" "$app_dir" \
    env -u VIRTUAL_ENV "$junction" --bind "127.0.0.1:${port[$name]}" "${common[@]}" "${extra[@]}" "$spec"
  wait_ready "$name" "http://127.0.0.1:${port[$name]}/" "Hello, world!"
}

# perf beside each measured run (run_wrk calls wrk_probe): the server's threads, sampled for
# the run's length less a second at its start.
if [[ "$perf_on" == 1 ]]; then
  wrk_probe() { # NAME SECONDS OUTFILE
    [[ "$3" != *-warmup-* ]] || return 0
    sleep 1
    perf record -q -F 1999 -p "${pid[$1]}" -o "${3%.txt}.perf" -- sleep "$(($2 - 2))" \
      >/dev/null 2>&1 || true
  }
fi
# PERF_FILE: the share (%) of its samples in the access log's code and its writer thread.
log_share() {
  perf report -i "$1" --no-children --sort comm,sym --stdio -q 2>/dev/null | awk '
    $1 ~ /%$/ {
      share = $1; sub(/%/, "", share)
      if ($2 == "junction-log" || $0 ~ /AccessLog|append_json|append_text|clock_for|fmt::.*buffer<char>::append/)
        total += share
    }
    END { printf "%.2f\n", total }'
}

# Scraping the metrics+json servers once a second for the whole session; each scrape's time is
# kept. (Only answered scrapes count: a server is down between its runs.)
(
  while sleep 1; do
    for app in "${apps[@]}"; do
      [[ -n "${admin_port[$app-metrics+json]:-}" ]] || continue
      if t="$(curl -fs -o /dev/null -w '%{time_total}' "http://127.0.0.1:${admin_port[$app-metrics+json]}/metrics")"; then
        echo "$t" >>"$results/scrape-times.txt"
      fi
    done
  done
) &
scraper=$!

declare -A rps=() cpu=() sys=() csw=() util=() share=()
busy_before="$(busy_percent)"
log "results in ${results#"$root"/}; about $(((warmup + duration) * runs * ${#servers[@]}))s of load"
# Each run has a server of its own, started for it, warmed up and stopped after it: a process
# that happens to run slower (its heap, its threads' placement) stays one run of several, where
# a server kept for the whole session biased every run of its configuration alike.
for i in $(seq "$runs"); do
  for name in "${servers[@]}"; do
    start_config "$name"
    run_wrk "$name" "$warmup" "$results/$name-warmup-$i.txt"
    log "run $i/$runs: $name (${duration}s)"
    run_wrk "$name" "$duration" "$results/$name-$i.txt"
    rps["$name"]+="$last_rps " cpu["$name"]+="$last_cpu " sys["$name"]+="$last_sys "
    csw["$name"]+="$last_csw " util["$name"]+="$last_util "
    [[ "$name" != *-metrics+json ]] ||
      curl -s "http://127.0.0.1:${admin_port[$name]}/metrics" >"$results/$name-metrics.txt" || true
    stop_server "$name"
    # A run writes up to 2 GB of log at this rate: keep its first lines as a sample.
    if [[ -s "$results/$name-access.log" ]]; then
      head -n 1000 "$results/$name-access.log" >"$results/$name-access.sample"
      rm -f "$results/$name-access.log"
    fi
    if [[ -s "$results/$name-$i.perf" ]]; then share["$name"]+="$(log_share "$results/$name-$i.perf") "; fi
  done
done
kill "$scraper" 2>/dev/null || true

declare -A med=() med_share=()
for name in "${servers[@]}"; do
  med[$name]="$(median <<<"${rps[$name]}")"
  [[ -z "${share[$name]:-}" ]] || med_share[$name]="$(median <<<"${share[$name]}")"
done
versions=()
junction_versions junction "$junction"
{
  echo "Machine: $(nproc) cores, $(cpu_model); servers on CPU $server_cpu, wrk on CPU $client_cpu."
  echo "Versions: ${versions[*]}; wrk $({ wrk -v 2>&1 || true; } | head -1 | awk '{ print $2 }')."
  echo "Load: wrk -t1 -c$connections -d${duration}s, HTTP/1.1 keep-alive, GET / of examples/hello (${apps[*]}); ${warmup}s warm-up for each run, each run a fresh server."
  echo
  perf_header="" perf_rule=""
  if ((${#med_share[@]})); then perf_header="| access log's CPU share (perf) " perf_rule="| ---: "; fi
  echo "| configuration $(runs_header)| median req/s | CPU µs/req | vs off $perf_header|"
  echo "| --- $(runs_rule)| ---: | ---: | ---: $perf_rule|"
  for name in "${servers[@]}"; do
    off="${name%%-*}-off" cells=()
    if [[ -n "$perf_header" ]]; then
      if [[ "$name" == *log* || "$name" == *json* ]] && [[ -n "${med_share[$name]:-}" && -n "${med_share[$off]:-}" ]]; then
        cells=("$(awk -v a="${med_share[$name]}" -v b="${med_share[$off]}" 'BEGIN { printf "%.1f%%", a - b }')")
      else
        cells=("")
      fi
    fi
    # shellcheck disable=SC2086
    row "${desc[$name]}" ${rps[$name]} "**${med[$name]}**" "$(median <<<"${cpu[$name]}")" \
      "$(awk -v a="${med[$name]}" -v b="${med[$off]}" 'BEGIN { printf "%.3f", a / b }')" "${cells[@]}"
  done
  if [[ -s "$results/scrape-times.txt" ]]; then
    echo
    echo "Scrapes of /metrics under load: $(wc -l <"$results/scrape-times.txt"), median" \
      "$(awk '{ print $1 * 1000 }' "$results/scrape-times.txt" | median) ms, slowest" \
      "$(awk '{ print $1 * 1000 }' "$results/scrape-times.txt" | sort -g | tail -1) ms (curl's time_total, connection included)."
  fi
  if [[ -n "$perf_header" ]]; then
    echo
    echo "The perf column: median over the runs of the share of the server's samples in the access log's code and writer thread, less the same symbols' share with the log off (the off runs: $(for app in "${apps[@]}"; do printf '%s %s%% ' "$app" "${med_share[$app-off]:-?}"; done))."
  fi
  if ((busy_before > 10)); then
    echo
    echo "Warning: before the runs the machine was already ${busy_before}% busy; the numbers are suspect."
  fi
  warn_wrk_errors "$results"
} | tee "$results/summary.md"
