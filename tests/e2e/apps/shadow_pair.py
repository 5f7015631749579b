"""A primary (WSGI) and a shadow (ASGI) app for the shadow routes, answering the same URLs.

They agree, except where a test wants them not to: /orders/N is JSON with a `generated_at`
that always differs (to be ignored) and, for N = 2, a `quantity` the shadow gets wrong (a
string); /page is HTML whose CSRF token differs on every answer (to be scrubbed); /raise makes
the shadow raise; /slow makes the shadow sleep a second (?s= seconds). The primary counts the
requests it served at /primary-count, the shadow at /shadow-count (on the primary, read from a
file both know: SHADOW_PAIR_DIR)."""

import asyncio
import json
import os
import secrets
import threading
import time
from pathlib import Path

DIR = Path(os.environ.get("SHADOW_PAIR_DIR", "/tmp"))


_counting = threading.Lock()  # the WSGI app's threads bump their count one at a time


def _bump(name: str) -> None:
    with _counting:
        path = DIR / name
        count = int(path.read_text()) if path.exists() else 0
        path.write_text(str(count + 1))


def _order(number: int, shadow: bool) -> bytes:
    quantity = number
    if shadow and number == 2:
        quantity = str(number)  # the shadow's deliberate bug
    return json.dumps({"id": number, "quantity": quantity, "generated_at": time.time(),
                       "served_by": "the new code" if shadow else "the old code"}).encode()


def _answer(path: str, shadow: bool):
    """(status, content type, body) both apps give for `path`."""
    if path.startswith("/orders/"):
        return 200, "application/json", _order(int(path.rsplit("/", 1)[1]), shadow)
    if path == "/page":
        token = secrets.token_hex(16)
        return 200, "text/html", (f'<form><input name="csrfmiddlewaretoken" value="{token}">'
                                  f'<p>Your order</p></form>').encode()
    return 200, "text/plain", b"same for both\n"


def primary(environ, start_response):
    path = environ["PATH_INFO"]
    environ["wsgi.input"].read()
    if path == "/primary-count":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [(DIR / "primary").read_text().encode() if (DIR / "primary").exists() else b"0"]
    _bump("primary")
    status, kind, body = _answer(path, shadow=False)
    start_response(f"{status} OK", [("Content-Type", kind)])
    return [body]


async def shadow(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    path = scope["path"]
    _bump("shadow")
    if path == "/raise":
        raise RuntimeError("the shadow app fails here, and no client may see it")
    if path == "/slow":
        seconds = float(dict(p.split("=") for p in scope["query_string"].decode().split("&")
                             if "=" in p).get("s", "1"))
        await asyncio.sleep(seconds)
    status, kind, body = _answer(path, shadow=True)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind.encode())]})
    await send({"type": "http.response.body", "body": body})
