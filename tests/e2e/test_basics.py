"""The health endpoint, response headers, HTTP/1.0, absolute-form targets and the access log."""

from __future__ import annotations

import email.utils
import re
import subprocess

import httpx

from wire import Conn, request

ACCESS_LINE = re.compile(
    r'^(?P<client>\S+) - "(?P<method>\S+) (?P<target>\S+) (?P<version>HTTP/\d\.\d)" '
    r"(?P<status>\d{3}) (?P<bytes>\d+) (?P<ms>\d+(?:\.\d+)?)ms$"
)


def test_health_get(server):
    """GET on the health path answers 200 `ok` with Content-Length, Date and Server headers."""
    with Conn(server.address) as c:
        r = c.roundtrip(request("GET", "/healthz"))
    assert r.status == 200
    assert r.body == b"ok"
    assert r.header("content-length") == "2"
    assert r.header("server") == "junction"
    assert email.utils.parsedate_to_datetime(r.header("date")) is not None
    assert r.header("transfer-encoding") is None


def test_health_head_sends_no_body(server):
    """HEAD on the health path gets the GET headers (Content-Length 2) and no body bytes."""
    with Conn(server.address) as c:
        c.send(request("HEAD", "/healthz"))
        r = c.read_response(head_request=True)
        assert r.status == 200
        assert r.header("content-length") == "2"
        # If any body bytes followed the head, the next response would not start at "HTTP/".
        c.assert_open(0.3)
        r2 = c.roundtrip(request("GET", "/healthz"))
        assert (r2.status, r2.body) == (200, b"ok")


def test_unknown_path_is_404(server):
    """Any path other than the health path answers 404 and the connection stays usable."""
    with Conn(server.address) as c:
        r = c.roundtrip(request("GET", "/nope"))
        assert r.status == 404
        assert not r.has_token("connection", "close")
        assert c.roundtrip(request("GET", "/healthz")).status == 200


def test_health_query_is_ignored_for_routing(server):
    """A query string does not change which path is matched."""
    with Conn(server.address) as c:
        r = c.roundtrip(request("GET", "/healthz?x=1"))
    assert (r.status, r.body) == (200, b"ok")


def test_other_methods_get_405_with_allow(server):
    """Methods other than GET and HEAD on the health path get 405 with `Allow: GET, HEAD`."""
    for method in ("DELETE", "PUT", "OPTIONS"):
        with Conn(server.address) as c:
            r = c.roundtrip(request(method, "/healthz"))
        assert r.status == 405, method
        assert r.header("allow") == "GET, HEAD", method


def test_health_path_is_off_by_default(start_app):
    """Without --health-path there is no health endpoint: /healthz, outside the app's mount, is
    the router's 404."""
    s = start_app("/app=apps.responses:app", health_path=None)
    with Conn(s.address) as c:
        r = c.roundtrip(request("GET", "/healthz"))
    assert r.status == 404
    assert r.body == b"Not Found\n"


def test_nothing_to_serve_is_a_usage_error(run_junction):
    """No APP, no --static and no --health-path: one line that says what to give, exit 2,
    nothing bound."""
    out = run_junction("--bind", "127.0.0.1:0")
    assert out.returncode == 2
    assert out.stderr == ("junction: nothing to serve: give an APP (MODULE:ATTR), --static "
                          "PREFIX=DIR or --health-path PATH (junction --help)\n")


def test_custom_health_path(start_server):
    """--health-path picks the path that answers `ok`."""
    s = start_server(health_path="/-/ready")
    with Conn(s.address) as c:
        r = c.roundtrip(request("GET", "/-/ready"))
        assert (r.status, r.body) == (200, b"ok")
        assert c.roundtrip(request("GET", "/healthz")).status == 404


def test_absolute_form_target(server):
    """An absolute-form target (`GET http://example.com/healthz`) is routed by its path."""
    with Conn(server.address) as c:
        r = c.roundtrip(
            request("GET", "http://example.com/healthz", host="example.com")
        )
    assert (r.status, r.body) == (200, b"ok")


def test_http10_without_keep_alive_is_closed(server):
    """An HTTP/1.0 request without `Connection: keep-alive` is answered and then closed."""
    with Conn(server.address) as c:
        r = c.roundtrip(request("GET", "/healthz", version="HTTP/1.0", host=None))
        assert (r.status, r.body) == (200, b"ok")
        c.wait_closed(5)


def test_http10_with_keep_alive_stays_open(server):
    """An HTTP/1.0 request with `Connection: keep-alive` keeps the connection open."""
    with Conn(server.address) as c:
        ka = [("Connection", "keep-alive")]
        r = c.roundtrip(request("GET", "/healthz", version="HTTP/1.0", host=None, headers=ka))
        assert (r.status, r.body) == (200, b"ok")
        assert r.has_token("connection", "keep-alive")
        r = c.roundtrip(request("GET", "/healthz", version="HTTP/1.0", host=None, headers=ka))
        assert (r.status, r.body) == (200, b"ok")


