"""`app` for the thread-pool tests. Routes (PATH_INFO):

  /sleep?ms=N          counts itself as running for N ms; answers {"running_at_peak": ...}
  /stats               {"max_running": the most requests ever running at once, "done": count}
  /hold?started=P&release=R   writes P, then waits (up to 20 s) until the file R exists
  /quick               a tiny body
  /hash                reads wsgi.input with read(65536): {"length": n, "sha256": hex}
"""

import hashlib
import os
import threading
import time

from apps.util import json_response, query, record

_lock = threading.Lock()
_running = 0
_max_running = 0
_done = 0
_threads = set()


def _sleep(ms: float):
    global _running, _max_running, _done
    with _lock:
        _running += 1
        _max_running = max(_max_running, _running)
        _threads.add(threading.get_ident())
        peak = _running
    try:
        time.sleep(ms / 1000.0)
    finally:
        with _lock:
            peak = max(peak, _running)
            _running -= 1
            _done += 1
    return peak


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = query(environ)
    if path == "/sleep":
        peak = _sleep(float(q.get("ms", "300")))
        return json_response(start_response, {"running_at_peak": peak})
    if path == "/stats":
        with _lock:
            return json_response(start_response, {
                "max_running": _max_running, "done": _done, "running": _running,
                "threads": len(_threads),
            })
    if path == "/hold":
        record(q.get("started", ""), "started")
        deadline = time.monotonic() + 20
        while not os.path.exists(q["release"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        return json_response(start_response, {"held": True})
    if path == "/quick":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"quick"]
    if path == "/hash":
        h = hashlib.sha256()
        n = 0
        read = environ["wsgi.input"].read
        while True:
            b = read(65536)
            if not b:
                break
            h.update(b)
            n += len(b)
        return json_response(start_response, {"length": n, "sha256": h.hexdigest()})
    return json_response(start_response, {"error": "no route"}, "404 Not Found")
