"""The ASGI app of bench/memory.sh's websocket row: every WebSocket is accepted, each message it
sends is echoed, and otherwise it waits in receive() until the client leaves, so an idle
WebSocket costs the server one app task parked on receive(). Plain HTTP gets 200 "ready" (the
script's readiness check), and lifespan startup and shutdown are answered at once."""

READY_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")],
}
READY_BODY = {"type": "http.response.body", "body": b"ready"}


async def app(scope, receive, send):
    if scope["type"] == "websocket":
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
    elif scope["type"] == "http":
        await send(READY_START)
        await send(READY_BODY)
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
