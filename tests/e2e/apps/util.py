"""Helpers shared by the test apps (not an app)."""

import json
from urllib.parse import parse_qs


def query(environ) -> dict:
    """The query string as {name: last value}."""
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def json_response(start_response, obj, status="200 OK"):
    body = json.dumps(obj, sort_keys=True).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def record(path: str, line: str) -> None:
    """Append one line to the file at `path` (how an app tells a test what happened)."""
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
