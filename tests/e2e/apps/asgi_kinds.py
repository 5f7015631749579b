"""Three shapes of ASGI app, each answering {"kind": ..., "path": ..., "root_path": ...}:

  coro      an ASGI 3 coroutine function
  instance  an object whose __call__ is async (ASGI 3)
  Asgi2App  an ASGI 2 "double callable" class: Asgi2App(scope) gives an instance that is then
            awaited with (receive, send); servers detect the class and wrap it as uvicorn does

Each supports lifespan (startup and shutdown complete at once).
"""

import json


async def _lifespan(receive, send):
    while True:
        msg = await receive()
        if msg["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif msg["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _answer(kind, scope, receive, send):
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    while (await receive()).get("more_body"):
        pass
    body = json.dumps({"kind": kind, "path": scope["path"],
                       "root_path": scope.get("root_path", "")}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def coro(scope, receive, send):
    await _answer("coro", scope, receive, send)


class _Instance:
    async def __call__(self, scope, receive, send):
        await _answer("instance", scope, receive, send)


instance = _Instance()


class Asgi2App:
    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        await _answer("asgi2", self.scope, receive, send)