def test_connection_close_is_honoured(server):
    """An HTTP/1.1 request with `Connection: close` gets `Connection: close` and a close."""
    with Conn(server.address) as c:
        r = c.roundtrip(request("GET", "/healthz", headers=[("Connection", "close")]))
        assert (r.status, r.body) == (200, b"ok")
        assert r.has_token("connection", "close")
        c.wait_closed(5)


def test_curl(server):
    """curl gets `ok` from the health path and sees the Server header."""
    out = subprocess.run(
        ["curl", "-sS", "-i", "--max-time", "10", f"{server.base_url}/healthz"],
        capture_output=True, timeout=20,
    )
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert re.search(rb"(?im)^server: junction\r?$", head)
    assert body == b"ok"


def test_httpx_reuses_one_connection(server):
    """httpx makes 20 requests over one kept-alive connection and every one gets `ok`."""
    connects = []

    def trace(name, info):
        if name == "connection.connect_tcp.complete":
            connects.append(info)

    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        for _ in range(20):
            r = client.get("/healthz", extensions={"trace": trace})
            assert (r.status_code, r.text) == (200, "ok")
            assert r.http_version == "HTTP/1.1"
    assert len(connects) == 1


def test_io_threads(start_server):
    """With --io-threads 2 the server answers on several connections at once."""
    s = start_server("--io-threads", "2")
    conns = [Conn(s.address) for _ in range(8)]
    try:
        for c in conns:
            c.send(request("GET", "/healthz"))
        for c in conns:
            assert c.read_response().status == 200
    finally:
        for c in conns:
            c.close()


def test_access_log_line(server):
    """Each request prints one access-log line on stdout: client, method, target, status, bytes, duration."""
    with Conn(server.address) as c:
        port = c.local_port
        assert c.roundtrip(request("GET", "/healthz")).status == 200
        assert c.roundtrip(request("GET", "/missing")).status == 404

    def lines_for_port(lines):
        hits = [m for line in lines if (m := ACCESS_LINE.match(line))
                and m.group("client") == f"127.0.0.1:{port}"]
        return hits if len(hits) >= 2 else None

    hits = server.stdout.wait_for(lines_for_port, 5)
    assert hits, f"no access-log lines for port {port}: {server.stdout.snapshot()}"
    first, second = hits[:2]
    assert (first["method"], first["target"], first["version"]) == ("GET", "/healthz", "HTTP/1.1")
    assert (first["status"], first["bytes"]) == ("200", "2")
    assert float(first["ms"]) < 60_000
    assert (second["target"], second["status"]) == ("/missing", "404")


def test_access_log_counts_the_body_of_the_500_for_a_failed_app(start_app):
    """A WSGI app that raises gets a 500 whose body the log counts: the bytes that left, not 0."""
    s = start_app("apps.responses:app")
    with Conn(s.address) as c:
        port = c.local_port
        r = c.roundtrip(request("GET", "/raise-before"))
    assert r.status == 500

    def line(lines):
        return next((m for l in lines if (m := ACCESS_LINE.match(l))
                     and m.group("client") == f"127.0.0.1:{port}"), None)

    hit = s.stdout.wait_for(line, 5)
    assert hit, s.stdout.snapshot()
    assert (hit["status"], hit["bytes"]) == ("500", str(len(r.body))) and r.body


def test_flags_from_the_environment(start_server):
    """JUNCTION_<FLAG> sets a flag the command line does not give (here the health path and
    the access log), and a bad value there is one line naming the flag, exit 2."""
    s = start_server(health_path=None, env={"JUNCTION_HEALTH_PATH": "/from-env",
                                            "JUNCTION_NO_ACCESS_LOG": "1"})
    with Conn(s.address) as c:
        assert c.roundtrip(request("GET", "/from-env")).body == b"ok"
    assert s.stdout.wait_for(lambda lines: any(ACCESS_LINE.match(l) for l in lines), 0.5) is None


def test_a_bad_value_from_the_environment_exits_2(run_junction):
    """A JUNCTION_ variable with a bad value stops the start like the flag would."""
    out = run_junction("--bind", "127.0.0.1:0", "--health-path", "/h",
                       env={"JUNCTION_IO_THREADS": "lots"})
    lines = [l for l in out.stderr.splitlines() if l.strip()]
    assert out.returncode == 2, out
    assert len(lines) == 1 and lines[0].startswith("junction: ") and "--io-threads" in lines[0]


def test_no_access_log(start_server):
    """--no-access-log prints nothing on stdout for requests."""
    s = start_server("--no-access-log")
    with Conn(s.address) as c:
        for _ in range(3):
            assert c.roundtrip(request("GET", "/healthz")).status == 200
    assert s.stdout.wait_for(lambda lines: any(ACCESS_LINE.match(l) for l in lines), 1.0) is None
    assert s.stdout.snapshot() == []
