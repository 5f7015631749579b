"""`app` answers its environ as JSON: {"environ": {key: value}, "types": {key: type name},
"input": [...], "errors": [...], "file_wrapper_callable": bool, "environ_type": name}.

Values that JSON cannot carry (streams, callables) are given as their repr. `?read=1` also reads
the request body with read() and answers it (latin-1) as "body", and what three more reads
(read(), read(10), readline()) returned at EOF as "after_eof".
"""

from apps.util import json_response, query


def _plain(v):
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return repr(v)


def app(environ, start_response):
    out = {
        "environ": {k: _plain(v) for k, v in environ.items()},
        "types": {k: type(v).__name__ for k, v in environ.items()},
        "environ_type": type(environ).__name__,
        "input": [a for a in ("read", "readline", "readlines", "__iter__")
                  if hasattr(environ["wsgi.input"], a)],
        "errors": [a for a in ("write", "writelines", "flush")
                   if hasattr(environ["wsgi.errors"], a)],
        "file_wrapper_callable": callable(environ.get("wsgi.file_wrapper")),
    }
    if query(environ).get("read"):
        inp = environ["wsgi.input"]
        out["body"] = inp.read().decode("latin-1")
        # at EOF every read answers b""
        out["after_eof"] = [repr(inp.read()), repr(inp.read(10)), repr(inp.readline())]
    return json_response(start_response, out)
