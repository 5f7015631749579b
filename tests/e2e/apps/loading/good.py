"""Well-formed apps: `app`, a factory `make_app()` and a dotted attribute `holder.inner.app`."""

import os
import sys

FACTORY_CALLS = 0


def _answer(start_response, text: str):
    body = text.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def app(environ, start_response):
    return _answer(start_response, "good app")


def make_app():
    global FACTORY_CALLS
    FACTORY_CALLS += 1
    calls = FACTORY_CALLS

    def made(environ, start_response):
        return _answer(start_response, f"made by factory, calls={calls}")

    return made


class _Inner:
    @staticmethod
    def app(environ, start_response):
        return _answer(start_response, "dotted inner app")


class _Holder:
    inner = _Inner()


holder = _Holder()


def where(environ, start_response):
    """Answers the process's working directory and sys.path, one per line."""
    return _answer(start_response, os.getcwd() + "\n" + "\n".join(sys.path))
