"""ASGI apps, detected without the asgi: prefix: a coroutine function and an object whose
__call__ is one."""


async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi"})


class _AsgiObject:
    async def __call__(self, scope, receive, send):
        await app(scope, receive, send)


obj = _AsgiObject()
