"""Client certificates (mTLS) and what the apps see of them: --tls-client-verify none (no
certificate asked for), optional (any client gets in; the app learns SUCCESS, NONE or
FAILED:<reason>), required (a client without a valid certificate gets no HTTP answer); the WSGI
SSL_* variables, the ASGI `tls` extension, HTTP/2 with a client certificate, and WebSockets over
TLS (wss).

Clients: `client` (CN=client,O=Junction Test, signed by the test CA) and `rogue` (signed by a CA
the server does not know), see tls_util.
"""

from __future__ import annotations

import json
import ssl
import subprocess

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from tls_util import (CA_DN, CLIENT_DN, TlsConn, client_context, cipher_id, openssl, pem_der,
                      s_client, tls_get)
from wire import request


def verify_args(pki, mode: str) -> list[str]:
    return ["--tls-client-ca", str(pki.ca_cert), "--tls-client-verify", mode]


def as_client(pki, who: str | None, **kw) -> ssl.SSLContext:
    if who == "client":
        return client_context(pki, cert=pki.client_cert, key=pki.client_key, **kw)
    if who == "rogue":
        return client_context(pki, cert=pki.rogue_client_cert, key=pki.rogue_client_key, **kw)
    return client_context(pki, **kw)


def app_json(server, pki, path: str, who: str | None, **kw) -> tuple[dict, dict]:
    r, facts = tls_get(server, pki, path, ctx=as_client(pki, who, **kw))
    assert r.status == 200, (r.status, r.body[:300])
    return json.loads(r.body), facts


def assert_refused(server, ctx: ssl.SSLContext) -> None:
    """No HTTP response reaches this client: the handshake fails, or (TLS 1.3, where the
    server checks the certificate after the client thinks it is done) its first read does."""
    data = b""
    try:
        with TlsConn(("127.0.0.1", server.port), ctx, server_hostname="localhost") as c:
            c.send(request("GET", "/w/", headers=[("Connection", "close")]))
            c.settimeout(10)
            while chunk := c.sock.recv(65536):
                data += chunk
    except (ssl.SSLError, ConnectionError, OSError):
        pass
    assert data == b"", f"a client that should have been refused got {data[:300]!r}"


def subject(cert_path) -> str:
    return openssl("x509", "-in", str(cert_path), "-noout", "-subject", "-nameopt",
                   "RFC2253").strip().removeprefix("subject=")


def test_expected_dn_format(tls_pki):
    assert subject(tls_pki.client_cert) == CLIENT_DN
    assert subject(tls_pki.ca_cert) == CA_DN


# --- none ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [None, "none"])
def test_verify_none_asks_for_no_certificate(start_tls, tls_pki, mode):
    """A client that has a certificate does not send it: nobody asked."""
    extra = [] if mode is None else verify_args(tls_pki, mode)
    server = start_tls(extra=extra)
    body, _ = app_json(server, tls_pki, "/w/", "client")
    env = body["environ"]
    assert env["SSL_CLIENT_VERIFY"] == "NONE"
    for key in ("SSL_CLIENT_S_DN", "SSL_CLIENT_I_DN", "SSL_CLIENT_CERT"):
        assert key not in env, env
    body, _ = app_json(server, tls_pki, "/a/", "client")
    tls = body["tls"]
    assert tls["client_cert_chain"] == [] and tls["client_cert_name"] is None
    assert tls["client_cert_error"] is None


# --- optional ---------------------------------------------------------------------------------

@pytest.fixture
def optional(start_tls, tls_pki):
    return start_tls(extra=verify_args(tls_pki, "optional"))


def test_optional_without_certificate(optional, tls_pki):
    body, _ = app_json(optional, tls_pki, "/w/", None)
    env = body["environ"]
    assert env["SSL_CLIENT_VERIFY"] == "NONE"
    assert "SSL_CLIENT_S_DN" not in env and "SSL_CLIENT_CERT" not in env
    body, _ = app_json(optional, tls_pki, "/a/", None)
    tls = body["tls"]
    assert tls["client_cert_chain"] == []
    assert tls["client_cert_name"] is None and tls["client_cert_error"] is None


