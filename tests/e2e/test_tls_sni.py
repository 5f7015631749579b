"""TLS with several certificates: SNI picks the pair whose certificate names the requested host
(its DNS SANs, wildcards included), the first pair answers unknown names and clients without
SNI; the app sees the name (SSL_TLS_SNI) and the certificate that was served (ASGI server_cert);
ALPN and client certificates work on the SNI-chosen pair too.

The pairs: `server` (DNS:localhost, IP:127.0.0.1) and `other` (DNS:*.example.test,
DNS:other.test), see tls_util.
"""

from __future__ import annotations

import json
import ssl

import pytest

from tls_util import TlsConn, client_context, pem_der, s_client
from wire import request


def connect(server, tls_pki, sni, **kw) -> TlsConn:
    """A TLS connection that verifies the chain against the test CA, not the name (so the
    test sees which certificate came, not a name mismatch)."""
    ctx = client_context(tls_pki, check_hostname=False, **kw)
    return TlsConn(("127.0.0.1", server.port), ctx, server_hostname=sni)


def served(server, tls_pki, sni, path="/w/") -> tuple[bytes, dict]:
    """(DER of the certificate the server sent, the app's JSON) for one request with `sni`."""
    with connect(server, tls_pki, sni) as c:
        der = c.peer_der()
        r = c.roundtrip(request("GET", path, host=sni or "localhost"))
    assert r.status == 200, (r.status, r.body[:300])
    return der, json.loads(r.body)


@pytest.fixture
def server(start_tls, tls_pki):
    return start_tls(*tls_pki.both_args())


@pytest.mark.parametrize("sni,which", [
    ("localhost", "server"),
    ("a.example.test", "other"),
    ("www.example.test", "other"),
    ("other.test", "other"),
    ("unknown.test", "server"),         # no pair names it: the first pair
    ("example.test", "server"),         # *.example.test does not cover example.test itself
    ("a.b.example.test", "server"),     # nor two labels
    ("notother.test", "server"),
    (None, "server"),                   # no SNI
])
def test_sni_picks_certificate(server, tls_pki, sni, which):
    der, body = served(server, tls_pki, sni)
    expected = tls_pki.server_cert if which == "server" else tls_pki.other_cert
    assert der == pem_der(expected), f"SNI {sni!r} got the wrong certificate"
    env = body["environ"]
    if sni is None:
        assert "SSL_TLS_SNI" not in env, env
    else:
        assert env["SSL_TLS_SNI"] == sni


def test_sni_name_verifies_for_a_real_client(server, tls_pki):
    """A client that checks the host name (Python's default) accepts the wildcard pair."""
    ctx = client_context(tls_pki)  # check_hostname=True
    with TlsConn(("127.0.0.1", server.port), ctx, server_hostname="api.example.test") as c:
        cert = c.sock.getpeercert()
        r = c.roundtrip(request("GET", "/w/", host="api.example.test"))
    assert ("DNS", "*.example.test") in cert["subjectAltName"]
    assert r.status == 200


def test_sni_with_openssl_s_client(server, tls_pki):
    out = s_client(server.port, "-servername", "a.example.test", "-CAfile", str(tls_pki.ca_cert),
                   "-verify_hostname", "a.example.test", "-verify_return_error")
    assert out.protocol, out.output
    assert out.subject == "CN=*.example.test,O=Junction Test", out.output
    assert "Verification: OK" in out.output, out.output
    out = s_client(server.port, "-servername", "localhost", "-CAfile", str(tls_pki.ca_cert),
                   "-verify_hostname", "localhost", "-verify_return_error")
    assert out.subject == "CN=localhost,O=Junction Test", out.output
    out = s_client(server.port, "-noservername", "-CAfile", str(tls_pki.ca_cert))
    assert out.subject == "CN=localhost,O=Junction Test", out.output


