"""The app of test_edge_listeners.py: answers JSON with what it sees of the request and of the
process — {"scheme": wsgi.url_scheme, "method", "uid", "gid"}; with `?sts=1` it sets its own
Strict-Transport-Security header ("max-age=5")."""

import json
import os


def app(environ, start_response):
    body = json.dumps({
        "scheme": environ["wsgi.url_scheme"],
        "method": environ["REQUEST_METHOD"],
        "uid": os.getuid(),
        "gid": os.getgid(),
    }).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if "sts=1" in environ.get("QUERY_STRING", ""):
        headers.append(("Strict-Transport-Security", "max-age=5"))
    start_response("200 OK", headers)
    return [body]
