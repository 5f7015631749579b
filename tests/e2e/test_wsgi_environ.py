"""The WSGI environ (PEP 3333 and docs/wsgi.md, "The environ"), wsgi.input, mounts, and
apps wrapped in wsgiref.validate.validator (which raises AssertionError on any violation).

The app `apps.environ_app:app` answers its environ as JSON; `apps.validated:app` is validated.
"""

from __future__ import annotations

import hashlib
import io
import json
import random

import pytest

from wire import Conn, chunked, request
from wsgi_util import get, get_json

ENV_APP = "apps.environ_app:app"
CGI_KEYS = [
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME", "SERVER_PORT",
    "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT", "RAW_URI",
]


def environ_of(conn: Conn, data: bytes) -> dict:
    r = conn.roundtrip(data)
    assert r.status == 200, (r.status, r.body[:500])
    return json.loads(r.body)


@pytest.fixture
def env_server(start_app):
    return start_app(ENV_APP)


def test_environ_keys_values_and_types(env_server):
    """Every environ key has the right value and type: CGI keys are str (SERVER_PORT too),
    PATH_INFO is percent-decoded as latin-1, HTTP_* duplicates are joined with ", ", Cookie
    with "; ", a header named with "_" is dropped, no CONTENT_* without a body, wsgi.* keys."""
    target = "/caf%C3%A9/x?a=1&b=%20&c=%C3%A9"
    with Conn(env_server.address) as c:
        out = environ_of(c, request("GET", target, host="localhost:8123", headers=[
            ("User-Agent", "e2e-test"),
            ("X-Dup", "one"),
            ("X-Dup", "two"),
            ("Cookie", "a=1"),
            ("Cookie", "b=2"),
            ("X_Under", "dropped"),
            ("X-Under", "kept"),
            ("Accept", "text/plain"),
        ]))
        local_port = c.local_port
    env, types = out["environ"], out["types"]

    assert out["environ_type"] == "dict"
    expected = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/caf\u00c3\u00a9/x",  # the UTF-8 bytes of "é", each decoded as latin-1
        "QUERY_STRING": "a=1&b=%20&c=%C3%A9",  # not decoded
        "RAW_URI": target,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8123",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": str(local_port),
        "HTTP_HOST": "localhost:8123",
        "HTTP_USER_AGENT": "e2e-test",
        "HTTP_ACCEPT": "text/plain",
        "HTTP_X_DUP": "one, two",
        "HTTP_COOKIE": "a=1; b=2",
        "HTTP_X_UNDER": "kept",  # from X-Under; X_Under must not overwrite or join it
    }
    got = {k: env.get(k) for k in expected}
    assert got == expected
    for key in CGI_KEYS:
        assert types.get(key) == "str", f"{key} is a {types.get(key)}, not a str"
    for key, t in types.items():
        if "." not in key:
            assert t == "str", f"{key} is a {t}, not a str"
    for key in ("CONTENT_LENGTH", "CONTENT_TYPE", "HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE"):
        assert key not in env, f"{key} present in a request without a body: {env.get(key)!r}"
    # Every request has an ID (--request-id-header, docs/operations.md): a new one here.
    assert len(env.pop("HTTP_X_REQUEST_ID")) == 32
    unexpected_http = sorted(k for k in env if k.startswith("HTTP_") and k not in expected)
    assert unexpected_http == [], f"unexpected HTTP_ keys {unexpected_http}"

    assert env["wsgi.version"] == [1, 0] and types["wsgi.version"] == "tuple"
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    assert out["file_wrapper_callable"] is True
    assert out["input"] == ["read", "readline", "readlines", "__iter__"]
    assert out["errors"] == ["write", "writelines", "flush"]
    assert "wsgi.input" in env and "wsgi.errors" in env


def test_server_name_and_port_from_listener_without_host(env_server):
    """Without a Host header (HTTP/1.0), SERVER_NAME/SERVER_PORT come from the listening address."""
    with Conn(env_server.address) as c:
        c.send(request("GET", "/nohost", version="HTTP/1.0", host=None))
        r = c.read_response()
    assert r.status == 200, r.body[:300]
    env = json.loads(r.body)["environ"]
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", str(env_server.port))
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert "HTTP_HOST" not in env


