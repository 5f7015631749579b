"""Trusted proxy headers: from a peer in --forwarded-allow-ips (default 127.0.0.1,::1),
X-Forwarded-For / RFC 7239 Forwarded name the client, X-Forwarded-Proto / -Scheme / proto= the
scheme and, with --forwarded-host, X-Forwarded-Host / -Port / host= the host, for WSGI (REMOTE_ADDR,
wsgi.url_scheme, HTTPS, HTTP_HOST), ASGI (scope client, scheme, host header), WebSockets, Django
and the access log, over HTTP/1.1, h2c and TLS. From any other peer they change nothing.

The apps are apps.forwarded_app (WSGI at /w, ASGI at /a) and apps.forwarded_django.
"""

from __future__ import annotations

import json
import re
import shutil
import ssl
import subprocess

import httpx
import pytest
from websockets.sync.client import connect

from conftest import REPO, server_environment
from wire import Conn, request

APPS = ("/w=wsgi:apps.forwarded_app:wsgi_app", "/a=asgi:apps.forwarded_app:asgi_app")
KINDS = ("w", "a")
PEER = "peer"  # an expected client: the socket's own address, as if no header had been sent
XFF, XFP = "X-Forwarded-For", "X-Forwarded-Proto"


def start(start_app, *flags, **kw):
    return start_app(*APPS, extra=list(flags), **kw)


def view(kind: str, seen: dict) -> dict:
    """What the WSGI or ASGI app saw, in one shape: client (host, port), scheme, host."""
    if kind == "w":
        return {"client": (seen["REMOTE_ADDR"], int(seen["REMOTE_PORT"])),
                "scheme": seen["wsgi.url_scheme"], "host": seen.get("HTTP_HOST")}
    hosts = [v for n, v in seen["headers"] if n == "host"]
    return {"client": tuple(seen["client"]) if seen["client"] is not None else None,
            "scheme": seen["scheme"], "host": ",".join(hosts) or None}


def ask(server, kind, headers=(), *, address=None):
    """One HTTP/1.1 request to the app `kind`: (raw JSON it answered, view, the socket's own
    (host, port) as the server sees it)."""
    with Conn(address or server.address) as c:
        r = c.roundtrip(request("GET", f"/{kind}/", headers=list(headers)))
        local = c.sock.getsockname()
    assert r.status == 200, (r.status, r.body[:500])
    seen = json.loads(r.body)
    peer = (local[0], local[1]) if isinstance(local, tuple) else None
    return seen, view(kind, seen), peer


def ask_h2(h2client, server, kind, headers=()):
    """The same over h2c (prior knowledge)."""
    c = h2client(server.address)
    r = c.get(f"/{kind}/", headers=[(k.lower(), v) for k, v in headers])
    assert r["status"] == 200, r
    seen = json.loads(bytes(r["data"]))
    return seen, view(kind, seen), c.sock.getsockname()[:2]


def expect_client(expected, peer):
    return peer if expected == PEER else expected


# --- 1, 2: who is trusted -----------------------------------------------------------------------

