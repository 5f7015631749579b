"""`app`: a raw ASGI WebSocket app (and one HTTP route). Routes (path with root_path taken off):

  /echo[?record=P]   accepts; echoes text as text and bytes as bytes. The text
                     "close CODE REASON" makes the app close with that code and reason. When the
                     peer disconnects, appends `disconnect CODE` to P.
  /subprotocol       accepts with "chat.v2" when the client offers it (else no subprotocol) and
                     the extra header x-ws-test: accepted; sends the scope as JSON text
  /scope             accepts and sends the scope as JSON text (see apps.asgi_scope)
  /deny              closes before accepting (the client gets HTTP 403)
  /raise-before-accept   raises RuntimeError before accepting
  /raise-after-accept    accepts, sends "accepted", raises RuntimeError on the next message
  /timed-receive     accepts, lets a receive() time out (asyncio.wait_for), sends "ready",
                     sleeps 0.3 s, then answers the next two messages joined: "a,b"
  /http              (HTTP) 200 "plain http"
"""

import json

from apps.asgi_scope import query, route, scope_json


def _record(path: str, line: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


async def _until_disconnect(receive):
    for _ in range(10000):
        if (await receive())["type"] == "websocket.disconnect":
            return


async def _echo(receive, send, rec):
    await send({"type": "websocket.accept"})
    while True:
        msg = await receive()
        if msg["type"] == "websocket.disconnect":
            _record(rec, f"disconnect {msg.get('code')}")
            return
        text = msg.get("text")
        if text is not None:
            if text.startswith("close "):
                _, code, reason = text.split(" ", 2)
                await send({"type": "websocket.close", "code": int(code), "reason": reason})
                _record(rec, "closed by app")
                return
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": msg.get("bytes") or b""})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            kind = msg["type"].rsplit(".", 1)[1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    path = route(scope)
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"plain http"})
        return
    connect = await receive()
    assert connect["type"] == "websocket.connect", connect
    if path == "/echo":
        return await _echo(receive, send, query(scope).get("record", ""))
    if path == "/subprotocol":
        chosen = "chat.v2" if "chat.v2" in scope.get("subprotocols", []) else None
        await send({"type": "websocket.accept", "subprotocol": chosen,
                    "headers": [(b"x-ws-test", b"accepted")]})
        await send({"type": "websocket.send", "text": json.dumps(scope_json(scope))})
        return await _until_disconnect(receive)
    if path == "/scope":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(scope_json(scope))})
        return await _until_disconnect(receive)
    if path == "/raise-before-accept":
        raise RuntimeError("ws boom before accept")
    if path == "/raise-after-accept":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "accepted"})
        await receive()
        raise RuntimeError("ws boom after accept")
    if path == "/timed-receive":
        import asyncio

        await send({"type": "websocket.accept"})
        try:
            await asyncio.wait_for(receive(), 0.2)
        except asyncio.TimeoutError:
            pass
        await send({"type": "websocket.send", "text": "ready"})
        await asyncio.sleep(0.3)  # both messages arrive while only the cancelled receive waits
        first, second = await receive(), await receive()
        await send({"type": "websocket.send", "text": f"{first.get('text')},{second.get('text')}"})
        return await _until_disconnect(receive)
    if path == "/deny":
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "websocket.close", "code": 4004, "reason": "no route"})
