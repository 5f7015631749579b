"""The smallest ASGI app: `junction --chdir examples/hello asgi:asgi_app:app` (also the ASGI
benchmark's app). It answers every HTTP request with 200, text/plain and b"Hello, world!\\n",
and supports the lifespan protocol (it has nothing to set up)."""

BODY = b"Hello, world!\n"
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())],
}
RESPONSE = {"type": "http.response.body", "body": BODY}


async def app(scope, receive, send):
    if scope["type"] == "http":
        await send(START)
        await send(RESPONSE)
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
