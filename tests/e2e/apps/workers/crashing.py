"""Imports fine, then its process dies 0.3 s later: every worker that loads it crashes soon
after it is ready, which the master must recognise as a crash loop."""

import os
import threading

threading.Timer(0.3, os._exit, (1,)).start()


def app(environ, start_response):
    start_response("200 OK", [("Content-Length", "0")])
    return [b""]