@pytest.mark.parametrize("proto", ["h1", "h2c"])
@pytest.mark.parametrize("kind", KINDS)
def test_default_trust_applies_client_and_scheme(start_app, h2client, kind, proto):
    """From 127.0.0.1 (trusted by default) the app sees the forwarded client and https."""
    server = start(start_app)
    headers = [(XFF, "203.0.113.7"), (XFP, "https")]
    go = ask if proto == "h1" else (lambda *a, **k: ask_h2(h2client, *a, **k))
    seen, v, _ = go(server, kind, headers)
    assert v["client"] == ("203.0.113.7", 0)
    assert v["scheme"] == "https"
    if kind == "w":
        assert seen["HTTPS"] == "on"
        assert seen["HTTP_X_FORWARDED_FOR"] == "203.0.113.7"
    seen, plain, peer = go(server, kind)  # without the headers: the socket's address, http
    assert (plain["client"], plain["scheme"]) == (peer, "http")
    assert "HTTPS" not in seen


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("kind", KINDS)
def test_h2c_upgrade_request(start_app, kind):
    """The request that upgrades to h2c (served as HTTP/2 stream 1) is a trusted proxy's
    request like any other."""
    server = start(start_app)
    out = subprocess.run(["curl", "-sv", "--max-time", "10", "--http2", "-H",
                          f"{XFF}: 203.0.113.7", "-H", f"{XFP}: https",
                          f"{server.base_url}/{kind}/"], capture_output=True, text=True, timeout=20)
    assert "HTTP/1.1 101" in out.stderr and "HTTP/2 200" in out.stderr, out.stderr
    v = view(kind, json.loads(out.stdout))
    assert (v["client"], v["scheme"]) == (("203.0.113.7", 0), "https")


@pytest.mark.parametrize("kind", KINDS)
def test_untrusted_peer_changes_nothing_but_headers_stay_visible(start_app, kind):
    """Peer 127.0.0.1 outside --forwarded-allow-ips: client, scheme and host stay as the
    socket and request say, and the app still sees the proxy headers themselves."""
    server = start(start_app, "--forwarded-allow-ips", "10.0.0.1", "--forwarded-host")
    headers = [(XFF, "203.0.113.7"), (XFP, "https"), ("X-Forwarded-Host", "shop.example"),
               ("X-Forwarded-Port", "8443"), ("Forwarded", "for=192.0.2.60;proto=https")]
    seen, v, peer = ask(server, kind, headers)
    assert v == {"client": peer, "scheme": "http", "host": "localhost"}
    if kind == "w":
        assert "HTTPS" not in seen
        assert (seen["HTTP_X_FORWARDED_FOR"], seen["HTTP_X_FORWARDED_PROTO"],
                seen["HTTP_X_FORWARDED_HOST"], seen["HTTP_FORWARDED"]) == (
            "203.0.113.7", "https", "shop.example", "for=192.0.2.60;proto=https")
    else:
        assert ["x-forwarded-for", "203.0.113.7"] in seen["headers"]
        assert ["forwarded", "for=192.0.2.60;proto=https"] in seen["headers"]


# --- 3, 4: X-Forwarded-For chains, IPv6, ports --------------------------------------------------

TRUST_10 = "127.0.0.1,10.0.0.0/8"


@pytest.mark.parametrize("allow, fields, client", [
    (TRUST_10, ["6.6.6.6, 203.0.113.7, 10.0.0.2"], "203.0.113.7"),
    ("*", ["6.6.6.6, 203.0.113.7, 10.0.0.2"], "6.6.6.6"),
    (TRUST_10, ["6.6.6.6", "203.0.113.7", "10.0.0.2, 10.9.8.7"], "203.0.113.7"),
    (TRUST_10, ["10.0.0.5, 10.0.0.2"], "10.0.0.5"),
    (None, ["6.6.6.6, 203.0.113.7, 10.0.0.2"], "10.0.0.2"),
    ("127.0.0.1, 10.1.2.3/8", ["6.6.6.6, 203.0.113.7, 10.200.0.1"], "203.0.113.7"),
    ("127.0.0.1,2001:db8::/32", ["198.51.100.1, 2001:db8::9"], "198.51.100.1"),
    ("127.0.0.1,[2001:db8::9]", ["198.51.100.1, 2001:db8::9"], "198.51.100.1"),
    (None, ["garbage, 203.0.113.7"], "203.0.113.7"),
], ids=["trusted-hop", "star-leftmost", "fields-joined", "all-trusted-leftmost",
        "default-list", "host-bits-cleared", "ipv6-cidr", "bracketed-entry", "stops-before-junk"])
