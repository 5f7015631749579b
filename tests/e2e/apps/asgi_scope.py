"""`app`: a raw ASGI 3 app for the HTTP tests of the ASGI bridge. Routes (the path with the
mount prefix, scope["root_path"], taken off):

  /scope...            the scope as JSON (bytes as latin-1 strings, tuples as lists)
  /stream?n=N          N chunks `chunk i\\n`, each its own http.response.body with more_body
  /echo[?pause_ms=N]   reads http.request events until more_body is false (sleeping N ms before
                       each receive() after the first): {"events": count, "length", "sha256",
                       "body" (latin-1, the first 4096 bytes)}
  /hash                like /echo without "body" (for big uploads)
  /late-receive?record=P  waits 0.3 s, records "receive called", then answers like /echo
  /after?record=P      answers, then awaits receive() once more: records the event's type
  /wait-disconnect?record=P   reads the body, sends nothing, records what receive() gives next
  /stream-until-gone?record=P  streams a chunk every 20 ms (at most 30 s) while a task awaits
                       receive(): records `receive: TYPE`, and `send: CLASS,BASES...` for what
                       send() raised (or that one send after http.disconnect did not raise)
  /raise-before        raises RuntimeError before http.response.start
  /raise-after         sends a head and one chunk, then raises RuntimeError
  /no-response         returns without sending anything
  /bad-header          sends a head whose header value has a line break (send() raises)
  /hop-by-hop          sends Transfer-Encoding, Keep-Alive and Upgrade with a 200 "kept"
                       (the connection's to set: dropped)
  /sleep?ms=N          counts itself in flight for N ms (asyncio.sleep): {"peak": in flight}
  /stats               {"max_in_flight", "in_flight", "done"}
  /state[?set=K]       the request's scope["state"] (set=K first adds key K to that copy)
  /loop                {"loop": module.qualname of the running event loop's class}
  /tracked?n=N&size=S  N body messages of S bytes (piece i is byte i % 256), each a bytes
                       subclass whose __del__ counts itself
  /freed               how many tracked pieces were deleted so far

Lifespan: startup puts {"started": "yes", "items": [...]} in the state; with
$ASGI_LIFESPAN_RECORD set, "startup", each finished /sleep ("request done") and "shutdown" are
appended to that file, so a test can see the order.
"""

import asyncio
import hashlib
import json
import os
import threading
from urllib.parse import parse_qs

_in_flight = 0
_max_in_flight = 0
_done = 0
_freed = 0
_freed_lock = threading.Lock()


class Tracked(bytes):
    """A body piece that counts its deletion (a reference the server kept, given back)."""

    def __del__(self):
        global _freed
        with _freed_lock:  # any Python thread may give a piece back
            _freed += 1


def _record(path: str, line: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def plain(v):
    """A scope value as something json.dumps takes: bytes → latin-1 str, tuple → list."""
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("latin-1")
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)


def scope_json(scope) -> dict:
    out = {k: plain(v) for k, v in scope.items()}
    out["types"] = {k: type(v).__name__ for k, v in scope.items()}
    out["header_types"] = sorted({f"{type(n).__name__},{type(v).__name__}"
                                  for n, v in scope.get("headers", [])})
    return out


def query(scope) -> dict:
    qs = scope.get("query_string", b"").decode("latin-1")
    return {k: v[-1] for k, v in parse_qs(qs).items()}


def route(scope) -> str:
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


async def send_json(send, obj, status=200):
    body = json.dumps(obj, sort_keys=True).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive, keep: int, pause: float = 0.0):
    events, length, h, kept = 0, 0, hashlib.sha256(), bytearray()
    while True:
        if pause and events:
            await asyncio.sleep(pause)  # a slow consumer: the server must wait, not drop bytes
        msg = await receive()
        if msg["type"] != "http.request":
            raise RuntimeError(f"unexpected {msg['type']} while reading the body")
        chunk = msg.get("body", b"")
        events += 1
        length += len(chunk)
        h.update(chunk)
        if len(kept) < keep:
            kept += chunk[: keep - len(kept)]
        if not msg.get("more_body", False):
            return {"events": events, "length": length, "sha256": h.hexdigest(),
                    "body": kept.decode("latin-1")}


