"""What an app sees of the client, the scheme and the host, as JSON (tests/e2e/test_forwarded.py).

`wsgi_app`: the environ's REMOTE_ADDR, REMOTE_PORT, wsgi.url_scheme, HTTPS, SERVER_NAME,
SERVER_PORT and every HTTP_* key.
`asgi_app`: HTTP: the scope's type, scheme, client, http_version and headers (latin-1 strings);
websocket: accepts, sends the same JSON as one text message, waits for the client to close.
"""

import json

from apps.util import json_response

WSGI_KEYS = ("REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme", "HTTPS", "SERVER_NAME",
             "SERVER_PORT")


def wsgi_app(environ, start_response):
    seen = {k: v for k, v in environ.items() if k in WSGI_KEYS or k.startswith("HTTP_")}
    return json_response(start_response, seen)


def _scope(scope) -> dict:
    client = scope.get("client")
    return {
        "type": scope["type"],
        "scheme": scope.get("scheme"),
        "client": list(client) if client is not None else None,
        "http_version": scope.get("http_version"),
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
    }


async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            kind = (await receive())["type"].rsplit(".", 1)[1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(_scope(scope))})
        while (await receive())["type"] != "websocket.disconnect":
            pass
        return
    while (await receive()).get("more_body"):
        pass
    body = json.dumps(_scope(scope)).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