def test_x_forwarded_for_chain(start_app, allow, fields, client):
    """The client is the rightmost entry that is not a trusted proxy (the leftmost when all
    are), so entries a client prepends cannot spoof it."""
    server = start(start_app, *(["--forwarded-allow-ips", allow] if allow else []))
    for kind in KINDS:
        _, v, _ = ask(server, kind, [(XFF, f) for f in fields])
        assert v["client"] == (client, 0), kind


@pytest.mark.parametrize("entry, client", [
    ("203.0.113.7:4711", ("203.0.113.7", 4711)),
    ("2001:db8::1", ("2001:db8::1", 0)),
    ("2001:DB8:0:0::1", ("2001:db8::1", 0)),
    ("[2001:db8::1]", ("2001:db8::1", 0)),
    ("[2001:DB8::0:1]:8443", ("2001:db8::1", 8443)),
    ("::ffff:192.0.2.1", ("::ffff:192.0.2.1", 0)),
])
def test_x_forwarded_for_ipv6_and_ports(start_app, entry, client):
    """IPv4:port, bare and bracketed IPv6 (with a port) are understood; the host is written
    as inet_ntop writes it and the port is the client's."""
    server = start(start_app)
    for kind in KINDS:
        assert ask(server, kind, [(XFF, entry)])[1]["client"] == client, kind


# --- 5: RFC 7239 Forwarded ----------------------------------------------------------------------

@pytest.mark.parametrize("allow, headers, client, scheme", [
    (None, [("Forwarded", "for=192.0.2.60;proto=https")], ("192.0.2.60", 0), "https"),
    (None, [("Forwarded", 'for="[2001:db8:cafe::17]:4711";proto=https')],
     ("2001:db8:cafe::17", 4711), "https"),
    (None, [("Forwarded", "For=192.0.2.62;Proto=HTTPS")], ("192.0.2.62", 0), "https"),
    (None, [("Forwarded", "for=_hidden;proto=https")], PEER, "https"),
    (None, [("Forwarded", "for=unknown;proto=https")], PEER, "https"),
    (None, [("Forwarded", "proto=https;by=10.0.0.1")], PEER, "https"),
    (TRUST_10, [("Forwarded", "for=6.6.6.6;proto=http, for=198.51.100.4;proto=https, "
                              "for=10.0.0.2;proto=http")], ("198.51.100.4", 0), "https"),
    (TRUST_10, [("Forwarded", "for=203.0.113.1, for=_hidden;proto=https, for=10.0.0.2")],
     PEER, "https"),
    (None, [("Forwarded", "for=6.6.6.6;proto=http"), ("Forwarded", "for=192.0.2.61;proto=https")],
     ("192.0.2.61", 0), "https"),
    (None, [(XFF, "203.0.113.7"), ("Forwarded", "for=192.0.2.60;proto=https")],
     ("203.0.113.7", 0), "https"),
    (None, [(XFP, "http"), ("Forwarded", "for=192.0.2.60;proto=https")], ("192.0.2.60", 0), "http"),
    (None, [("Forwarded", 'for="192.0.2.60;proto=https')], PEER, "http"),
    (None, [("Forwarded", "for=192.0.2.60;for=192.0.2.61;proto=https")], PEER, "http"),
    (None, [("Forwarded", "for=192.0.2.60 junk;proto=https")], PEER, "http"),
    (None, [("Forwarded", "for=192.0.2.60;proto=https"), ("Forwarded", 'for="oops')], PEER, "http"),
    (None, [("Forwarded", "for=;proto=https")], PEER, "http"),
], ids=["plain", "quoted-ipv6-port", "case-insensitive", "obfuscated", "unknown", "no-for",
        "chain-trusted-hop", "chain-stops-at-hidden", "two-fields", "xff-wins", "xfp-wins",
        "unclosed-quote", "repeated-param", "junk-after-value", "one-bad-field", "empty-value"])
