"""--proxy-protocol: every connection starts with a PROXY protocol header (HAProxy's
proxy-protocol.txt, v1 text or v2 binary), read before TLS and HTTP; the client it names is
the one apps (WSGI REMOTE_ADDR/REMOTE_PORT, the ASGI client) and the access log see. Only peers
in --forwarded-allow-ips (default 127.0.0.1,::1) may send it; a missing, malformed, oversized or
slow header closes the connection.
"""

from __future__ import annotations

import json
import socket
import struct
import time

import pytest

import conftest
from wire import Conn, request

APPS = ("/w=apps.environ_app:app", "/a=asgi:apps.asgi_scope:app")
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(family: str, src: str, dst: str, sport: int, dport: int) -> bytes:
    return f"PROXY {family} {src} {dst} {sport} {dport}\r\n".encode()


def v2(src: str, dst: str, sport: int, dport: int, *, tlvs: bytes = b"") -> bytes:
    """A v2 PROXY (0x21) header over TCP for IPv4 or IPv6 addresses, then `tlvs`."""
    family = socket.AF_INET6 if ":" in src else socket.AF_INET
    block = (socket.inet_pton(family, src) + socket.inet_pton(family, dst)
             + struct.pack("!HH", sport, dport) + tlvs)
    fam = 0x21 if family == socket.AF_INET6 else 0x11
    return V2_SIGNATURE + struct.pack("!BBH", 0x21, fam, len(block)) + block


def v2_local(body: bytes = b"") -> bytes:
    return V2_SIGNATURE + struct.pack("!BBH", 0x20, 0x00, len(body)) + body


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!BH", kind, len(value)) + value


def wsgi_environ(conn: Conn) -> dict:
    r = conn.roundtrip(request("GET", "/w/"))
    assert r.status == 200, (r.status, r.body[:300])
    return json.loads(r.body)["environ"]


def asgi_scope(conn: Conn) -> dict:
    r = conn.roundtrip(request("GET", "/a/scope"))
    assert r.status == 200, (r.status, r.body[:300])
    return json.loads(r.body)


def closes_without_answer(conn: Conn, data: bytes, timeout: float = 5.0) -> float:
    """Send `data` (the server may already have closed) and wait for the close; no byte of an
    HTTP answer may come first. Returns the seconds it took."""
    start = time.monotonic()
    try:
        conn.send(data)
    except (BrokenPipeError, ConnectionResetError):
        return time.monotonic() - start
    assert conn.wait_closed(timeout) == b""
    return time.monotonic() - start


@pytest.fixture(scope="module")
def proxy_server():
    """One --proxy-protocol server for the tests that do not need options of their own."""
    args = [str(conftest.junction_bin()), "--bind", "127.0.0.1:0", "--log-level", "debug",
            "--proxy-protocol", "--pythonpath", str(conftest.E2E_DIR), *APPS]
    s = conftest.Server(args, binds=1, env=conftest.server_environment())
    yield s
    code = s.stop()
    print(s.dump())
    assert code == 0, s.dump()


def test_v1_ipv4_names_client_and_server(proxy_server):
    """A v1 TCP4 line: WSGI REMOTE_ADDR/REMOTE_PORT are its source, the ASGI scope's client and
    server its source and destination; the connection goes on serving requests."""
    with Conn(proxy_server.address) as c:
        c.send(v1("TCP4", "203.0.113.7", "198.51.100.2", 40000, 8443))
        env = wsgi_environ(c)
        assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("203.0.113.7", "40000")
        scope = asgi_scope(c)
        assert scope["client"] == ["203.0.113.7", 40000]
        assert scope["server"] == ["198.51.100.2", 8443]


def test_v1_ipv6(proxy_server):
    """A v1 TCP6 line names an IPv6 client, written as the socket would write it."""
    with Conn(proxy_server.address) as c:
        c.send(v1("TCP6", "2001:DB8:0:0:0:0:0:7", "2001:db8::1", 40001, 443))
        env = wsgi_environ(c)
        assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("2001:db8::7", "40001")
        assert asgi_scope(c)["client"] == ["2001:db8::7", 40001]


@pytest.mark.parametrize("src,dst", [("192.0.2.10", "192.0.2.1"), ("2001:db8::10", "::1")])
def test_v2_with_tlvs(proxy_server, src, dst):
    """A v2 header over IPv4 or IPv6 with TLVs (ALPN, authority, padding, a custom one): the
    TLVs are skipped, the header's client is the app's."""
    tlvs = tlv(0x01, b"h2") + tlv(0x02, b"example.com") + tlv(0x04, b"\0" * 10) + tlv(0xE0, b"x")
    with Conn(proxy_server.address) as c:
        c.send(v2(src, dst, 50000, 443, tlvs=tlvs) + request("GET", "/w/"))
        r = c.read_response()
        assert r.status == 200
        env = json.loads(r.body)["environ"]
        assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == (src, "50000")
        assert asgi_scope(c)["client"] == [src, 50000]


@pytest.mark.parametrize("header", [v2_local(), v2_local(b"\x11" * 12), b"PROXY UNKNOWN\r\n"],
                         ids=["v2-local", "v2-local-with-block", "v1-unknown"])
