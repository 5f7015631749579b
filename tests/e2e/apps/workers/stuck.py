"""Apps that wedge their Python side, for --worker-timeout and --health-check-app.

wsgi: /block sleeps in the app for 30 s (holding a pool thread); anything else answers the pid.
asgi: /block calls time.sleep(30) inside the coroutine, which blocks the whole event loop;
      anything else answers the pid.
"""

import os
import time


def wsgi(environ, start_response):
    if environ["PATH_INFO"] == "/block":
        time.sleep(30)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/block":
        time.sleep(30)  # the mistake this catches: a blocking call on the event loop
    body = str(os.getpid()).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