def test_forwarded_header(start_app, allow, headers, client, scheme):
    """Forwarded for= and proto= from the element the right-to-left walk settles on; a hidden
    or unknown for= leaves the client alone; X-Forwarded-* win; malformed fields are ignored."""
    server = start(start_app, *(["--forwarded-allow-ips", allow] if allow else []))
    for kind in KINDS:
        _, v, peer = ask(server, kind, headers)
        assert (v["client"], v["scheme"]) == (expect_client(client, peer), scheme), kind


# --- 6: --forwarded-host ------------------------------------------------------------------------

@pytest.mark.parametrize("headers, host, server_name, server_port", [
    ([("X-Forwarded-Host", "shop.example"), (XFP, "https"), ("X-Forwarded-Port", "443")],
     "shop.example", "shop.example", "443"),
    ([("X-Forwarded-Host", "shop.example"), (XFP, "https"), ("X-Forwarded-Port", "8443")],
     "shop.example:8443", "shop.example", "8443"),
    ([("X-Forwarded-Host", "shop.example"), ("X-Forwarded-Port", "80")],
     "shop.example", "shop.example", "80"),
    ([("X-Forwarded-Host", "shop.example:9000"), (XFP, "https"), ("X-Forwarded-Port", "443")],
     "shop.example", "shop.example", "443"),
    ([("X-Forwarded-Host", "shop.example:8080")], "shop.example:8080", "shop.example", "8080"),
    ([("X-Forwarded-Host", "evil.example, shop.example")], "shop.example", "shop.example", "80"),
    ([("X-Forwarded-Port", "8443")], "localhost:8443", "localhost", "8443"),
    ([("X-Forwarded-Host", "[2001:db8::1]:8080")], "[2001:db8::1]:8080", "[2001:db8::1]", "8080"),
    ([("Forwarded", "host=shop.example;proto=https")], "shop.example", "shop.example", "443"),
    ([("Forwarded", 'host="shop.example:8443"')], "shop.example:8443", "shop.example", "8443"),
    ([("X-Forwarded-Host", "shop.example/evil")], "localhost", "localhost", "80"),
    ([("X-Forwarded-Host", "a b.example")], "localhost", "localhost", "80"),
    ([("X-Forwarded-Host", "user@shop.example")], "localhost", "localhost", "80"),
    ([("X-Forwarded-Host", "shop.example:99999")], "localhost", "localhost", "80"),
], ids=["https-443-dropped", "https-8443", "http-80-dropped", "port-replaces-host-port",
        "host-with-port", "last-element", "port-only", "ipv6-literal", "forwarded-host",
        "forwarded-host-port", "slash", "space", "userinfo", "bad-port"])
def test_forwarded_host(start_app, headers, host, server_name, server_port):
    """With --forwarded-host the apps see the proxy's host and port (the scheme's default
    port left out); an invalid host is ignored."""
    server = start(start_app, "--forwarded-host")
    seen, v, _ = ask(server, "w", headers)
    assert (v["host"], seen["SERVER_NAME"], seen["SERVER_PORT"]) == (host, server_name, server_port)
    assert ask(server, "a", headers)[1]["host"] == host


@pytest.mark.parametrize("kind", KINDS)
def test_forwarded_host_over_h2c(start_app, h2client, kind):
    """Over HTTP/2 the :authority is replaced the same way, and the apps see one host."""
    server = start(start_app, "--forwarded-host")
    seen, v, _ = ask_h2(h2client, server, kind, [("X-Forwarded-Host", "shop.example"),
                                                 (XFP, "https"), ("X-Forwarded-Port", "8443")])
    assert (v["host"], v["scheme"]) == ("shop.example:8443", "https")
    if kind == "w":
        assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == ("shop.example", "8443")


