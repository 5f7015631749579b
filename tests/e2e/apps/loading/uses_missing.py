"""Imports a package that is not installed: its import fails in the app's own code."""

import no_such_dependency  # noqa: F401


def app(environ, start_response):
    start_response("200 OK", [])
    return [b"unreachable"]
