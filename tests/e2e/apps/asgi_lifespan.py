"""ASGI apps for the lifespan tests.

  failing      answers lifespan.startup with lifespan.startup.failed and a message
  unsupported  raises on a lifespan scope (as Django's ASGI handler does); serves HTTP
               with 200 "no lifespan here"
"""

FAILED_MESSAGE = "junction-e2e: the database is unreachable"


async def _hello(send, text: bytes):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(text)).encode())]})
    await send({"type": "http.response.body", "body": text})


async def failing(scope, receive, send):
    if scope["type"] == "lifespan":
        msg = await receive()
        assert msg["type"] == "lifespan.startup", msg
        await send({"type": "lifespan.startup.failed", "message": FAILED_MESSAGE})
        return
    await _hello(send, b"should never be served\n")


async def unsupported(scope, receive, send):
    if scope["type"] != "http":
        raise ValueError(f"unsupported can only handle HTTP, not {scope['type']}")
    await _hello(send, b"no lifespan here\n")