def test_local_and_unknown_keep_the_socket_address(proxy_server, header):
    """v2 LOCAL (a health check from the proxy itself) and v1 UNKNOWN keep the socket's own
    address: 127.0.0.1 and this client's port."""
    with Conn(proxy_server.address) as c:
        c.send(header)
        env = wsgi_environ(c)
        assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("127.0.0.1", str(c.local_port))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_header_split_across_sends(proxy_server, version):
    """A header that arrives in pieces, with pauses, is put together; its last piece comes with
    the request, whose bytes are not taken as the header's."""
    header = (v1("TCP4", "203.0.113.8", "198.51.100.2", 40002, 80) if version == "v1"
              else v2("203.0.113.8", "198.51.100.2", 40002, 80, tlvs=tlv(0x04, b"pad")))
    with Conn(proxy_server.address) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece in (header[:1], header[1:7], header[7:15], header[15:-3]):
            c.send(piece)
            time.sleep(0.15)
        c.send(header[-3:] + request("GET", "/w/"))
        r = c.read_response()
        assert r.status == 200
        assert json.loads(r.body)["environ"]["REMOTE_ADDR"] == "203.0.113.8"


def test_http2_prior_knowledge_after_the_header(proxy_server):
    """The HTTP/2 preface right after a v2 header is h2c prior knowledge: the ASGI app sees
    HTTP/2 and the header's client."""
    import h2.config
    import h2.connection
    import h2.events

    with socket.create_connection(proxy_server.address, timeout=5) as sock:
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        conn.send_headers(1, [(":method", "GET"), (":scheme", "http"), (":path", "/a/scope"),
                              (":authority", "localhost")], end_stream=True)
        sock.sendall(v2("198.51.100.77", "192.0.2.1", 40003, 80) + conn.data_to_send())
        status, body, ended = None, bytearray(), False
        while not ended:
            data = sock.recv(65536)
            assert data, "server closed the HTTP/2 connection"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = dict(event.headers)[":status"]
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, 1)
                elif isinstance(event, h2.events.StreamEnded):
                    ended = True
            sock.sendall(conn.data_to_send())
    assert status == "200"
    scope = json.loads(body)
    assert scope["http_version"] == "2"
    assert scope["client"] == ["198.51.100.77", 40003]


def test_plain_request_is_closed_at_once(proxy_server):
    """A plain HTTP request (no header) on a PROXY listener is closed unanswered, on its first
    bytes, long before --timeout-request-header."""
    with Conn(proxy_server.address) as c:
        assert closes_without_answer(c, request("GET", "/w/")) < 2.0
    with Conn(proxy_server.address) as c:  # the HTTP/2 preface is no header either
        assert closes_without_answer(c, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") < 2.0
    assert proxy_server.stderr.wait_for(
        lambda lines: any("not a PROXY protocol header" in line for line in lines), 5)


@pytest.mark.parametrize("header", [
    V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x11, 65000),  # only the fixed 16 bytes
    b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n",  # no CRLF in 107 bytes
    b"PROXY TCP4 203.0.113.1 198.51.100.2 99999 80\r\n",  # a port out of range
], ids=["v2-length", "v1-length", "v1-port"])
def test_oversized_or_malformed_header_is_closed(proxy_server, header):
    """A v2 length past the bound (closed on the 16 fixed bytes, without waiting for the rest),
    a v1 line with no CRLF in its first 107 bytes, a bad field: closed unanswered, at once."""
    with Conn(proxy_server.address) as c:
        assert closes_without_answer(c, header) < 2.0


def test_access_log_shows_the_proxy_client(proxy_server):
    """The access log line names the PROXY client, not the proxy."""
    with Conn(proxy_server.address) as c:
        c.send(v1("TCP4", "203.0.113.9", "198.51.100.2", 40009, 80))
        wsgi_environ(c)

    def hit(lines):
        return any(line.startswith('203.0.113.9:40009 - "GET /w/ HTTP/1.1" 200 ')
                   for line in lines)

    assert proxy_server.stdout.wait_for(hit, 5), proxy_server.stdout.snapshot()[-20:]


def test_slowloris_inside_the_header_is_closed(start_app):
    """A header that trickles in a byte at a time is cut at --timeout-request-header (1 s),
    counted from the connection's start."""
    server = start_app(*APPS, extra=["--proxy-protocol", "--timeout-request-header", "1"],
                       log_level="debug")
    header = v1("TCP4", "203.0.113.1", "198.51.100.2", 40010, 80)
    with Conn(server.address) as c:
        start = time.monotonic()
        closed_at = None
        for byte in header[:-2]:
            try:
                c.send(bytes([byte]))
                c.settimeout(0.2)
                if c.sock.recv(1) == b"":
                    closed_at = time.monotonic() - start
                    break
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic() - start
                break
        assert closed_at is not None, "the server waited for the whole trickled header"
        assert 0.9 <= closed_at < 3.0
    assert server.stderr.wait_for(lambda ls: any("timed out" in line for line in ls), 5)


def test_untrusted_peer_is_closed(start_app):
    """A peer outside --forwarded-allow-ips is closed before its header is read, however valid
    the header."""
    server = start_app(*APPS, extra=["--proxy-protocol", "--forwarded-allow-ips", "10.9.9.9"],
                       log_level="debug")
    with Conn(server.address) as c:
        header = v1("TCP4", "203.0.113.1", "198.51.100.2", 40011, 80)
        assert closes_without_answer(c, header + request("GET", "/w/")) < 2.0
    assert server.stderr.wait_for(
        lambda ls: any("not in --forwarded-allow-ips" in line for line in ls), 5)


def test_header_then_tls(start_tls, tls_pki):
    """On a TLS listener the header comes first, then the handshake: the app behind TLS sees
    the header's client."""
    from tls_util import client_context

    server = start_tls(apps=APPS, extra=["--proxy-protocol"])
    with Conn(server.address) as c:
        c.send(v2("2001:db8::42", "2001:db8::1", 40012, 443))
        c.sock = client_context(tls_pki).wrap_socket(c.sock, server_hostname="localhost")
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        env = wsgi_environ(c)
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("2001:db8::42", "40012")
    assert env["wsgi.url_scheme"] == "https"
