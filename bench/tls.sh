#!/usr/bin/env bash
# TLS termination benchmark: Junction against nginx (front end only) and granian (WSGI and
# ASGI), every server on one core, all with the same certificate, in one run.
#
#   bash bench/tls.sh                       # 3 runs of 10 s per test and target (about 7 min)
#   bash bench/tls.sh --quick               # smoke check: 1 run of 3 s each (about 1 min)
#   JUNCTION_BIN=build/other/junction bash bench/tls.sh
#   BENCH_TLS_KEY=ec bash bench/tls.sh      # ECDSA P-256 instead of RSA 2048
#   JUNCTION_BASELINE_BIN=/work/baseline/junction bash bench/tls.sh   # old build too
#
# Pairs (the first of each is Junction):
#   * junction-health / nginx: Junction's built-in health path (GET /healthz -> 200 "ok", no
#     Python) against nginx's `location = /healthz { return 200 "ok"; }`: the TLS and HTTP
#     front end alone.
#   * junction-wsgi / granian: GET / of examples/hello/app.py (14 bytes, as bench/app.sh
#     --interface wsgi) on Junction and on granian (Rust: hyper + rustls), both with 8 Python
#     threads.
#   * junction-asgi / granian-asgi: GET / of examples/hello/asgi_app.py (as bench/app.sh
#     --interface asgi) on a second Junction process and on granian, both on uvloop.
# Junction is one process serving both of its WSGI-side targets (--health-path /healthz and the app).
# With JUNCTION_BASELINE_BIN (an older Junction build), a second process, junction-baseline,
# runs that binary with the same flags and serves the twin targets junction-health-baseline and
# junction-wsgi-baseline, each right after its twin in every round; the report adds the ratios
# junction-health / junction-health-baseline and junction-wsgi / junction-wsgi-baseline.
#
# Certificate: one self-signed certificate for localhost/127.0.0.1, made in the results
# directory with openssl for every run: RSA 2048 (the common edge set-up; BENCH_TLS_KEY=ec for
# ECDSA P-256), key in PKCS#8 (granian requires it). Every server allows TLS 1.2 and 1.3; every
# client here negotiates TLS 1.3 with an X25519 key share (the report names the cipher).
#
# Servers (one process each serving requests, pinned with `taskset -c $BENCH_SERVER_CPU`,
# access logs off, error logs at warning into the results directory):
#   * junction: --tls-cert --tls-key --http auto (ALPN h2 and http/1.1) --io-threads 1
#     --threads 8 --backlog 1000 (twice the streams h2load keeps open: no 503) --health-path
#     /healthz --no-access-log, VIRTUAL_ENV unset.
#   * nginx (Debian nginx-light): worker_processes 1, master_process off, `listen ... ssl
#     http2` (or `http2 on` from nginx 1.25.1), ssl_protocols TLSv1.2 TLSv1.3,
#     ssl_session_tickets on, keepalive_requests unbounded, config, pid and temp paths in the
#     results directory (it does not read /etc/nginx).
#   * junction-asgi: the same flags, with --loop uvloop asgi:asgi_app:app instead of the WSGI
#     app and --threads.
#   * granian (pinned in bench/common.sh, in .tools/bench-venv): --interface wsgi --http auto
#     (ALPN h2 and http/1.1) --workers 1 --runtime-threads 1 --blocking-threads 8
#     --ssl-certificate --ssl-keyfile --ssl-protocol-min tls1.2 (its default is 1.3 only).
#     granian-asgi: --interface asgi --loop uvloop and the same TLS flags.
#
# Tests (load generator on `taskset -c $BENCH_CLIENT_CPU`, each run $BENCH_DURATION s):
#   1. handshake: full TLS handshakes per second, one request per connection. wrk with
#      `Connection: close` and `h2load --h1` with reconnects both RESUME the TLS session on
#      every connection after the first (checked: nginx logs $ssl_session_reused = "r" for all
#      but the first 50), and `openssl s_time -new` (full handshakes, one at a time) costs the
#      client more CPU per handshake than nginx spends on the server side with OpenSSL 3.0, so
#      it measures the client. This script therefore builds a small Go client (source below,
#      Go standard library only; Debian's golang-go): $BENCH_CONNECTIONS goroutines each loop
#      over dial, a new tls.Client whose config has no ClientSessionCache (it never offers a
#      session, so every handshake is full: the server signs with its key each time; the client
#      counts any resumption it sees, and the report shows it), X25519, ALPN http/1.1,
#      `GET PATH HTTP/1.1` with `Connection: close`, read the whole response, close. It costs
#      about 2/3 of nginx's CPU per RSA-2048 handshake, so the server's core is the limit; the
#      report also gives each server's CPU time per connection, which does not depend on that.
#   2. keepalive: HTTP/1.1 keep-alive over TLS: wrk -t1 -c$BENCH_CONNECTIONS (50) -d${D}s.
#   3. h2: HTTP/2 over TLS (ALPN h2): h2load -t1 -c$BENCH_CONNECTIONS -m$BENCH_STREAMS (10)
#      -D ${D}s; req/s counts successful requests only.
#
# Method as the other bench scripts: all servers start together; each (test, target) gets a
# warm-up run; then the measured runs go round tests and targets (handshake: junction-health,
# nginx, junction-wsgi, granian; keepalive: ...; then run 2) so drift on this noisy VM hits
# all alike. The report gives each run's rate, the median, Junction's ratios (of medians) with
# the target (at least 0.9 x nginx), and from /proc the server's CPU time per request (per
# connection for the handshake test) and its use of its core (well under 100%: the server was
# not the bottleneck, or something else took the core).
#
# Environment: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 3), BENCH_RUNS (3),
# BENCH_CONNECTIONS (50), BENCH_STREAMS (10), BENCH_THREADS (8), BENCH_TESTS (default
# "handshake keepalive h2"), BENCH_TARGETS (default "junction-health nginx junction-wsgi
# granian junction-asgi granian-asgi"), BENCH_TLS_KEY (rsa | ec), BENCH_SERVER_CPU (0), BENCH_CLIENT_CPU (1), JUNCTION_BIN
# (another installed `junction` to measure; by default this checkout is pip-installed into
# .tools/bench-venv beside granian, see bench/common.sh), JUNCTION_BASELINE_BIN (see above; never
# built), JUNCTION_BASELINE_ARGS (extra flags for it), BENCH_PYTHON (granian's and Junction's
# interpreter, default /usr/bin/python3). Raw outputs, server logs and
# configs, the certificate and summary.md go to bench/results/tls-<timestamp>/ (not committed),
# with rows.tsv for bench/plot.py: tls-handshake (junction-health against nginx),
# tls-wsgi-keepalive and tls-asgi-keepalive (against granian), tls-wsgi-h2 and tls-asgi-h2.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
# shellcheck source=bench/common.sh
source bench/common.sh