@pytest.mark.parametrize("tls_max", [None, "1.2"], ids=["tls13", "tls12"])
def test_optional_with_certificate_wsgi(optional, tls_pki, tls_max):
    body, facts = app_json(optional, tls_pki, "/w/", "client", tls_max=tls_max)
    env = body["environ"]
    assert env["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert env["SSL_CLIENT_S_DN"] == CLIENT_DN
    assert env["SSL_CLIENT_I_DN"] == CA_DN
    assert pem_der(env["SSL_CLIENT_CERT"]) == pem_der(tls_pki.client_cert)
    assert env["SSL_CLIENT_CERT"].strip().startswith("-----BEGIN CERTIFICATE-----")
    assert env["SSL_PROTOCOL"] == facts["version"]
    assert env["HTTPS"] == "on" and body["url_scheme"] == "https"


@pytest.mark.parametrize("tls_max,version", [(None, 0x0304), ("1.2", 0x0303)],
                         ids=["tls13", "tls12"])
def test_optional_with_certificate_asgi(optional, tls_pki, tls_max, version):
    body, facts = app_json(optional, tls_pki, "/a/", "client", tls_max=tls_max)
    assert body["scheme"] == "https"
    tls = body["tls"]
    assert set(tls) >= {"server_cert", "client_cert_chain", "client_cert_name",
                        "client_cert_error", "tls_version", "cipher_suite"}, tls
    assert pem_der(tls["server_cert"]) == pem_der(tls_pki.server_cert)
    assert isinstance(tls["client_cert_chain"], list) and len(tls["client_cert_chain"]) >= 1
    assert pem_der(tls["client_cert_chain"][0]) == pem_der(tls_pki.client_cert)
    assert tls["client_cert_name"] == CLIENT_DN
    assert tls["client_cert_error"] is None
    assert tls["tls_version"] == version
    assert tls["cipher_suite"] == cipher_id(facts["cipher"])


def test_optional_with_unknown_ca(optional, tls_pki):
    body, _ = app_json(optional, tls_pki, "/w/", "rogue")
    verify = body["environ"]["SSL_CLIENT_VERIFY"]
    assert verify.startswith("FAILED:") and len(verify) > len("FAILED:"), verify
    body, _ = app_json(optional, tls_pki, "/a/", "rogue")
    error = body["tls"]["client_cert_error"]
    assert isinstance(error, str) and error, body["tls"]


def test_optional_requests_on_one_connection_keep_the_identity(optional, tls_pki):
    with TlsConn(("127.0.0.1", optional.port), as_client(tls_pki, "client"),
                 server_hostname="localhost") as c:
        for path in ("/w/1", "/a/2", "/w/3"):
            r = c.roundtrip(request("GET", path))
            body = json.loads(r.body)
            if path.startswith("/w"):
                assert body["environ"]["SSL_CLIENT_S_DN"] == CLIENT_DN
            else:
                assert body["tls"]["client_cert_name"] == CLIENT_DN


def test_optional_http2_with_certificate(optional, tls_pki):
    url = f"https://127.0.0.1:{optional.port}"
    with httpx.Client(verify=as_client(tls_pki, "client"), http2=True, timeout=10) as client:
        r = client.get(url + "/w/h2")
        assert r.http_version == "HTTP/2", r.http_version
        env = r.json()["environ"]
        assert env["SSL_CLIENT_VERIFY"] == "SUCCESS" and env["SSL_CLIENT_S_DN"] == CLIENT_DN
        r = client.get(url + "/a/h2")
        body = r.json()
        assert body["http_version"] == "2"
        assert body["tls"]["client_cert_name"] == CLIENT_DN
        assert pem_der(body["tls"]["client_cert_chain"][0]) == pem_der(tls_pki.client_cert)


# --- required ---------------------------------------------------------------------------------

@pytest.fixture
def required(start_tls, tls_pki):
    return start_tls(extra=verify_args(tls_pki, "required"))


@pytest.mark.parametrize("tls_max", [None, "1.2"], ids=["tls13", "tls12"])
@pytest.mark.parametrize("who", [None, "rogue"], ids=["no-cert", "unknown-ca"])
def test_required_refuses(required, tls_pki, who, tls_max):
    assert_refused(required, as_client(tls_pki, who, tls_max=tls_max))
    # ...and the server goes on serving good clients.
    body, _ = app_json(required, tls_pki, "/w/", "client")
    assert body["environ"]["SSL_CLIENT_VERIFY"] == "SUCCESS"


@pytest.mark.parametrize("tls_max", [None, "1.2"], ids=["tls13", "tls12"])
def test_required_accepts_valid_certificate(required, tls_pki, tls_max):
    body, _ = app_json(required, tls_pki, "/w/", "client", tls_max=tls_max)
    env = body["environ"]
    assert env["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert env["SSL_CLIENT_S_DN"] == CLIENT_DN and env["SSL_CLIENT_I_DN"] == CA_DN
    body, _ = app_json(required, tls_pki, "/a/", "client", tls_max=tls_max)
    assert body["tls"]["client_cert_name"] == CLIENT_DN


def test_required_with_curl(required, tls_pki):
    base = ["curl", "--silent", "--show-error", "--max-time", "20", "--cacert",
            str(tls_pki.ca_cert), "--resolve", f"localhost:{required.port}:127.0.0.1"]
    url = f"https://localhost:{required.port}/w/"
    ok = subprocess.run([*base, "--cert", str(tls_pki.client_cert), "--key",
                         str(tls_pki.client_key), url], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["environ"]["SSL_CLIENT_S_DN"] == CLIENT_DN
    bad = subprocess.run([*base, url], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and bad.stdout == "", (bad.returncode, bad.stdout)


def test_required_server_asks_for_its_ca(required, tls_pki):
    """The CertificateRequest names the client CA (what browsers use to pick a certificate)."""
    out = s_client(required.port, "-servername", "localhost", "-CAfile", str(tls_pki.ca_cert),
                   "-cert", str(tls_pki.client_cert), "-key", str(tls_pki.client_key))
    assert "Acceptable client certificate CA names" in out.output, out.output
    assert "CN=Junction Test CA,O=Junction Test" in out.output, out.output


# --- WebSockets over TLS ----------------------------------------------------------------------

def test_websocket_over_tls(start_tls, tls_pki):
    server = start_tls(extra=verify_args(tls_pki, "optional"))
    with ws_connect(f"wss://127.0.0.1:{server.port}/a/ws", ssl=as_client(tls_pki, "client"),
                    open_timeout=10, close_timeout=5) as ws:
        s = json.loads(ws.recv(timeout=10))
    assert s["type"] == "websocket"
    assert s["scheme"] == "wss"
    assert s["tls"]["client_cert_name"] == CLIENT_DN
    assert s["tls"]["tls_version"] == 0x0304
    assert pem_der(s["tls"]["server_cert"]) == pem_der(tls_pki.server_cert)


def test_websocket_over_tls_without_client_cert(start_tls, tls_pki):
    server = start_tls()
    with ws_connect(f"wss://127.0.0.1:{server.port}/a/ws", ssl=client_context(tls_pki),
                    open_timeout=10, close_timeout=5) as ws:
        s = json.loads(ws.recv(timeout=10))
    assert s["scheme"] == "wss"
    assert s["tls"]["client_cert_chain"] == []


def test_plain_ws_to_tls_port_fails(start_tls):
    server = start_tls()
    with pytest.raises(Exception):
        with ws_connect(f"ws://127.0.0.1:{server.port}/a/ws", open_timeout=10) as ws:
            ws.recv(timeout=5)
