"""What a shadow costs the client: the primary's latency with and without a shadow route.

Junction serves the WSGI primary of tests/e2e/apps/shadow_pair.py (it answers at once) either
alone or with a shadow route to the ASGI shadow, whose /slow sleeps a second (?s=1) before it
answers: the worst shadow, one that holds its requests. Paced load (not saturation): R requests
a second from 4 client threads, each request timed by the client, for N requests per run; the
configurations alternate over ROUNDS runs, each on a fresh server. Prints p50/p99/max per run
and the medians; the goal (docs/migration.md) is a p99 within 10 ms of the primary alone.

    .venv/bin/python bench/shadow_latency.py [--rounds 3] [--requests 3000] [--rate 300]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
JUNCTION = os.environ.get("JUNCTION_BIN", str(ROOT / ".venv" / "bin" / "junction"))
LISTENING = re.compile(r"Listening on (http://\S+)")

CONFIG = """
pythonpath = ["{apps}"]
no_access_log = true
log_level = "info"
io_threads = 1
[apps.old]
target = "wsgi:apps.shadow_pair:primary"
[apps.new]
target = "asgi:apps.shadow_pair:shadow"
[[routes]]
app = "old"
{shadow}
"""


def start(directory: Path, shadowed: bool) -> tuple[subprocess.Popen, str]:
    config = directory / ("shadow.toml" if shadowed else "plain.toml")
    config.write_text(CONFIG.format(apps=ROOT / "tests" / "e2e",
                                    shadow='shadow = "new"' if shadowed else ""))
    proc = subprocess.Popen([JUNCTION, "--bind", "127.0.0.1:0", "--config", str(config)],
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SHADOW_PAIR_DIR": str(directory)})
    deadline = time.monotonic() + 20
    for line in proc.stderr:
        if m := LISTENING.search(line):
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, m.group(1)
        if time.monotonic() > deadline:
            break
    proc.kill()
    sys.exit("junction did not start")


def load(url: str, requests: int, rate: float) -> list[float]:
    """Paced GET /slow?s=1: request i leaves at i/rate seconds; each thread times its own."""
    times: list[float] = []
    lock = threading.Lock()
    start = time.monotonic() + 0.2

    def client(offset: int):
        with httpx.Client(base_url=url, timeout=10) as http:
            for i in range(offset, requests, 4):
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                t = time.perf_counter()
                r = http.get("/slow?s=1")
                elapsed = time.perf_counter() - t
                assert r.status_code == 200
                with lock:
                    times.append(elapsed * 1000)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=300.0)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float, float]]] = {"alone": [], "shadowed": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for name in results:
                proc, url = start(Path(tmp), name == "shadowed")
                try:
                    load(url, 200, args.rate)  # warm-up
                    times = load(url, args.requests, args.rate)
                finally:
                    proc.terminate()
                    proc.wait(30)
                row = (quantile(times, 0.5), quantile(times, 0.99), max(times))
                results[name].append(row)
                print(f"round {round_ + 1} {name:9}: p50 {row[0]:.2f} ms, p99 {row[1]:.2f} ms, "
                      f"max {row[2]:.2f} ms", flush=True)
    print(f"\n{args.requests} requests per run at {args.rate:g}/s, median of {args.rounds} runs:")
    for name, rows in results.items():
        p50 = statistics.median(r[0] for r in rows)
        p99 = statistics.median(r[1] for r in rows)
        print(f"| {name} | {p50:.2f} ms | {p99:.2f} ms |")


if __name__ == "__main__":
    main()