bench_options "$@"
connections="${BENCH_CONNECTIONS:-50}"
streams="${BENCH_STREAMS:-10}"
threads="${BENCH_THREADS:-8}"
key_type="${BENCH_TLS_KEY:-rsa}"
case "$key_type" in rsa | ec) ;; *) die "BENCH_TLS_KEY must be rsa or ec, not '$key_type'" ;; esac
all_tests="handshake keepalive h2"
all_targets="junction-health nginx junction-wsgi granian junction-asgi granian-asgi"
read -r -a tests <<<"${BENCH_TESTS:-$all_tests}"
read -r -a targets <<<"${BENCH_TARGETS:-$all_targets}"
((${#tests[@]})) || die "BENCH_TESTS is empty"
((${#targets[@]})) || die "BENCH_TARGETS is empty"
for t in "${tests[@]}"; do [[ " $all_tests " == *" $t "* ]] || die "unknown test '$t' in BENCH_TESTS"; done
for t in "${targets[@]}"; do [[ " $all_targets " == *" $t "* ]] || die "unknown target '$t' in BENCH_TARGETS"; done
want() { [[ " ${targets[*]} " == *" $1 "* ]]; }
want_test() { [[ " ${tests[*]} " == *" $1 "* ]]; }
want_junction() { want junction-health || want junction-wsgi || want junction-asgi; }
add_baselines targets junction-health junction-wsgi
app_dir="$root/examples/hello"

# The server process behind each target, its path and the body it must answer.
declare -A server_of=([junction-health]=junction [junction-wsgi]=junction [nginx]=nginx [granian]=granian
  [junction-asgi]=junction-asgi [granian-asgi]=granian-asgi)
declare -A path_of=([junction-health]=/healthz [junction-wsgi]=/ [nginx]=/healthz [granian]=/
  [junction-asgi]=/ [granian-asgi]=/)
declare -A body_of=([junction-health]=ok [junction-wsgi]="Hello, world!" [nginx]=ok [granian]="Hello, world!"
  [junction-asgi]="Hello, world!" [granian-asgi]="Hello, world!")
for target in junction-health junction-wsgi; do
  server_of[$target-baseline]=junction-baseline path_of[$target-baseline]="${path_of[$target]}"
  body_of[$target-baseline]="${body_of[$target]}"
done
# The Junction processes to start: junction, and junction-baseline with JUNCTION_BASELINE_BIN.
junctions=()
if want junction-health || want junction-wsgi; then junctions+=(junction); fi
if want junction-asgi; then junctions+=(junction-asgi); fi
if want junction-health-baseline || want junction-wsgi-baseline; then junctions+=(junction-baseline); fi
declare -A binary_of=([junction-baseline]="${baseline:-}")

# --- tools and peers ------------------------------------------------------------------------
packages=(wrk curl util-linux openssl)
want nginx && packages+=(nginx-light)
want_test h2 && packages+=(nghttp2-client)
want_test handshake && packages+=(golang-go)
{ want granian || want granian-asgi; } && packages+=(python3-venv)
# shellcheck source=scripts/debian_packages.sh
source scripts/debian_packages.sh
ensure_debian_packages "${packages[@]}"
for tool in wrk curl openssl taskset setsid; do command -v "$tool" >/dev/null || die "$tool is missing"; done
want_test h2 && { command -v h2load >/dev/null || die "h2load is missing"; }
want nginx && { command -v nginx >/dev/null || die "nginx is missing"; }
if want granian || want granian-asgi || want junction-asgi; then
  ensure_bench_venv .spec-tls "granian==$GRANIAN_VERSION" "uvloop==$UVLOOP_VERSION"
fi
if want_junction; then
  ensure_bench_junction
  binary_of[junction]="$junction" binary_of[junction-asgi]="$junction"
fi
for server in "${junctions[@]}"; do
  bin="${binary_of[$server]}"
  [[ -x "$bin" ]] || die "no Junction binary at $bin"
  junction_help="$("$bin" --help 2>&1 || true)" # not piped into grep -q: SIGPIPE with pipefail
  [[ "$junction_help" == *--tls-cert* ]] || die "$bin has no --tls-cert option (built without TLS termination?)"
done

results="$root/bench/results/tls-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
declare -A pid=() port=() desc=()
trap stop_all_servers EXIT
trap 'exit 130' INT TERM

# --- the handshake client -------------------------------------------------------------------
hs_client="$results/tls-handshakes"
if want_test handshake; then
  go=/usr/lib/go/bin/go # Debian's golang-go, as scripts/setup.sh uses for h2spec
  [[ -x "$go" ]] || go="$(command -v go || true)"
  [[ -n "$go" ]] || die "no Go toolchain (Debian golang-go) to build the handshake client"
  mkdir -p "$results/tls-handshakes-src"
  printf 'module tlshandshakes\n\ngo 1.19\n' >"$results/tls-handshakes-src/go.mod"
  cat >"$results/tls-handshakes-src/main.go" <<'GO'
// Full TLS handshakes per second (bench/tls.sh). Each of -c workers loops until -d is over:
// dial TCP, a new tls.Client whose config has no ClientSessionCache (so it never offers a
// session ticket or ID: every handshake is a full one), one GET with Connection: close, read
// the whole response, close. Prints the counts and "Connections/sec" (completed exchanges
// over the wall time until the last worker finished).
package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "host:port")
	path := flag.String("path", "/", "request path")
	host := flag.String("host", "localhost", "SNI and Host")
	conns := flag.Int("c", 50, "concurrent connections")
	dur := flag.Duration("d", 10*time.Second, "duration")
	flag.Parse()
	cfg := &tls.Config{
		ServerName:         *host,
		InsecureSkipVerify: true, // self-signed; the server's handshake signature is still checked
		NextProtos:         []string{"http/1.1"},
		CurvePreferences:   []tls.CurveID{tls.X25519},
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: nil, // no resumption
	}
	req := []byte("GET " + *path + " HTTP/1.1\r\nHost: " + *host + "\r\nConnection: close\r\n\r\n")
	var ok, fail, resumed, non200 int64
	var firstErr, version, cipher atomic.Value
	start := time.Now()
	deadline := start.Add(*dur)
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				err := func() error {
					raw, err := net.DialTimeout("tcp", *addr, 5*time.Second)
					if err != nil {
						return err
					}
					defer raw.Close()
					raw.SetDeadline(time.Now().Add(10 * time.Second))
					c := tls.Client(raw, cfg)
					if err := c.Handshake(); err != nil {
						return err
					}
					st := c.ConnectionState()
					if st.DidResume {
						atomic.AddInt64(&resumed, 1)
					}
					version.Store(st.Version)
					cipher.Store(st.CipherSuite)
					if _, err := c.Write(req); err != nil {
						return err
					}
					resp, err := http.ReadResponse(bufio.NewReader(c), nil)
					if err != nil {
						return err
					}
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil {
						return err
					}
					if resp.StatusCode != 200 {
						atomic.AddInt64(&non200, 1)
					}
					return nil
				}()
				if err != nil {
					atomic.AddInt64(&fail, 1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					atomic.AddInt64(&ok, 1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	v, _ := version.Load().(uint16)
	cs, _ := cipher.Load().(uint16)
	names := map[uint16]string{tls.VersionTLS12: "TLSv1.2", tls.VersionTLS13: "TLSv1.3"}
	fmt.Printf("handshakes: %d ok, %d failed, %d resumed, %d non-200 in %.3fs\n", ok, fail, resumed, non200, elapsed)
	fmt.Printf("tls: %s %s, %d connections at a time\n", names[v], tls.CipherSuiteName(cs), *conns)
	if e := firstErr.Load(); e != nil {
		fmt.Printf("first error: %s\n", e)
	}
	fmt.Printf("Connections/sec: %.1f\n", float64(ok)/elapsed)
	if ok == 0 {
		os.Exit(1)
	}
}
GO
  log "building the handshake client with $("$go" version)"
  (cd "$results/tls-handshakes-src" && GOTOOLCHAIN=local GOFLAGS='' "$go" build -o "$hs_client" .) >&2 ||
    die "could not build the handshake client ($results/tls-handshakes-src)"
fi

# --- certificate ----------------------------------------------------------------------------
cert="$results/cert.pem" key="$results/key.pem"
if [[ "$key_type" == rsa ]]; then
  key_args=(-newkey rsa:2048) key_desc="RSA 2048"
else
  key_args=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) key_desc="ECDSA P-256"
fi
openssl req -x509 "${key_args[@]}" -nodes -keyout "$key" -out "$cert" -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >"$results/openssl-req.log" 2>&1 ||
  die "openssl could not make the certificate ($results/openssl-req.log)"
grep -q 'BEGIN PRIVATE KEY' "$key" || die "$key is not PKCS#8 (granian needs PKCS#8)"

# --- servers --------------------------------------------------------------------------------
for server in "${junctions[@]}"; do port[$server]="$(free_port)"; done
want nginx && port[nginx]="$(free_port)"
want granian && port[granian]="$(free_port)"
want granian-asgi && port[granian-asgi]="$(free_port)"

for server in "${junctions[@]}"; do
  extra=() app=(--threads "$threads" --backlog $((connections * streams * 2)) app:app)
  what="$threads WSGI threads"
  [[ "$server" != junction-baseline ]] || extra=("${baseline_args[@]}")
  [[ "$server" != junction-asgi ]] || app=(--loop uvloop asgi:asgi_app:app) what="ASGI on uvloop"
  start_server "$server" "$server (1 I/O thread, $what)" "$app_dir" \
    env -u VIRTUAL_ENV "${binary_of[$server]}" --bind "127.0.0.1:${port[$server]}" "${extra[@]}" --tls-cert "$cert" \
    --tls-key "$key" --http auto --io-threads 1 --health-path /healthz --no-access-log \
    --log-level warning --chdir "$app_dir" "${app[@]}"
done
if want nginx; then
  ng="$results/nginx"
  mkdir -p "$ng"
  nginx_version="$(nginx -v 2>&1 | sed 's|.*/||')"
  # `listen ... http2` is deprecated from 1.25.1, which has `http2 on;` instead.
  if printf '%s\n' 1.25.1 "$nginx_version" | sort -V -C; then
    listen="listen 127.0.0.1:${port[nginx]} ssl; http2 on;"
  else
    listen="listen 127.0.0.1:${port[nginx]} ssl http2;"
  fi
  temp_paths="$(nginx_temp_paths "$(command -v nginx)" "$ng")"$'\n'
  cat >"$ng/nginx.conf" <<CONF
# Written by bench/tls.sh: one process, no access log, TLS 1.2 and 1.3 with h2 and http/1.1.
worker_processes 1;
master_process off;
daemon off;
pid $ng/nginx.pid;
error_log $results/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
$temp_paths  keepalive_requests 1000000000;
  ssl_certificate $cert;
  ssl_certificate_key $key;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_tickets on;
  server {
    $listen
    location = /healthz { default_type text/plain; return 200 "ok"; }
  }
}
CONF
  start_server nginx "nginx $nginx_version (return 200, 1 worker)" "$ng" \
    nginx -p "$ng" -e "$results/nginx-error.log" -c "$ng/nginx.conf"
fi
if want granian; then
  start_server granian "granian $GRANIAN_VERSION (wsgi, 1 worker, $threads blocking threads)" "$app_dir" \
    "$venv/bin/granian" --interface wsgi --host 127.0.0.1 --port "${port[granian]}" --http auto \
    --workers 1 --runtime-threads 1 --blocking-threads "$threads" --no-access-log \
    --log-level warning --ssl-certificate "$cert" --ssl-keyfile "$key" --ssl-protocol-min tls1.2 \
    --working-dir "$app_dir" app:app
fi
if want granian-asgi; then
  start_server granian-asgi "granian $GRANIAN_VERSION (asgi, 1 worker, uvloop)" "$app_dir" \
    "$venv/bin/granian" --interface asgi --host 127.0.0.1 --port "${port[granian-asgi]}" --http auto \
    --workers 1 --runtime-threads 1 --loop uvloop --no-access-log \
    --log-level warning --ssl-certificate "$cert" --ssl-keyfile "$key" --ssl-protocol-min tls1.2 \
    --working-dir "$app_dir" asgi_app:app
fi

url_of() { echo "https://127.0.0.1:${port[${server_of[$1]}]}${path_of[$1]}"; }
for target in "${targets[@]}"; do
  server="${server_of[$target]}" url="$(url_of "$target")"
  for i in $(seq 201); do
    [[ "$(curl -fsSk --http1.1 --max-time 1 "$url" 2>/dev/null)" == "${body_of[$target]}" ]] && break
    if ! kill -0 "${pid[$server]}" 2>/dev/null; then
      unset "pid[$server]"
      tail -n 20 "$results/$server.log" >&2 || true
      die "$server exited during start-up (log: $results/$server.log)"
    fi
    if ((i == 201)); then
      tail -n 20 "$results/$server.log" >&2 || true
      die "$target did not answer $url with '${body_of[$target]}' over TLS within 20 s (log: $results/$server.log)"
    fi
    sleep 0.1
  done
  # Both protocols by ALPN: HTTP/2 must be negotiated, not fall back to HTTP/1.1.
  h2="$(curl -sSk --http2 --max-time 2 -o /dev/null -w '%{http_version} %{http_code}' "$url" 2>&1 || true)"
  [[ "$h2" == "2 200" ]] || die "$target did not answer $url over HTTP/2 (ALPN h2): curl says '$h2'"
  curl -sSk --http1.1 -D "$results/$target-response-head-http1.txt" -o /dev/null "$url" || true
  curl -sSk --http2 -D "$results/$target-response-head-h2.txt" -o /dev/null "$url" || true
  # What an OpenSSL client negotiates (wrk and h2load use OpenSSL).
  openssl s_client -connect "127.0.0.1:${port[$server]}" -servername localhost -alpn h2,http/1.1 \
    </dev/null >"$results/$target-s_client.txt" 2>&1 || true
done

# --- runs -----------------------------------------------------------------------------------
declare -A rate=() cpu=() util=() lat50=() lat99=() switches=()
failures="" disturbed=""
cpu_busy() { awk -v c="cpu$server_cpu" '$1 == c { print $2 + $3 + $4 }' /proc/stat; } # user, nice, system ticks
# TEST TARGET SECONDS OUTFILE: sets last_rate (per second), last_cpu (server CPU µs per request
# or connection), last_util (server CPU time as % of the run's wall time) and last_other (CPU
# time of other processes on the server's core, % of the wall time: this VM is shared).
run_load() {
  local test="$1" target="$2" seconds="$3" out="$4" server="${server_of[$2]}" url before after ok=0 bad=0
  local busy_a busy_b
  url="$(url_of "$target")"
  last_p50="" last_p99=""
  before="$(counters "${pid[$server]}")"
  busy_a="$(cpu_busy)"
  case "$test" in
    handshake)
      taskset -c "$client_cpu" timeout $((seconds + 30)) "$hs_client" -addr "127.0.0.1:${port[$server]}" \
        -path "${path_of[$target]}" -c "$connections" -d "${seconds}s" >"$out" 2>&1 ||
        die "the handshake client against $target failed ($out)"
      read -r ok bad < <(awk '/^handshakes:/ { print $2, $4 + $8 }' "$out") # ok; failed + non-200
      last_rate="$(awk '/^Connections\/sec:/ { printf "%.0f", $2 }' "$out")"
      ;;
    keepalive)
      taskset -c "$client_cpu" timeout $((seconds + 30)) wrk -t1 -c"$connections" -d"${seconds}s" \
        --latency "$url" >"$out" 2>&1 || die "wrk against $target failed ($out)"
      ok="$(awk '/ requests in / { print $1 }' "$out")"
      bad="$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$out")"
      last_rate="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")"
      last_p50="$(wrk_percentile 50 "$out")" last_p99="$(wrk_percentile 99 "$out")"
      ;;
    h2)
      taskset -c "$client_cpu" timeout $((seconds + 30)) h2load -t1 -c"$connections" -m"$streams" \
        -D "$seconds" "$url" >"$out" 2>&1 || die "h2load against $target failed ($out)"
      grep -q '^Application protocol: h2' "$out" || die "h2load did not negotiate h2 with $target ($out)"
      read -r ok bad < <(awk '/^requests:/ { ok = $8; n = $10 + $12 } /^status codes:/ { n += $7 + $9 }
        END { print ok, n }' "$out") # succeeded; failed + errored + 4xx + 5xx
      # Successful requests only (h2load's own req/s counts failed ones too).
      last_rate="$(awk '/^finished in/ { t = $3 + 0 } /^requests:/ { ok = $8 } END { if (t > 0) printf "%.0f", ok / t }' "$out")"
      ;;
  esac
  busy_b="$(cpu_busy)"
  after="$(counters "${pid[$server]}")"
  kill -0 "${pid[$server]}" 2>/dev/null || die "$server died during the run (log: $results/$server.log)"
  [[ -n "$last_rate" && "${ok:-0}" -gt 0 ]] || die "nothing done in $out"
  if ((bad > 0)); then
    log "warning: $test $target: $bad failed, errored or non-2xx ($out)"
    failures+="$test $target $bad ($(basename "$out")), "
  fi
  read -r last_cpu last_util last_other last_csw < <(awk -v a="$before" -v b="$after" -v n="$ok" -v hz="$clk_tck" \
    -v s="$seconds" -v busy=$((busy_b - busy_a)) 'BEGIN { split(a, x, " "); split(b, y, " ");
      t = (y[1] - x[1] + y[2] - x[2]) / hz; o = busy / hz - t;
      printf "%.1f %.0f %.0f %.2f\n", t * 1e6 / n, t / s * 100, (o > 0) ? o / s * 100 : 0, (y[3] - x[3]) / n }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$test" "$target" "$(basename "$out" .txt)" "$last_rate" "$last_cpu" \
    "$last_util" "$last_other" >>"$results/runs.tsv"
}

printf 'test\ttarget\trun\trate\tcpu_us\tcore_use_pct\tother_on_core_pct\n' >"$results/runs.tsv"
busy_before="$(busy_percent)"
((busy_before <= 10)) || log "warning: the machine is already ${busy_before}% busy; the numbers will be noisy"
log "results in ${results#"$root"/}; about $(((warmup + runs * duration) * ${#tests[@]} * ${#targets[@]}))s of load"
for test in "${tests[@]}"; do
  for target in "${targets[@]}"; do
    log "warm-up $test $target (${warmup}s)"
    run_load "$test" "$target" "$warmup" "$results/$test-$target-warmup.txt"
  done
done
for i in $(seq "$runs"); do
  for test in "${tests[@]}"; do
    for target in "${targets[@]}"; do
      log "run $i/$runs: $test $target (${duration}s)"
      run_load "$test" "$target" "$duration" "$results/$test-$target-$i.txt"
      rate[$test/$target]+="$last_rate " cpu[$test/$target]+="$last_cpu " util[$test/$target]+="$last_util "
      switches[$test/$target]+="$last_csw " lat50[$test/$target]+="$last_p50 " lat99[$test/$target]+="$last_p99 "
      ((last_other <= 5)) || disturbed+="$test $target run $i ${last_other}%, "
    done
  done
done
stop_all_servers

# --- report ---------------------------------------------------------------------------------
declare -A med=() medcpu=()
for test in "${tests[@]}"; do
  for target in "${targets[@]}"; do
    med[$test/$target]="$(median <<<"${rate[$test/$target]}")"
    medcpu[$test/$target]="$(median <<<"${cpu[$test/$target]}")"
  done
done
declare -A test_desc=(
  [handshake]="full handshake + 1 request per connection, conn/s"
  [keepalive]="HTTP/1.1 keep-alive, req/s"
  [h2]="HTTP/2 (ALPN h2), req/s"
)
target_desc() {
  case "$1" in
    junction-health) echo "junction health path" ;;
    junction-wsgi) echo "junction WSGI hello" ;;
    junction-asgi) echo "junction ASGI hello" ;;
    junction-health-baseline) echo "junction-baseline health path" ;;
    junction-wsgi-baseline) echo "junction-baseline WSGI hello" ;;
    *) echo "${desc[$1]}" ;;
  esac
}
first_of() { awk -v re="$2" '$0 ~ re { sub(/^[^:]*: */, ""); print; exit }' "$1" 2>/dev/null || true; }
negotiated() { # TEST: the protocol and cipher the clients of TEST got (from the first target's warm-up)
  local f="$results/$1-${targets[0]}-warmup.txt"
  case "$1" in
    handshake) first_of "$f" '^tls:' | sed 's/, .*//' ;;
    h2) echo "$(first_of "$f" '^TLS Protocol:') $(first_of "$f" '^Cipher:')" ;;
    keepalive) # wrk does not say; an OpenSSL client (openssl s_client) gets the same
      local t out=""
      for t in "${targets[@]}"; do
        out+="$t $(awk '/^New, / { sub(/^New, /, ""); sub(/, Cipher is /, " "); print; exit }' \
          "$results/$t-s_client.txt" 2>/dev/null || true), "
      done
      echo "(per server) ${out%, }" ;;
  esac
}
ratio() { # TEST A B: "A / B = x.xx (CPU per request: y.yy)" when both ran
  local test="$1" a="$2" b="$3"
  [[ -n "${med[$test/$a]:-}" && -n "${med[$test/$b]:-}" ]] || return 0
  awk -v a="${med[$test/$a]}" -v b="${med[$test/$b]}" -v ca="${medcpu[$test/$a]}" -v cb="${medcpu[$test/$b]}" \
    -v n="$a / $b" -v t="$test" 'BEGIN { r = a / b;
      printf "%s **%s = %.2f**", t, n, r;
      if (ca > 0) printf " (by server CPU per %s: %.2f)", (t == "handshake") ? "connection" : "request", cb / ca;
      if (n ~ /nginx/) { if (r >= 0.9) printf " — target >= 0.9: met"; else printf " — target >= 0.9: missed" }
      print "  " }'
}
{
  model="$(cpu_model)"
  echo "Machine: $(nproc) cores, ${model:-unknown CPU}, $(uname -r); servers on CPU $server_cpu, load generators on CPU $client_cpu."
  versions=()
  for server in "${junctions[@]}"; do
    bin="${binary_of[$server]}"
    # The library that does the TLS: the executable's own, or the extension module's.
    linked="$bin"
    if [[ -x "$(dirname "$bin")/python" ]]; then
      linked="$("$(dirname "$bin")/python" -c 'import junction._native as n; print(n.__file__)' 2>/dev/null || echo "$bin")"
    fi
    jssl="$(ldd "$linked" 2>/dev/null | awk '/libssl/ && !l { l = $3 } END { print l }' || true)"
    where=""
    if [[ "$server" != junction ]]; then where="$bin; "; fi
    versions+=("$server $(junction_version "$bin") (${where}libssl: ${jssl:-not linked})")
  done
  want nginx && versions+=("nginx $nginx_version")
  { want granian || want granian-asgi; } && versions+=("granian $GRANIAN_VERSION")
  versions+=("$(openssl version | awk '{ print $1, $2 }')")
  versions+=("wrk $({ wrk -v 2>&1 || true; } | head -1 | awk '{ print $2 }')")
  want_test h2 && versions+=("$({ h2load --version 2>&1 || true; } | head -1)")
  want_test handshake && versions+=("handshake client built with $("$go" version | awk '{ print $3 }')")
  joined="$(printf '%s; ' "${versions[@]}")"
  echo "Versions: ${joined%; }."
  echo "Certificate: self-signed $key_desc, the same for every server. Negotiated:$(for t in "${tests[@]}"; do printf ' %s %s;' "$t" "$(negotiated "$t")"; done | sed 's/;$//')."
  echo "Load: ${duration}s runs, ${warmup}s warm-up each; handshake: bench/tls.sh's Go client, $connections connections at a time, no session resumption, one GET with Connection: close each; keepalive: wrk -t1 -c$connections; h2: h2load -t1 -c$connections -m$streams. Paths: /healthz (junction health path, nginx), / (WSGI and ASGI hello, 14 bytes)."
  echo
  echo "| test | server $(runs_header)| median | CPU µs/req | core use |"
  echo "| --- | --- $(runs_rule)| ---: | ---: | ---: |"
  for test in "${tests[@]}"; do
    for target in "${targets[@]}"; do
      # shellcheck disable=SC2086
      printf '| %s ' "${test_desc[$test]}" "$(target_desc "$target")" ${rate[$test/$target]} "**${med[$test/$target]}**" \
        "${medcpu[$test/$target]}" "$(median <<<"${util[$test/$target]}")%"
      echo '|'
    done
  done
  echo
  echo "CPU µs/req: the server's CPU time (all its processes and threads, user + kernel) per request"
  echo "(per connection in the handshake test); core use: its CPU time over the run's wall time. Medians."
  echo
  for test in "${tests[@]}"; do
    ratio "$test" junction-health nginx
    ratio "$test" junction-wsgi granian
    ratio "$test" junction-asgi granian-asgi
    ratio "$test" junction-health junction-health-baseline
    ratio "$test" junction-wsgi junction-wsgi-baseline
  done
  if [[ -n "$failures" ]]; then
    echo
    echo "Warning: failed, errored or non-2xx (not counted in the rates): ${failures%, }."
  fi
  resumed="$(awk '/^handshakes:/ && $6 > 0 { n = FILENAME; sub(/.*\//, "", n); printf "%s %d, ", n, $6 }' \
    "$results"/handshake-*.txt 2>/dev/null || true)"
  if [[ -n "$resumed" ]]; then
    echo
    echo "Warning: some handshakes were resumptions, not full handshakes: ${resumed%, }."
  fi
  if ((busy_before > 10)); then
    echo
    echo "Warning: before the runs the machine was already ${busy_before}% busy (other processes); the numbers are suspect."
  fi
  if [[ -n "$disturbed" ]]; then
    echo
    echo "Warning: other processes used CPU $server_cpu during some runs (${disturbed%, }); those runs are suspect (runs.tsv)."
  fi
  low=""
  for test in "${tests[@]}"; do
    for target in "${targets[@]}"; do
      least="$(awk '{ m = $1; for (i = 2; i <= NF; i++) if ($i < m) m = $i; print m }' <<<"${util[$test/$target]}")"
      ((least >= 85)) || low+="$test $target $least%, "
    done
  done
  if [[ -n "$low" ]]; then
    echo
    echo "Warning: a server used under 85% of CPU $server_cpu in some run (least: ${low%, }): the client was the limit, or something else took the core."
  fi
} | tee "$results/summary.md"