def test_server_port_when_host_has_no_port(env_server):
    """`Host: example.test` (no port): SERVER_NAME from Host, SERVER_PORT the scheme's default "80"."""
    env = get_json(env_server, "/", host="example.test")["environ"]
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.test", "80")


@pytest.mark.parametrize("raw,decoded", [
    ("/caf%C3%A9", "/caf\u00c3\u00a9"),
    ("/a%20b", "/a b"),
    ("/%7Euser/%41", "/~user/A"),
    ("/%FF%00x", "/\u00ff\u0000x"),
    ("/plain/path/", "/plain/path/"),
])
def test_path_info_percent_decoded_latin1(env_server, raw, decoded):
    """PATH_INFO is the percent-decoded path with each byte as one latin-1 character; RAW_URI is raw."""
    env = get_json(env_server, raw + "?k=%41")["environ"]
    assert env["PATH_INFO"] == decoded
    assert env["RAW_URI"] == raw + "?k=%41"
    assert env["QUERY_STRING"] == "k=%41"


def test_content_length_and_type_present_when_sent(env_server):
    """A body with Content-Length and Content-Type gives CONTENT_LENGTH/CONTENT_TYPE (not HTTP_*);
    read() returns the body, and reads at EOF return b""."""
    with Conn(env_server.address) as c:
        out = environ_of(c, request("POST", "/p?read=1", body=b"hello",
                                    headers=[("Content-Type", "text/plain; charset=utf-8")]))
        env = out["environ"]
        assert env["CONTENT_LENGTH"] == "5" and out["types"]["CONTENT_LENGTH"] == "str"
        assert env["CONTENT_TYPE"] == "text/plain; charset=utf-8"
        assert "HTTP_CONTENT_LENGTH" not in env and "HTTP_CONTENT_TYPE" not in env
        assert out["body"] == "hello"
        assert out["after_eof"] == ["b''", "b''", "b''"]

        # Content-Length: 0 is sent, so it is there; no Content-Type was sent
        out = environ_of(c, request("POST", "/p?read=1", headers=[("Content-Length", "0")]))
        assert out["environ"].get("CONTENT_LENGTH") == "0"
        assert "CONTENT_TYPE" not in out["environ"]
        assert out["body"] == ""


def test_chunked_body_has_no_content_length(env_server):
    """A chunked request has no CONTENT_LENGTH (the request has none); read() still gets the whole body."""
    body = [b"first piece, ", b"second piece, ", b"last"]
    with Conn(env_server.address) as c:
        out = environ_of(c, request("POST", "/c?read=1", headers=[
            ("Transfer-Encoding", "chunked"), ("Content-Type", "application/octet-stream")
        ]) + chunked(*body))
    env = out["environ"]
    assert "CONTENT_LENGTH" not in env, env.get("CONTENT_LENGTH")
    assert env["CONTENT_TYPE"] == "application/octet-stream"
    assert "HTTP_TRANSFER_ENCODING" not in env or env["HTTP_TRANSFER_ENCODING"] == "chunked"
    assert env["wsgi.input_terminated"] is True
    assert out["body"] == b"".join(body).decode()
    assert out["after_eof"] == ["b''", "b''", "b''"]


# --- mounts ----------------------------------------------------------------------------------

@pytest.mark.parametrize("target,script,path", [
    ("/api/v2/x", "/api/v2", "/x"),
    ("/api/v2", "/api/v2", ""),
    ("/api/v2/", "/api/v2", "/"),
    ("/api/v2x", "/api", "/v2x"),  # whole segments only: /api/v2 does not match /api/v2x
    ("/api/", "/api", "/"),
    ("/api", "/api", ""),
    ("/api/caf%C3%A9?q=1", "/api", "/caf\u00c3\u00a9"),
])
def test_mounted_prefix_sets_script_name(start_app, target, script, path):
    """With PREFIX= mounts, SCRIPT_NAME is the longest whole-segment prefix and PATH_INFO the rest."""
    server = start_app(f"/api={ENV_APP}", f"/api/v2={ENV_APP}")
    env = get_json(server, target)["environ"]
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == (script, path)
    assert env["RAW_URI"] == target