def test_host_headers_do_nothing_without_the_flag(start_app):
    """Without --forwarded-host, X-Forwarded-Host/-Port and host= leave the host alone (the
    scheme still comes from the trusted proxy)."""
    server = start(start_app)
    headers = [("X-Forwarded-Host", "shop.example"), ("X-Forwarded-Port", "8443"), (XFP, "https"),
               ("Forwarded", "host=other.example")]
    seen, v, _ = ask(server, "w", headers)
    assert (v["host"], v["scheme"], seen["SERVER_NAME"], seen["SERVER_PORT"]) == (
        "localhost", "https", "localhost", "443")
    assert ask(server, "a", headers)[1]["host"] == "localhost"


# --- 7: malformed values ------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    [(XFF, "garbage")], [(XFF, "unknown")], [(XFF, "203.0.113.7, garbage")],
    [(XFF, "203.0.113.7:99999")], [(XFF, "203.0.113.7:0")], [(XFF, "[2001:db8::1")],
    [(XFF, "1.2.3.4.5")], [(XFF, "[1.2.3.4]")], [(XFF, "")], [(XFF, "," * 50)],
    [(XFP, "gopher")], [(XFP, "https, gopher")], [("X-Forwarded-Scheme", "ftp")],
    [("X-Forwarded-Port", "99999")], [("X-Forwarded-Port", "-1")], [("X-Forwarded-Host", "")],
    [("Forwarded", "=;;,,")], [("Forwarded", '"')], [("Forwarded", "for")],
    [("Forwarded", "for=" + "1" * 5000)],
], ids=lambda h: f"{h[0][0]}={h[0][1][:20]!r}")
def test_malformed_values_change_nothing(start_app, headers):
    """A malformed value is ignored: 200, the socket's client, http, the request's host, and
    the server goes on serving."""
    server = start(start_app, "--forwarded-host")
    for kind in KINDS:
        _, v, peer = ask(server, kind, headers)
        assert v == {"client": peer, "scheme": "http", "host": "localhost"}, kind
    with Conn(server.address) as c:
        assert c.roundtrip(request("GET", "/healthz")).status == 200


# --- 8: configuration ---------------------------------------------------------------------------

@pytest.mark.parametrize("env, flags, client", [
    ("10.0.0.1", [], PEER),
    (TRUST_10, [], "203.0.113.7"),
    ("10.0.0.1", ["--forwarded-allow-ips", TRUST_10], "203.0.113.7"),
], ids=["env-untrusted", "env-list", "flag-wins"])
def test_allow_list_from_the_environment(start_app, env, flags, client):
    """FORWARDED_ALLOW_IPS sets the list when the flag is not given."""
    server = start(start_app, *flags, env={"FORWARDED_ALLOW_IPS": env})
    _, v, peer = ask(server, "w", [(XFF, "6.6.6.6, 203.0.113.7, 10.0.0.2")])
    assert v["client"] == (peer if client == PEER else (client, 0))


@pytest.mark.parametrize("entry", ["10.0.0.0/99", "not-an-ip", "10.0.0.1/", "1.2.3.4/33",
                                   "::1/129", "10.0.0.0/8x", "example.com"])
def test_bad_allow_list_is_one_line_and_exit_2(run_junction, entry):
    """A bad --forwarded-allow-ips entry stops the server with exit 2 and one line naming it."""
    out = run_junction("--health-path", "/h", "--forwarded-allow-ips", f"127.0.0.1,{entry}")
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert f"'{entry}'" in lines[0] and "--forwarded-allow-ips" in lines[0]


def test_bad_allow_list_from_the_environment(binary):
    """A bad FORWARDED_ALLOW_IPS is refused the same way."""
    out = subprocess.run([str(binary), "--health-path", "/h"], capture_output=True, text=True,
                         timeout=15, env=server_environment({"FORWARDED_ALLOW_IPS": "bogus"}))
    assert out.returncode == 2, out
    assert out.stderr.strip().splitlines() == [
        "junction: --forwarded-allow-ips: 'bogus' is not an IP address, a CIDR range, '*' or "
        "'unix'"]


# --- 9: unix sockets ----------------------------------------------------------------------------