def test_first_pair_is_the_default(start_tls, tls_pki):
    """Given the other way round, the wildcard pair answers unknown names and no SNI."""
    server = start_tls("--tls-cert", str(tls_pki.other_cert), "--tls-key", str(tls_pki.other_key),
                       *tls_pki.server_args())
    assert served(server, tls_pki, None)[0] == pem_der(tls_pki.other_cert)
    assert served(server, tls_pki, "unknown.test")[0] == pem_der(tls_pki.other_cert)
    assert served(server, tls_pki, "localhost")[0] == pem_der(tls_pki.server_cert)


def test_single_pair_serves_any_name(start_tls, tls_pki):
    server = start_tls()
    assert served(server, tls_pki, "a.example.test")[0] == pem_der(tls_pki.server_cert)


def test_asgi_server_cert_is_the_one_served(server, tls_pki):
    der, body = served(server, tls_pki, "a.example.test", "/a/")
    assert der == pem_der(tls_pki.other_cert)
    assert pem_der(body["tls"]["server_cert"]) == pem_der(tls_pki.other_cert)
    der, body = served(server, tls_pki, "localhost", "/a/")
    assert pem_der(body["tls"]["server_cert"]) == pem_der(tls_pki.server_cert)


@pytest.mark.parametrize("sni", ["a.example.test", "localhost"])
def test_alpn_h2_on_every_pair(server, tls_pki, sni):
    with connect(server, tls_pki, sni, alpn=["h2", "http/1.1"]) as c:
        assert c.alpn == "h2"
    with connect(server, tls_pki, sni, alpn=["http/1.1"]) as c:
        assert c.alpn == "http/1.1"


def test_http1_mode_on_sni_pair(start_tls, tls_pki):
    server = start_tls(*tls_pki.both_args(), extra=["--http", "1"])
    with connect(server, tls_pki, "a.example.test", alpn=["h2", "http/1.1"]) as c:
        assert c.alpn == "http/1.1"


def test_tls12_sni(server, tls_pki):
    with connect(server, tls_pki, "a.example.test", tls_max="1.2") as c:
        assert c.version == "TLSv1.2"
        assert c.peer_der() == pem_der(tls_pki.other_cert)
        r = c.roundtrip(request("GET", "/w/", host="a.example.test"))
    assert json.loads(r.body)["environ"]["SSL_TLS_SNI"] == "a.example.test"


@pytest.mark.parametrize("sni", ["a.example.test", "localhost", None])
def test_client_verify_required_on_every_pair(start_tls, tls_pki, sni):
    """The client-certificate policy holds whichever pair SNI picked."""
    server = start_tls(*tls_pki.both_args(), extra=[
        "--tls-client-ca", str(tls_pki.ca_cert), "--tls-client-verify", "required"])
    refused, data = False, b""
    try:
        with connect(server, tls_pki, sni) as c:
            c.send(request("GET", "/w/"))
            data = c.sock.recv(65536)
            refused = not data
    except (ssl.SSLError, ConnectionError, OSError):
        refused = True
    assert refused, f"SNI {sni!r}: a client without a certificate got {data[:200]!r}"
    with connect(server, tls_pki, sni, cert=tls_pki.client_cert, key=tls_pki.client_key) as c:
        r = c.roundtrip(request("GET", "/w/"))
    assert json.loads(r.body)["environ"]["SSL_CLIENT_VERIFY"] == "SUCCESS"


def test_client_verify_optional_on_sni_pair(start_tls, tls_pki):
    server = start_tls(*tls_pki.both_args(), extra=[
        "--tls-client-ca", str(tls_pki.ca_cert), "--tls-client-verify", "optional"])
    with connect(server, tls_pki, "a.example.test", cert=tls_pki.client_cert,
                 key=tls_pki.client_key) as c:
        r = c.roundtrip(request("GET", "/w/"))
    env = json.loads(r.body)["environ"]
    assert env["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert env["SSL_CLIENT_S_DN"] == "CN=client,O=Junction Test"