def test_unmounted_path_is_404_and_root_mount_catches_rest(start_app):
    """Without a root app, a path outside every prefix is 404; with one, it gets SCRIPT_NAME ""."""
    server = start_app(f"/api={ENV_APP}")
    for target in ("/other", "/apix", "/"):
        assert get(server, target).status == 404, target
    server2 = start_app(ENV_APP, f"/api={ENV_APP}")
    env = get_json(server2, "/apix/y")["environ"]
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/apix/y")
    env = get_json(server2, "/api/y")["environ"]
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/api", "/y")


# --- wsgiref.validate ------------------------------------------------------------------------

def _lines_body(seed: int, n: int = 3000) -> bytes:
    """Lines of random lengths (some empty, some long), the last one without a newline."""
    rng = random.Random(seed)
    lines = [bytes(rng.choice(b"abcdefghij") for _ in range(rng.choice([0, 1, 5, 80, 3000])))
             for _ in range(n)]
    return b"\n".join(lines) + b"\nno newline at the end"


def _split_lines(body: bytes, limit: int = -1) -> int:
    f = io.BytesIO(body)
    count = 0
    while f.readline(limit):
        count += 1
    return count


def test_validator_sees_no_violation(start_app):
    """Under wsgiref.validate.validator: GET, write(), a generator, wsgi.errors, and POST bodies
    (Content-Length and chunked) read with read(n), readline(), readline(n), readlines() and
    iteration all answer 200 with the right bytes, and no AssertionError or WSGIWarning is
    logged (also none from the validator's check that every iterable was closed)."""
    server = start_app("apps.validated:app")
    body = _lines_body(1)
    digest = hashlib.sha256(body).hexdigest()
    lines = _split_lines(body)
    with Conn(server.address, timeout=30) as c:
        r = c.roundtrip(request("GET", "/get"))
        assert (r.status, r.body) == (200, b"validated get\n")
        r = c.roundtrip(request("GET", "/write"))
        assert (r.status, r.body) == (200, b"written then returned\n")
        r = c.roundtrip(request("GET", "/stream"))
        assert (r.status, r.body) == (200, b"".join(b"part %d\n" % i for i in range(5)))
        r = c.roundtrip(request("GET", "/errors"))
        assert r.status == 200
        r = c.roundtrip(request("HEAD", "/get"), head_request=True)
        assert r.status == 200

        cases = [
            ("/read?n=7", f"{len(body)} {digest}"),
            ("/read?n=65536", f"{len(body)} {digest}"),
            ("/readline", f"{len(body)} {digest} {lines}"),
            ("/readline-limit?n=5", f"{len(body)} {digest} {_split_lines(body, 5)}"),
            ("/readlines", f"{len(body)} {digest} {lines}"),
            ("/iter", f"{len(body)} {digest} {lines}"),
        ]
        for target, want in cases:
            r = c.roundtrip(request("POST", target, body=body))
            assert (r.status, r.body.decode()) == (200, want), f"Content-Length body to {target}"
            pieces = [body[i:i + 1000] for i in range(0, len(body), 1000)]
            r = c.roundtrip(request("POST", target, headers=[("Transfer-Encoding", "chunked")])
                            + chunked(*pieces))
            assert (r.status, r.body.decode()) == (200, want), f"chunked body to {target}"
            r = c.roundtrip(request("POST", target, headers=[("Content-Length", "0")]))
            assert r.status == 200, f"empty body to {target}"
            assert r.body.decode().startswith(f"0 {hashlib.sha256(b'').hexdigest()}")

    code = server.stop()  # so every iterable has been released and the log is complete
    assert code == 0, server.dump()
    log = "\n".join(server.stderr.snapshot())
    assert "AssertionError" not in log, server.dump()
    assert "WSGIWarning" not in log, server.dump()
    assert "garbage collected without being closed" not in log, server.dump()
    assert "validated errors line" in log
    assert "validated writelines b" in log