# --- rows.tsv for bench/plot.py -------------------------------------------------------------
# ROW TEST NAME=TARGET...: TEST's medians for each TARGET that ran, under the server NAME.
tsv_rows() {
  local row="$1" test="$2" pair name target names=() figures=()
  shift 2
  for pair in "$@"; do
    name="${pair%%=*}" target="${pair#*=}"
    [[ -n "${rate[$test/$target]:-}" ]] || continue
    names+=("$name")
    figures+=("${rate[$test/$target]}|${lat50[$test/$target]}|${lat99[$test/$target]}|${cpu[$test/$target]}|${switches[$test/$target]}")
  done
  ((${#names[@]})) || return 0
  # write_rows_tsv (bench/common.sh) reads these arrays by server name.
  local -A rps=() p50=() p99=() cpu=() csw=()
  local i
  for i in "${!names[@]}"; do
    name="${names[$i]}"
    IFS='|' read -r "rps[$name]" "p50[$name]" "p99[$name]" "cpu[$name]" "csw[$name]" <<<"${figures[$i]}"
  done
  write_rows_tsv "$row" "${names[@]}"
}
tsv_rows tls-handshake handshake junction=junction-health nginx=nginx
tsv_rows tls-wsgi-keepalive keepalive junction=junction-wsgi granian=granian
tsv_rows tls-asgi-keepalive keepalive junction=junction-asgi granian=granian-asgi
tsv_rows tls-wsgi-h2 h2 junction=junction-wsgi granian=granian
tsv_rows tls-asgi-h2 h2 junction=junction-asgi granian=granian-asgi