async def lifespan(scope, receive, send):
    rec = os.environ.get("ASGI_LIFESPAN_RECORD", "")
    while True:
        msg = await receive()
        if msg["type"] == "lifespan.startup":
            _record(rec, "startup")
            if "state" in scope:
                scope["state"]["started"] = "yes"
                scope["state"]["items"] = [1, 2, 3]
            await send({"type": "lifespan.startup.complete"})
        elif msg["type"] == "lifespan.shutdown":
            _record(rec, "shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def stream_until_gone(scope, receive, send, rec):
    await read_body(receive, 0)
    got = asyncio.get_running_loop().create_future()

    async def watch():
        msg = await receive()
        _record(rec, f"receive: {msg['type']}")
        got.set_result(msg)

    watcher = asyncio.ensure_future(watch())
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    for i in range(1500):  # 30 s at most
        gone = got.done()  # http.disconnect came: this send must raise
        try:
            await send({"type": "http.response.body", "body": b"tick %d\n" % i,
                        "more_body": True})
            if gone:
                _record(rec, "send: no error after http.disconnect")
                break
        except Exception as e:  # what send raises once the client is gone
            _record(rec, "send: " + ",".join(c.__name__ for c in type(e).__mro__))
            break
        await asyncio.sleep(0.02)
    try:
        await asyncio.wait_for(asyncio.shield(got), 10)
    except asyncio.TimeoutError:
        _record(rec, "receive: nothing within 10 s")
        watcher.cancel()


async def app(scope, receive, send):
    global _in_flight, _max_in_flight, _done
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    if scope["type"] != "http":
        raise RuntimeError(f"asgi_scope serves no {scope['type']} connections")
    path, q = route(scope), query(scope)

    if path.startswith("/scope"):
        return await send_json(send, scope_json(scope))
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        for i in range(int(q.get("n", "5"))):
            await send({"type": "http.response.body", "body": b"chunk %d\n" % i,
                        "more_body": True})
            await asyncio.sleep(0.01)
        return await send({"type": "http.response.body", "body": b"", "more_body": False})
    if path == "/echo":
        pause = float(q.get("pause_ms", "0")) / 1000
        return await send_json(send, await read_body(receive, 4096, pause))
    if path == "/late-receive":
        await asyncio.sleep(0.3)  # a server that answers 100 Continue early has sent it by now
        _record(q.get("record", ""), "receive called")
        return await send_json(send, await read_body(receive, 4096))
    if path == "/hash":
        out = await read_body(receive, 0)
        del out["body"]
        return await send_json(send, out)
    if path == "/after":
        await read_body(receive, 0)
        await send_json(send, {"answered": True})
        try:
            msg = await asyncio.wait_for(receive(), 10)
            _record(q.get("record", ""), f"after: {msg['type']}")
        except asyncio.TimeoutError:
            _record(q.get("record", ""), "after: receive() still pending after 10 s")
        return
    if path == "/wait-disconnect":
        await read_body(receive, 0)
        _record(q.get("record", ""), "waiting")
        try:
            msg = await asyncio.wait_for(receive(), 20)
            _record(q.get("record", ""), f"receive: {msg['type']}")
        except asyncio.TimeoutError:
            _record(q.get("record", ""), "receive: nothing within 20 s")
        return
    if path == "/stream-until-gone":
        return await stream_until_gone(scope, receive, send, q.get("record", ""))
    if path == "/raise-before":
        raise RuntimeError("asgi boom before start")
    if path == "/raise-after":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"first chunk\n", "more_body": True})
        await asyncio.sleep(0.05)
        raise RuntimeError("asgi boom after start")
    if path == "/no-response":
        return None
    if path == "/bad-header":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"x-injected", b"a\r\nSet-Cookie: stolen=1")]})
        await send({"type": "http.response.body", "body": b"never"})
        return None
    if path == "/hop-by-hop":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"transfer-encoding", b"gzip"),
                                (b"keep-alive", b"timeout=99"), (b"upgrade", b"h2c")]})
        await send({"type": "http.response.body", "body": b"kept"})
        return None
    if path == "/sleep":
        _in_flight += 1
        _max_in_flight = max(_max_in_flight, _in_flight)
        peak = _in_flight
        try:
            await asyncio.sleep(float(q.get("ms", "500")) / 1000)
        finally:
            peak = max(peak, _in_flight)
            _in_flight -= 1
            _done += 1
        _record(os.environ.get("ASGI_LIFESPAN_RECORD", ""), "request done")
        return await send_json(send, {"peak": peak})
    if path == "/stats":
        return await send_json(send, {"max_in_flight": _max_in_flight,
                                      "in_flight": _in_flight, "done": _done})
    if path == "/state":
        state = scope.get("state")
        if state is not None and q.get("set"):
            state[q["set"]] = "set by a request"
        return await send_json(send, {"has_state": state is not None,
                                      "state": plain(dict(state or {}))})
    if path == "/tracked":
        n, size = int(q["n"]), int(q["size"])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")]})
        for i in range(n):
            await send({"type": "http.response.body", "body": Tracked(bytes([i % 256]) * size),
                        "more_body": i < n - 1})
        return
    if path == "/freed":
        return await send_json(send, {"freed": _freed})
    if path == "/loop":
        cls = type(asyncio.get_running_loop())
        return await send_json(send, {"loop": f"{cls.__module__}.{cls.__qualname__}"})
    return await send_json(send, {"error": "no route", "path": path}, 404)
