#!/usr/bin/env bash
# What observability costs: Junction serving the WSGI hello app (examples/hello/app.py) with
# metrics and access logs on and off, HTTP/1.1 keep-alive, one I/O thread, all on one core.
#
#   bash bench/observability.sh            # 5 runs of 10 s per configuration (about 6 min)
#   bash bench/observability.sh --quick    # smoke check: 1 run of 3 s per configuration
#   JUNCTION_BIN=.venv/bin/junction bash bench/observability.sh   # an installed junction
#
# Configurations, every one `--io-threads 1 --threads 8 --log-level warning`:
#   * off:          --no-access-log (the baseline);
#   * metrics:      --no-access-log --admin-bind 127.0.0.1:PORT (counters on, nobody scraping);
#   * log:          the default access log format, --access-log-file in the results directory;
#   * log-json:     --access-log-format json, to a file;
#   * metrics+json: both, and a scrape of /metrics every second during the runs (as Prometheus
#                   would, more often than its usual 15 s).
# The goals (docs/operations.md): metrics under 3 % and an access log under 5 % of the
# baseline's requests/s at full load.
#
# Method: the runs go round the configurations (off, metrics, ..., off, ...) so drift on this
# noisy VM hits all alike, and every run starts a fresh server, warms it up ($BENCH_WARMUP s) and
# stops it after, so that one slow process cannot bias a whole configuration; medians of
# BENCH_RUNS (default 5) runs.
# Load: wrk -t1 -c$BENCH_CONNECTIONS (default 64) on CPU $BENCH_CLIENT_CPU (1), the servers on
# $BENCH_SERVER_CPU (0). The report gives each configuration's requests/s per run, the median,
# its CPU µs per request and its ratio to `off`. Raw output, logs and summary.md go to
# bench/results/observability-<timestamp>/ (not committed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
# shellcheck source=bench/common.sh
source bench/common.sh

BENCH_RUNS="${BENCH_RUNS:-5}"
bench_options "$@"
connections="${BENCH_CONNECTIONS:-64}"
servers=(off metrics log log-json metrics+json)
for tool in wrk curl taskset setsid; do command -v "$tool" >/dev/null || die "$tool is missing"; done
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
# NAME: starts the configuration NAME as a fresh server and waits until it answers.
start_config() {
  local name="$1" extra=()
  case "$name" in
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
    env -u VIRTUAL_ENV "$junction" --bind "127.0.0.1:${port[$name]}" "${common[@]}" "${extra[@]}" app:app
  wait_ready "$name" "http://127.0.0.1:${port[$name]}/" "Hello, world!"
}

# Scraping metrics+json once a second for the whole session; each scrape's time is kept.
# (Only answered scrapes count: that server is down between its runs.)
(
  while sleep 1; do
    if t="$(curl -fs -o /dev/null -w '%{time_total}' "http://127.0.0.1:${admin_port[metrics+json]}/metrics")"; then
      echo "$t" >>"$results/scrape-times.txt"
    fi
  done
) &
scraper=$!

declare -A rps=() cpu=() sys=() csw=() util=()
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
    [[ "$name" != metrics+json ]] ||
      curl -s "http://127.0.0.1:${admin_port[$name]}/metrics" >"$results/metrics.txt" || true
    stop_server "$name"
  done
done
kill "$scraper" 2>/dev/null || true

declare -A med=()
for name in "${servers[@]}"; do med[$name]="$(median <<<"${rps[$name]}")"; done
versions=()
junction_versions junction "$junction"
{
  echo "Machine: $(nproc) cores, $(cpu_model); servers on CPU $server_cpu, wrk on CPU $client_cpu."
  echo "Versions: ${versions[*]}; wrk $({ wrk -v 2>&1 || true; } | head -1 | awk '{ print $2 }')."
  echo "Load: wrk -t1 -c$connections -d${duration}s, HTTP/1.1 keep-alive, GET / of examples/hello (WSGI); ${warmup}s warm-up for each run, each run a fresh server."
  echo
  echo "| configuration $(runs_header)| median req/s | CPU µs/req | vs off |"
  echo "| --- $(runs_rule)| ---: | ---: | ---: |"
  for name in "${servers[@]}"; do
    # shellcheck disable=SC2086
    row "${desc[$name]}" ${rps[$name]} "**${med[$name]}**" "$(median <<<"${cpu[$name]}")" \
      "$(awk -v a="${med[$name]}" -v b="${med[off]}" 'BEGIN { printf "%.3f", a / b }')"
  done
  if [[ -s "$results/scrape-times.txt" ]]; then
    echo
    echo "Scrapes of /metrics under load: $(wc -l <"$results/scrape-times.txt"), median" \
      "$(awk '{ print $1 * 1000 }' "$results/scrape-times.txt" | median) ms, slowest" \
      "$(awk '{ print $1 * 1000 }' "$results/scrape-times.txt" | sort -g | tail -1) ms (curl's time_total, connection included)."
  fi
  if ((busy_before > 10)); then
    echo
    echo "Warning: before the runs the machine was already ${busy_before}% busy; the numbers are suspect."
  fi
  warn_wrk_errors "$results"
} | tee "$results/summary.md"