@pytest.mark.parametrize("allow, trusted", [("unix", True), (None, False)])
def test_unix_socket_peers(start_app, tmp_path, allow, trusted):
    """`unix` trusts peers on a unix socket (and not TCP ones); the default list does not."""
    path = tmp_path / "j.sock"
    server = start(start_app, *(["--forwarded-allow-ips", allow] if allow else []),
                   binds=[f"unix:{path}", "127.0.0.1:0"])
    headers = [(XFF, "203.0.113.7"), (XFP, "https")]
    for kind in KINDS:
        _, v, _ = ask(server, kind, headers, address=str(path))
        unix_peer = ("", 0) if kind == "w" else None  # a unix peer has no address
        assert (v["client"], v["scheme"]) == (
            (("203.0.113.7", 0), "https") if trusted else (unix_peer, "http")), kind
        _, v, peer = ask(server, kind, headers, address=server.addresses[1])
        trusted_tcp = allow is None  # 127.0.0.1 is in the default list, not in "unix"
        assert v["client"] == (("203.0.113.7", 0) if trusted_tcp else peer), kind


# --- 10: WebSockets -----------------------------------------------------------------------------

@pytest.mark.parametrize("allow, proto, scheme, client", [
    (None, "https", "wss", ("203.0.113.7", 0)),
    (None, "wss", "wss", ("203.0.113.7", 0)),
    (None, "http", "ws", ("203.0.113.7", 0)),
    ("10.0.0.1", "https", "ws", PEER),
])
def test_websocket_scope(start_app, allow, proto, scheme, client):
    """The websocket scope's scheme is wss and its client the forwarded one when a trusted
    proxy says https on the upgrade request."""
    server = start(start_app, *(["--forwarded-allow-ips", allow] if allow else []))
    with connect(f"ws://127.0.0.1:{server.port}/a/ws", open_timeout=10, close_timeout=5,
                 additional_headers={XFF: "203.0.113.7", XFP: proto}) as c:
        peer = tuple(c.socket.getsockname()[:2])
        s = json.loads(c.recv(timeout=10))
    assert s["type"] == "websocket"
    assert (s["scheme"], tuple(s["client"])) == (scheme, expect_client(client, peer))


# --- 11: the access log -------------------------------------------------------------------------

def test_access_log_shows_the_resolved_client(start_app, h2client):
    """The access log names the forwarded client (with its port when the proxy gave one)."""
    server = start(start_app)
    ask(server, "w", [(XFF, "203.0.113.9:40009")])
    ask(server, "a", [(XFF, "6.6.6.6, 203.0.113.10")])
    ask_h2(h2client, server, "w", [(XFF, "[2001:db8::5]:443")])

    def hit(lines):
        return all(any(line.startswith(start) for line in lines) for start in (
            '203.0.113.9:40009 - "GET /w/ HTTP/1.1" 200 ',
            '203.0.113.10 - "GET /a/ HTTP/1.1" 200 ',
            '[2001:db8::5]:443 - "GET /w/ HTTP/2.0" 200 '))

    assert server.stdout.wait_for(hit, 5), server.stdout.snapshot()[-20:]


# --- 12: Django ---------------------------------------------------------------------------------

@pytest.fixture
def django_site(start_app):
    server = start_app("apps.forwarded_django:application",
                       extra=["--venv", str(REPO / ".venv")],
                       env={"DJANGO_SETTINGS_MODULE": "apps.forwarded_django", "VIRTUAL_ENV": None})
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        client.server = server
        yield client


def test_django_sees_a_secure_request_from_the_forwarded_client(django_site):
    """request.is_secure(), the absolute URI and REMOTE_ADDR follow the trusted proxy."""
    r = django_site.get("/whoami/", headers={XFF: "203.0.113.7", XFP: "https"})
    assert r.status_code == 200, r.text[:2000]
    host = f"127.0.0.1:{django_site.server.port}"
    assert r.json() == {"is_secure": True, "scheme": "https", "remote_addr": "203.0.113.7",
                        "host": host, "absolute_uri": f"https://{host}/whoami/"}
    r = django_site.get("/whoami/")
    assert (r.json()["is_secure"], r.json()["remote_addr"]) == (False, "127.0.0.1")


