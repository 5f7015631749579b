"""Two pairs of apps for the migration modes, one of each interface in each role.

The "new" apps (wsgi_new, asgi_new) do not implement what is under /todo yet: they read the
request body and answer 404 there, as a half-finished rewrite does. /stream answers 200 in
three pieces. The "legacy" apps (wsgi_legacy, asgi_legacy) answer everything. Every 200 is JSON
naming the app, with the path it saw and the SHA-256 and length of the request body it read."""

import hashlib
import json


def _answer(app: str, method: str, path: str, body: bytes) -> bytes:
    return json.dumps({"app": app, "method": method, "path": path,
                       "sha256": hashlib.sha256(body).hexdigest(),
                       "length": len(body)}).encode()


def _todo(path: str) -> bool:
    return "/todo" in path


def _wsgi(name: str, new: bool):
    def app(environ, start_response):
        body = environ["wsgi.input"].read()
        path = environ["PATH_INFO"]
        if new and _todo(path):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not implemented here yet"]
        if new and path.endswith("/stream"):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return iter([b"one ", b"two ", b"three"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [_answer(name, environ["REQUEST_METHOD"], path, body)]
    return app


def _asgi(name: str, new: bool):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if new and _todo(path):
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"not implemented here yet"})
            return
        if new and path.endswith("/stream"):
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain")]})
            for piece in (b"one ", b"two "):
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b"three"})
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body",
                    "body": _answer(name, scope["method"], path, body)})
    return app


wsgi_new = _wsgi("wsgi_new", True)
wsgi_legacy = _wsgi("wsgi_legacy", False)
asgi_new = _asgi("asgi_new", True)
asgi_legacy = _asgi("asgi_legacy", False)
