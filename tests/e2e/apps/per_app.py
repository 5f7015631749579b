"""Apps for the per-app settings tests ([apps.NAME] threads, backlog, limit_concurrency,
lifespan, request_timeout). Paths are matched on their last segment, so the apps answer the
same under any prefix:

  .../hold?release=FILE   waits (up to 20 s) until FILE exists, then answers "released"
  .../sleep?s=S           sleeps S seconds, then answers "slept"
  .../state               (ASGI) {"startups": lifespan startups of this app, "state": the
                          scope's lifespan state}
  anything else           "ok"
"""

import asyncio
import json
import os
import time
from urllib.parse import parse_qs


def _query(text: str) -> dict:
    return {k: v[-1] for k, v in parse_qs(text).items()}


def wsgi_app(environ, start_response):
    last = environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
    q = _query(environ.get("QUERY_STRING", ""))
    body = b"ok"
    if last == "hold":
        deadline = time.monotonic() + 20
        while not os.path.exists(q["release"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        body = b"released"
    elif last == "sleep":
        time.sleep(float(q.get("s", "1")))
        body = b"slept"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


class Counting:
    """An ASGI app that counts its lifespan startups and puts the count in the state."""

    def __init__(self):
        self.startups = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.startups += 1
                    scope["state"]["started"] = self.startups
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        last = scope["path"].rsplit("/", 1)[-1]
        q = _query(scope["query_string"].decode())
        body = b"ok"
        if last == "hold":
            deadline = time.monotonic() + 20
            while not os.path.exists(q["release"]) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            body = b"released"
        elif last == "sleep":
            await asyncio.sleep(float(q.get("s", "1")))
            body = b"slept"
        elif last == "state":
            body = json.dumps({"startups": self.startups,
                               "state": dict(scope.get("state", {}))}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})


asgi_app = Counting()
quiet_app = Counting()