@pytest.mark.parametrize("proto, origin, referer, status", [
    ("https", "https", "https", 200),
    (None, "https", "https", 403),      # plain http: an https Origin does not match
    ("https", None, "https", 200),
    ("https", None, "http", 403),       # secure request, insecure Referer
    ("https", None, None, 403),         # secure request, no Referer
    (None, None, None, 200),            # plain http: no Referer check
], ids=["https", "no-forwarded-proto", "https-referer-only", "http-referer", "no-referer",
        "plain-http"])
def test_django_csrf_behind_an_https_proxy(django_site, proto, origin, referer, status):
    """Django's CSRF check passes a POST the proxy says was https, with a matching Origin or
    Referer, and refuses the same POST when the scheme does not match."""
    form = django_site.get("/form/")
    assert form.status_code == 200 and "csrftoken" in django_site.cookies
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    host = f"127.0.0.1:{django_site.server.port}"
    headers = {XFF: "203.0.113.7"}
    if proto:
        headers[XFP] = proto
    if origin:
        headers["Origin"] = f"{origin}://{host}"
    if referer:
        headers["Referer"] = f"{referer}://{host}/form/"
    r = django_site.post("/form/", data={"csrfmiddlewaretoken": token, "message": "hi"},
                         headers=headers)
    assert r.status_code == status, r.text[:2000]
    if status == 200:
        assert r.text == "accepted: hi"


# --- 13: TLS ------------------------------------------------------------------------------------

@pytest.mark.parametrize("http2", [True, False], ids=["h2", "http1.1"])
def test_tls_keeps_https_and_takes_the_client(start_tls, tls_pki, http2):
    """Over TLS from a trusted peer, X-Forwarded-For sets the client, and the scheme stays
    https whatever X-Forwarded-Proto says."""
    server = start_tls(apps=APPS)
    verify = ssl.create_default_context(cafile=str(tls_pki.ca_cert))
    with httpx.Client(http2=http2, verify=verify, timeout=10) as client:
        base = f"https://localhost:{server.port}"
        headers = {XFF: "203.0.113.7", XFP: "http"}
        rw = client.get(f"{base}/w/", headers=headers)
        ra = client.get(f"{base}/a/", headers=headers)
    assert (rw.http_version, rw.status_code, ra.status_code) == (
        "HTTP/2" if http2 else "HTTP/1.1", 200, 200)
    w, a = rw.json(), ra.json()
    assert (w["REMOTE_ADDR"], w["REMOTE_PORT"], w["wsgi.url_scheme"], w["HTTPS"]) == (
        "203.0.113.7", "0", "https", "on")
    assert (a["client"], a["scheme"]) == (["203.0.113.7", 0], "https")


# --- a real FastAPI app ---------------------------------------------------------------------------

def test_fastapi_sees_the_forwarded_client_scheme_and_host(start_app):
    """FastAPI (Starlette) behind a trusted proxy: request.client is the forwarded client,
    request.url and url_for() are https on the host the client asked the proxy for."""
    server = start_app("/f=apps.fastapi_app:app", extra=["--forwarded-host"])
    headers = [(XFF, "198.51.100.23, 127.0.0.1"), (XFP, "https"),
               ("X-Forwarded-Host", "shop.example")]
    with Conn(server.address) as c:
        seen = json.loads(c.roundtrip(request("GET", "/f/client", headers=headers)).body)
        where = json.loads(c.roundtrip(request("GET", "/f/where", headers=headers)).body)
    assert seen == {"host": "198.51.100.23", "port": 0, "url": "https://shop.example/f/client"}
    assert where["url_for"] == "https://shop.example/f/where"
