#!/usr/bin/env bash
# Every benchmark row against the peers in one command, then the charts:
#   * bench/app.sh --interface wsgi and --interface asgi: hello world, HTTP/1.1 keep-alive,
#     against granian, gunicorn, uWSGI, uvicorn and hypercorn;
#   * bench/http2.sh: hello world over h2c against granian and hypercorn (and nginx);
#   * bench/real_apps.sh: a Django page from a template and a SQLite query, a Flask JSON
#     endpoint, a FastAPI endpoint validating a pydantic body, a 1 MiB streamed response, a
#     response streamed in 64 pieces of 200 B;
#   * bench/tls.sh: full TLS handshakes against nginx, and WSGI and ASGI hello over TLS
#     (HTTP/1.1 keep-alive and HTTP/2) against granian;
#   * bench/memory.sh: RSS per idle keep-alive connection and per idle WebSocket (10,000 of
#     each) against granian and uvicorn;
#   * bench/plot.py: docs/img/bench-headline.png (the README's chart), bench-throughput.png,
#     bench-latency.png and bench-memory.png, from the rows.tsv (memory.tsv) each script wrote
#     in this run.
#
#   bash bench/all.sh            # about 50 min on the 2-core VM of docs/benchmarks.md
#   bash bench/all.sh --quick    # smoke check: one 3 s run per server and row, 1,000
#                                # connections for memory (about 8 min)
#   BENCH_SCRIPTS="app-wsgi real-apps" bash bench/all.sh   # some of them only
#   BENCH_CHARTS=/tmp/charts bash bench/all.sh              # charts elsewhere than docs/img
#
# The scripts' own settings (BENCH_RUNS, BENCH_DURATION, JUNCTION_BIN, BENCH_SERVER_CPU, ...)
# pass through; each one's header explains its servers and their flags. Each script keeps its
# raw output in its own bench/results/<name>-<timestamp>/ (not committed); this one prints
# where they went, and the summary.md of each.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
# shellcheck source=bench/common.sh
source bench/common.sh

quick=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick) ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument '$arg' (try --help)" ;;
  esac
done
read -r -a scripts <<<"${BENCH_SCRIPTS:-app-wsgi app-asgi http2 real-apps tls memory}"
for script in "${scripts[@]}"; do
  case "$script" in
    app-wsgi | app-asgi | http2 | real-apps | tls | memory) ;;
    *) die "BENCH_SCRIPTS: '$script' is not app-wsgi, app-asgi, http2, real-apps, tls or memory" ;;
  esac
done
ensure_bench_venv .spec-plot "matplotlib==$MATPLOTLIB_VERSION"

mkdir -p bench/results
done_dirs=()
for script in "${scripts[@]}"; do
  before="$(ls -1d bench/results/*/ 2>/dev/null || true)"
  log "bench/all.sh: $script"
  case "$script" in
    app-wsgi) bash bench/app.sh --interface wsgi "${quick[@]}" ;;
    app-asgi) bash bench/app.sh --interface asgi "${quick[@]}" ;;
    http2) bash bench/http2.sh "${quick[@]}" ;;
    real-apps) bash bench/real_apps.sh "${quick[@]}" ;;
    tls) bash bench/tls.sh "${quick[@]}" ;;
    memory) bash bench/memory.sh "${quick[@]}" ;;
  esac
  # The directory the script made: the one that was not there before it ran.
  while read -r dir; do
    if [[ -n "$dir" ]] && [[ -s "$dir/rows.tsv" || -s "$dir/memory.tsv" ]]; then
      done_dirs+=("${dir%/}")
    fi
  done < <(comm -13 <(sort <<<"$before") <(ls -1d bench/results/*/ | sort))
done
((${#done_dirs[@]})) || die "no script left a rows.tsv or memory.tsv"
"$venv/bin/python" bench/plot.py --out "${BENCH_CHARTS:-$root/docs/img}" "${done_dirs[@]}"
echo
echo "Results:"
printf '  %s/summary.md\n' "${done_dirs[@]}"
