"""Apps for the TLS end-to-end tests (test_tls_*.py): each answers what it learnt about the
connection's TLS as JSON.

`wsgi_app`  (any path): {"url_scheme": wsgi.url_scheme, "protocol": SERVER_PROTOCOL,
            "path": PATH_INFO, "environ": {HTTPS and every SSL_* key: value}}
`asgi_app`  HTTP (any path): {"scheme": scope["scheme"], "http_version", "path",
            "tls": scope["extensions"].get("tls") (null when absent),
            "extensions": the names in scope["extensions"]}
            WebSocket (any path): accepts, sends that same JSON as one text message (with
            "type": "websocket"), then closes with 1000.
"""

import json


def wsgi_app(environ, start_response):
    out = {
        "url_scheme": environ.get("wsgi.url_scheme"),
        "protocol": environ.get("SERVER_PROTOCOL"),
        "path": environ.get("PATH_INFO"),
        "environ": {k: v for k, v in environ.items()
                    if k == "HTTPS" or k.startswith("SSL_")},
    }
    body = json.dumps(out, sort_keys=True, default=repr).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _describe(scope) -> dict:
    extensions = scope.get("extensions") or {}
    tls = extensions.get("tls")
    if tls is not None:
        tls = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(tls).items()}
    return {
        "type": scope["type"],
        "scheme": scope.get("scheme"),
        "http_version": scope.get("http_version"),
        "path": scope.get("path"),
        "tls": tls,
        "extensions": sorted(extensions),
    }


async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(_describe(scope), default=repr)})
        await send({"type": "websocket.close", "code": 1000})
        return
    while True:  # the request body, if any
        msg = await receive()
        if msg["type"] != "http.request" or not msg.get("more_body"):
            break
    body = json.dumps(_describe(scope), sort_keys=True, default=repr).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
