# Sourced by bench/http2.sh and bench/tls.sh: starting, pinning and stopping servers, and the /proc counters and
# medians of the report. The caller sets `results` (a directory), `server_cpu`, and declares the
# associative arrays `pid`, `port` and `desc`; `log` and `die` are defined here.

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf '%s: %s\n' "$(basename "$0")" "$*" >&2
  exit 1
}

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

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() { # NAME DESCRIPTION DIR COMMAND...: run it in DIR, pinned, in its own process group
  local name="$1" dir="$3"
  desc[$name]="$2"
  shift 3
  printf '%q ' "$@" >"$results/$name.cmd"
  echo >>"$results/$name.cmd"
  # setsid: the server leads a new process group, so stop_server also ends its workers.
  (cd "$dir" && exec setsid taskset -c "$server_cpu" "$@") >"$results/$name.log" 2>&1 </dev/null &
  pid[$name]=$!
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

counters() { # PGID: "utime stime switches" summed over every process and thread in the group
  local p total_u=0 total_s=0 stat rest f
  for p in $(pgrep -g "$1" || true); do
    stat="$(cat "/proc/$p/stat" 2>/dev/null)" || continue
    rest="${stat##*) }" # fields from 3 on; comm may hold spaces
    read -r -a f <<<"$rest"
    total_u=$((total_u + f[11])) total_s=$((total_s + f[12])) # utime, stime (fields 14, 15)
  done
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

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
