"""TLS termination, the basics: the --tls-* command line and its errors, ALPN (h2, http/1.1,
--http 1/2, no ALPN), curl over HTTPS with HTTP/1.1 and HTTP/2 to WSGI and ASGI apps, what the
apps see of the connection, protocol versions (1.0/1.1 refused, --tls-min-version), ciphers
(forward-secret AEAD only), no renegotiation, plain HTTP and garbage on the TLS port, the
handshake timeout, encrypted keys, and session resumption.

The server serves apps.tls_app (WSGI at /w, ASGI at /a, see conftest.start_tls); the PKI is
tls_util's (`tls_pki`).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time

import httpx
import pytest

from conftest import _Lines, server_environment
from tls_util import (TlsConn, client_context, cipher_id, curl, pem_der, raw_connect,
                      read_until_closed, s_client, tls_get)
from wire import Conn, request


def json_body(r):
    assert r.status == 200, (r.status, r.body[:500])
    return json.loads(r.body)


# --- command line -----------------------------------------------------------------------------

def run_bounded(binary, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """Run junction expecting it to exit on its own (a configuration error). Detached from any
    terminal, so a passphrase prompt could not block it; a server that starts listening instead
    of failing is killed and reported."""
    argv = [str(binary), "--bind", "127.0.0.1:0", "--health-path", "/healthz", *args]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            env=server_environment())
    out, err = _Lines(proc.stdout, "junction-stdout"), _Lines(proc.stderr, "junction-stderr")
    started = err.wait_for(lambda lines: any("Listening on" in x for x in lines), timeout)
    try:
        code = proc.wait(0 if started else 5)
    except subprocess.TimeoutExpired:
        code = None
    if code is None:
        proc.kill()
        proc.wait()
    out.thread.join(2)
    err.thread.join(2)
    stderr = "\n".join(err.snapshot())
    if code is None:
        raise AssertionError(f"junction {' '.join(args)} did not exit (it started instead of "
                             f"refusing); stderr:\n{stderr}")
    return subprocess.CompletedProcess(argv, code, "\n".join(out.snapshot()), stderr)


@pytest.mark.parametrize("option", [
    ["--tls-key", "KEY"],
    ["--tls-key-password-file", "PASSWORD"],
    ["--tls-min-version", "1.3"],
    ["--tls-client-ca", "CA"],
    ["--tls-client-ca", "CA", "--tls-client-verify", "optional"],
    ["--tls-client-verify", "none"],
    ["--tls-handshake-timeout", "5"],
], ids=lambda o: " ".join(o))
def test_tls_option_without_certificate_is_refused(binary, tls_pki, option):
    files = {"KEY": tls_pki.server_key, "PASSWORD": tls_pki.password_file, "CA": tls_pki.ca_cert}
    args = [str(files.get(a, a)) for a in option]
    out = run_bounded(binary, *args)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "--tls-cert" in out.stderr, out.stderr


def test_client_verify_needs_client_ca(binary, tls_pki):
    for mode in ("optional", "required"):
        out = run_bounded(binary, *tls_pki.server_args(), "--tls-client-verify", mode)
        assert out.returncode == 2, (mode, out.returncode, out.stderr)
        assert "--tls-client-ca" in out.stderr, out.stderr


def test_unequal_certificates_and_keys_are_refused(binary, tls_pki):
    out = run_bounded(binary, *tls_pki.server_args(), "--tls-cert", str(tls_pki.other_cert))
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "--tls-key" in out.stderr, out.stderr
    out = run_bounded(binary, "--tls-cert", str(tls_pki.server_cert),
                      "--tls-key", str(tls_pki.server_key), "--tls-key", str(tls_pki.other_key))
    assert out.returncode == 2, (out.returncode, out.stderr)


def test_bad_option_values_are_refused(binary, tls_pki):
    for option in (["--tls-min-version", "1.1"], ["--tls-min-version", "1.0"],
                   ["--tls-client-verify", "sometimes", "--tls-client-ca", str(tls_pki.ca_cert)],
                   ["--tls-handshake-timeout", "soon"]):
        out = run_bounded(binary, *tls_pki.server_args(), *option)
        assert out.returncode == 2, (option, out.returncode, out.stderr)


def test_missing_certificate_file_is_named(binary, tls_pki, tmp_path):
    missing = tmp_path / "no-such-cert.pem"
    out = run_bounded(binary, "--tls-cert", str(missing), "--tls-key", str(tls_pki.server_key))
    assert out.returncode != 0, out.stderr
    assert str(missing) in out.stderr, out.stderr


def _error_lines(stderr: str, needle: str) -> list[str]:
    return [line for line in stderr.splitlines() if needle in line]


@pytest.mark.parametrize("case", ["garbage-cert", "empty-cert", "garbage-key", "key-as-cert",
                                  "cert-as-key"])
def test_bad_certificate_or_key_file_fails_naming_it(binary, tls_pki, tmp_path, case):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
                       "-----END CERTIFICATE-----\n")
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    cert, key = {
        "garbage-cert": (garbage, tls_pki.server_key),
        "empty-cert": (empty, tls_pki.server_key),
        "garbage-key": (tls_pki.server_cert, garbage),
        "key-as-cert": (tls_pki.server_key, tls_pki.server_key),
        "cert-as-key": (tls_pki.server_cert, tls_pki.server_cert),
    }[case]
    bad = key if case in ("garbage-key", "cert-as-key") else cert
    out = run_bounded(binary, "--tls-cert", str(cert), "--tls-key", str(key))
    assert out.returncode != 0, out.stderr
    assert _error_lines(out.stderr, str(bad)), f"no error line names {bad}:\n{out.stderr}"
    assert "Listening on" not in out.stderr, out.stderr


def test_key_not_matching_certificate_fails(binary, tls_pki):
    out = run_bounded(binary, "--tls-cert", str(tls_pki.server_cert),
                      "--tls-key", str(tls_pki.other_key))
    assert out.returncode != 0, out.stderr
    assert (_error_lines(out.stderr, str(tls_pki.server_cert))
            or _error_lines(out.stderr, str(tls_pki.other_key))), out.stderr
    assert "Listening on" not in out.stderr, out.stderr


def test_second_pair_is_checked_too(binary, tls_pki, tmp_path):
    garbage = tmp_path / "second.pem"
    garbage.write_text("not a certificate\n")
    out = run_bounded(binary, *tls_pki.server_args(), "--tls-cert", str(garbage),
                      "--tls-key", str(tls_pki.other_key))
    assert out.returncode != 0, out.stderr
    assert _error_lines(out.stderr, str(garbage)), out.stderr


# --- encrypted keys ---------------------------------------------------------------------------

def test_encrypted_key_with_password_file(start_tls, tls_pki):
    server = start_tls("--tls-cert", str(tls_pki.server_cert),
                       "--tls-key", str(tls_pki.server_key_encrypted),
                       "--tls-key-password-file", str(tls_pki.password_file))
    r, facts = tls_get(server, tls_pki, "/w/")
    assert json_body(r)["url_scheme"] == "https"
    assert facts["peer_der"] == pem_der(tls_pki.server_cert)


def test_encrypted_key_with_wrong_password_fails_at_start(binary, tls_pki):
    out = run_bounded(binary, "--tls-cert", str(tls_pki.server_cert),
                      "--tls-key", str(tls_pki.server_key_encrypted),
                      "--tls-key-password-file", str(tls_pki.wrong_password_file))
    assert out.returncode != 0, out.stderr
    assert _error_lines(out.stderr, str(tls_pki.server_key_encrypted)), out.stderr
    assert "Listening on" not in out.stderr, out.stderr


def test_encrypted_key_without_password_file_fails_at_start(binary, tls_pki):
    out = run_bounded(binary, "--tls-cert", str(tls_pki.server_cert),
                      "--tls-key", str(tls_pki.server_key_encrypted))
    assert out.returncode != 0, out.stderr
    assert _error_lines(out.stderr, str(tls_pki.server_key_encrypted)), out.stderr


# --- serving ----------------------------------------------------------------------------------

def test_apps_may_follow_tls_options(start_app, tls_pki):
    """The usual order, `junction --tls-cert C --tls-key K APP`: the APP is not taken for a
    second key file."""
    server = start_app("/w=wsgi:apps.tls_app:wsgi_app", extra=tls_pki.server_args())
    r, _ = tls_get(server, tls_pki, "/w/")
    assert json_body(r)["url_scheme"] == "https"


def test_listening_line_says_https(start_tls, tls_pki):
    server = start_tls()
    assert server.urls[0].startswith("https://127.0.0.1:"), server.urls
    r, _ = tls_get(server, tls_pki, "/w/")
    assert r.status == 200


def test_every_listener_speaks_tls(start_tls, tls_pki):
    server = start_tls(binds=["127.0.0.1:0", "127.0.0.1:0"])
    assert all(u.startswith("https://") for u in server.urls), server.urls
    for address in server.addresses:
        with TlsConn(address, client_context(tls_pki), server_hostname="localhost") as c:
            r = c.roundtrip(request("GET", "/w/"))
        assert json_body(r)["url_scheme"] == "https"


def test_plain_server_is_unchanged(start_app):
    """Without certificates: http:// in the log, and the apps see no TLS."""
    server = start_app("/w=wsgi:apps.tls_app:wsgi_app", "/a=asgi:apps.tls_app:asgi_app")
    assert server.urls[0].startswith("http://"), server.urls
    with Conn(server.address) as c:
        w = json_body(c.roundtrip(request("GET", "/w/")))
        a = json_body(c.roundtrip(request("GET", "/a/")))
    assert w["url_scheme"] == "http" and w["environ"] == {}
    assert a["scheme"] == "http" and a["tls"] is None


def test_wsgi_environ_over_tls13(start_tls, tls_pki):
    server = start_tls()
    r, facts = tls_get(server, tls_pki, "/w/x")
    body = json_body(r)
    assert facts["version"] == "TLSv1.3"
    assert body["url_scheme"] == "https"
    assert body["protocol"] == "HTTP/1.1"
    assert body["environ"] == {
        "HTTPS": "on",
        "SSL_PROTOCOL": "TLSv1.3",
        "SSL_CIPHER": facts["cipher"],
        "SSL_CLIENT_VERIFY": "NONE",
        "SSL_TLS_SNI": "localhost",
    }


def test_wsgi_environ_over_tls12_without_sni(start_tls, tls_pki):
    server = start_tls()
    r, facts = tls_get(server, tls_pki, "/w/", ctx=client_context(tls_pki, tls_max="1.2"),
                       server_hostname="127.0.0.1")  # an IP address: Python sends no SNI
    env = json_body(r)["environ"]
    assert facts["version"] == "TLSv1.2"
    assert env["SSL_PROTOCOL"] == "TLSv1.2"
    assert env["SSL_CIPHER"] == facts["cipher"]
    assert env["HTTPS"] == "on" and env["SSL_CLIENT_VERIFY"] == "NONE"
    assert "SSL_TLS_SNI" not in env, env


def test_asgi_scope_over_tls(start_tls, tls_pki):
    server = start_tls()
    r, facts = tls_get(server, tls_pki, "/a/x")
    body = json_body(r)
    assert body["scheme"] == "https"
    assert body["http_version"] == "1.1"
    assert "tls" in body["extensions"]
    tls = body["tls"]
    assert pem_der(tls["server_cert"]) == pem_der(tls_pki.server_cert)
    assert tls["client_cert_chain"] == []
    assert tls["client_cert_name"] is None
    assert tls["client_cert_error"] is None
    assert tls["tls_version"] == 0x0304
    assert tls["cipher_suite"] == cipher_id(facts["cipher"])


def test_asgi_tls_version_12(start_tls, tls_pki):
    server = start_tls()
    r, facts = tls_get(server, tls_pki, "/a/", ctx=client_context(tls_pki, tls_max="1.2"))
    tls = json_body(r)["tls"]
    assert tls["tls_version"] == 0x0303
    assert tls["cipher_suite"] == cipher_id(facts["cipher"])


def _curl_json(server, tls_pki, path: str, *flags: str):
    out = curl("--cacert", str(tls_pki.ca_cert), "--resolve",
               f"localhost:{server.port}:127.0.0.1", "-w", r"\n%{http_version} %{http_code}",
               *flags, f"https://localhost:{server.port}{path}")
    assert out.returncode == 0, (out.returncode, out.stderr)
    body, _, tail = out.stdout.rpartition("\n")
    version, code = tail.split()
    assert code == "200", out.stdout
    return version, json.loads(body)


@pytest.mark.parametrize("flag,version,protocol", [("--http1.1", "1.1", "HTTP/1.1"),
                                                  ("--http2", "2", "HTTP/2")])
def test_curl_wsgi(start_tls, tls_pki, flag, version, protocol):
    server = start_tls()
    got, body = _curl_json(server, tls_pki, "/w/curl", flag)
    assert got == version
    assert body["url_scheme"] == "https" and body["protocol"] == protocol
    assert body["path"] == "/curl"
    env = body["environ"]
    assert env["HTTPS"] == "on" and env["SSL_TLS_SNI"] == "localhost"
    assert env["SSL_PROTOCOL"] == "TLSv1.3" and env["SSL_CIPHER"]


@pytest.mark.parametrize("flag,version", [("--http1.1", "1.1"), ("--http2", "2")])
def test_curl_asgi(start_tls, tls_pki, flag, version):
    server = start_tls()
    got, body = _curl_json(server, tls_pki, "/a/curl", flag)
    assert got == version
    assert body["scheme"] == "https" and body["http_version"] == version
    assert body["tls"]["tls_version"] == 0x0304


def test_httpx_http2_and_http1(start_tls, tls_pki):
    server = start_tls()
    url = f"https://127.0.0.1:{server.port}"
    with httpx.Client(verify=client_context(tls_pki), http2=True, timeout=10) as client:
        r = client.get(url + "/a/h2")
        assert r.status_code == 200 and r.http_version == "HTTP/2"
        assert r.json()["http_version"] == "2" and r.json()["scheme"] == "https"
        r = client.get(url + "/w/h2")
        assert r.http_version == "HTTP/2" and r.json()["protocol"] == "HTTP/2"
    with httpx.Client(verify=client_context(tls_pki), timeout=10) as client:
        r = client.get(url + "/w/h1")
        assert r.status_code == 200 and r.http_version == "HTTP/1.1"
        assert r.json()["url_scheme"] == "https"


# --- ALPN -------------------------------------------------------------------------------------

def _alpn(server, tls_pki, offer: str) -> str | None:
    out = s_client(server.port, "-alpn", offer, "-servername", "localhost",
                   "-CAfile", str(tls_pki.ca_cert), "-verify_return_error")
    assert out.protocol, out.output
    assert "Verification: OK" in out.output, out.output
    return out.alpn


@pytest.mark.parametrize("mode,offer,expected", [
    ("auto", "h2,http/1.1", "h2"),
    ("auto", "http/1.1,h2", "h2"),
    ("auto", "http/1.1", "http/1.1"),
    ("auto", "h2", "h2"),
    ("1", "h2,http/1.1", "http/1.1"),
    ("1", "http/1.1", "http/1.1"),
    ("2", "h2,http/1.1", "h2"),
    ("2", "h2", "h2"),
])
def test_alpn(start_tls, tls_pki, mode, offer, expected):
    server = start_tls(extra=["--http", mode])
    assert _alpn(server, tls_pki, offer) == expected


def test_http1_only_server_never_selects_h2(start_tls, tls_pki):
    """--http 1: a client offering only h2 gets no h2 (no ALPN, or a refused handshake)."""
    server = start_tls(extra=["--http", "1"])
    out = s_client(server.port, "-alpn", "h2", "-servername", "localhost",
                   "-CAfile", str(tls_pki.ca_cert))
    assert out.alpn is None, out.output


def test_http2_only_server_never_selects_http1(start_tls, tls_pki):
    """--http 2: a client offering only http/1.1 does not get it (here: no_application_protocol)."""
    server = start_tls(extra=["--http", "2"])
    out = s_client(server.port, "-alpn", "http/1.1", "-servername", "localhost",
                   "-CAfile", str(tls_pki.ca_cert))
    assert out.alpn is None, out.output


def test_no_alpn_is_http1(start_tls, tls_pki):
    server = start_tls()
    with TlsConn(("127.0.0.1", server.port), client_context(tls_pki),
                 server_hostname="localhost") as c:
        assert c.alpn is None
        a = json_body(c.roundtrip(request("GET", "/a/")))
        w = json_body(c.roundtrip(request("GET", "/w/")))  # the same (keep-alive) connection
    assert a["http_version"] == "1.1" and w["protocol"] == "HTTP/1.1"


def test_alpn_h2_connection_speaks_http2(start_tls, tls_pki):
    """After ALPN h2, the server's first bytes are an HTTP/2 SETTINGS frame."""
    import h2.config
    import h2.connection
    import h2.events

    server = start_tls()
    ctx = client_context(tls_pki, alpn=["h2", "http/1.1"])
    with TlsConn(("127.0.0.1", server.port), ctx, server_hostname="localhost") as c:
        assert c.alpn == "h2"
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        conn.send_headers(1, [(":method", "GET"), (":scheme", "https"), (":path", "/a/"),
                              (":authority", "localhost")], end_stream=True)
        c.send(conn.data_to_send())
        data, status, ended = bytearray(), None, False
        while not ended:
            chunk = c.sock.recv(65536)
            assert chunk, "server closed the h2 connection"
            for ev in conn.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived):
                    status = dict(ev.headers)[b":status"]
                elif isinstance(ev, h2.events.DataReceived):
                    data += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    ended = True
            c.send(conn.data_to_send())
    assert status == b"200"
    body = json.loads(data)
    assert body["http_version"] == "2" and body["scheme"] == "https"


# --- protocol versions, ciphers, renegotiation, compression -----------------------------------

@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_old_protocols_refused(start_tls, tls_pki, version):
    server = start_tls()
    # SECLEVEL=0 so that the client really offers TLS 1.0/1.1: the refusal is the server's.
    out = s_client(server.port, version, "-cipher", "DEFAULT@SECLEVEL=0",
                   "-servername", "localhost")
    assert "no protocols available" not in out.output, "the client did not even try:\n" + out.output
    assert out.returncode != 0, out.output
    assert out.protocol is None, out.output
    assert "alert protocol version" in out.output, "no protocol_version alert:\n" + out.output
    # The server is fine afterwards.
    r, _ = tls_get(server, tls_pki, "/w/")
    assert r.status == 200


def test_tls12_accepted_by_default(start_tls, tls_pki):
    server = start_tls()
    out = s_client(server.port, "-tls1_2", "-servername", "localhost",
                   "-CAfile", str(tls_pki.ca_cert), "-verify_return_error")
    assert out.protocol == "TLSv1.2", out.output
    assert "Compression: NONE" in out.output, out.output
    assert "Secure Renegotiation IS supported" in out.output, out.output


def test_min_version_13_refuses_tls12(start_tls, tls_pki):
    server = start_tls(extra=["--tls-min-version", "1.3"])
    out = s_client(server.port, "-tls1_2", "-servername", "localhost")
    assert out.returncode != 0 and out.protocol is None, out.output
    out = s_client(server.port, "-tls1_3", "-servername", "localhost",
                   "-CAfile", str(tls_pki.ca_cert), "-verify_return_error")
    assert out.protocol == "TLSv1.3", out.output
    r, facts = tls_get(server, tls_pki, "/w/")
    assert json_body(r)["environ"]["SSL_PROTOCOL"] == "TLSv1.3"
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_get(server, tls_pki, "/w/", ctx=client_context(tls_pki, tls_max="1.2"))


@pytest.mark.parametrize("cipher", [
    "AES128-GCM-SHA256",        # AEAD, but RSA key transport: not forward secret
    "AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-SHA",     # forward secret, but CBC
    "ECDHE-RSA-AES256-SHA384",
    "AES128-SHA",
])
def test_weak_tls12_ciphers_refused(start_tls, tls_pki, cipher):
    server = start_tls()
    out = s_client(server.port, "-tls1_2", "-cipher", f"{cipher}@SECLEVEL=0",
                   "-servername", "localhost")
    assert "no cipher match" not in out.output, "the client could not offer it:\n" + out.output
    assert out.protocol is None, out.output
    assert "alert handshake failure" in out.output, out.output


def test_tls12_negotiates_forward_secret_aead(start_tls, tls_pki):
    server = start_tls()
    r, facts = tls_get(server, tls_pki, "/w/", ctx=client_context(
        tls_pki, tls_max="1.2", ciphers="ALL:@SECLEVEL=0"))
    assert facts["version"] == "TLSv1.2"
    name = facts["cipher"]
    assert name.startswith(("ECDHE-", "DHE-")), name
    assert "GCM" in name or "CHACHA20" in name or "CCM" in name, name
    assert json_body(r)["environ"]["SSL_CIPHER"] == name


def test_client_renegotiation_refused(start_tls, tls_pki):
    """`R` makes s_client renegotiate (TLS 1.2): the server must not do a second handshake."""
    server = start_tls()
    proc = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", "-tls1_2",
         "-servername", "localhost", "-CAfile", str(tls_pki.ca_cert)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    handshake_done = threading.Event()

    def drain():
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace")
            lines.append(line)
            if line.startswith("New, TLSv"):
                handshake_done.set()
        handshake_done.set()

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    try:
        assert handshake_done.wait(15), "".join(lines)
        assert any(line.startswith("New, TLSv1.2") for line in lines), "".join(lines)
        handshake_done.clear()
        proc.stdin.write(b"R\n")
        proc.stdin.flush()
        try:
            proc.wait(10)  # a refused renegotiation ends s_client with an error
        except subprocess.TimeoutExpired:
            proc.stdin.write(b"GET /w/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            proc.stdin.flush()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        t.join(5)
    output = "".join(lines)
    assert "RENEGOTIATING" in output, output
    handshakes = [line for line in lines if line.startswith("New, TLSv")]
    assert len(handshakes) == 1, "the server renegotiated:\n" + output
    assert "HTTP/1.1 200" not in output, output
    r, _ = tls_get(server, tls_pki, "/w/")
    assert r.status == 200


# --- not TLS on the TLS port ------------------------------------------------------------------

def test_plain_http_gets_400_and_close(start_tls):
    server = start_tls()
    with Conn(server.address) as c:
        r = c.roundtrip(request("GET", "/w/"))
        assert r.status == 400, (r.status, r.body)
        assert r.version == "HTTP/1.1"
        text = r.body.decode("utf-8", "replace").lower()
        assert "https" in text or "tls" in text, r.body
        c.wait_closed(10)


@pytest.mark.parametrize("garbage", [
    b"\x00\x01\x02\x03\xff\xfe\xfd" * 20,
    b"\x16\x03\x01\x00\x10" + bytes(range(16)) + b"\x00" * 64,   # a handshake record of junk
    b"\x17\x03\x03\x00\x20" + b"\xaa" * 32,                       # application data, no handshake
    b"\x80\x2e\x01\x00\x02" + b"\x00" * 60,                       # an SSLv2-style hello
], ids=["binary", "bad-handshake-record", "app-data-record", "sslv2-hello"])
def test_garbage_is_closed(start_tls, tls_pki, garbage):
    server = start_tls()
    with raw_connect(server) as s:
        try:
            s.sendall(garbage)
        except OSError:
            pass
        data, closed = read_until_closed(s, 15)
    assert closed, f"the server kept the connection open (got {data!r})"
    assert not data.startswith(b"HTTP/"), data
    r, _ = tls_get(server, tls_pki, "/w/")
    assert r.status == 200


def test_silent_client_closed_after_handshake_timeout(start_tls, tls_pki):
    server = start_tls(extra=["--tls-handshake-timeout", "1"])
    with raw_connect(server) as s:
        data, closed = read_until_closed(s, 15)
    assert closed, "a client that sent nothing was not closed"
    assert not data.startswith(b"HTTP/"), data
    r, _ = tls_get(server, tls_pki, "/w/")
    assert r.status == 200


def test_stalled_handshake_closed_after_handshake_timeout(start_tls, tls_pki):
    """A client that sends half a ClientHello and stops is closed too."""
    server = start_tls(extra=["--tls-handshake-timeout", "1"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context(tls_pki).wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outgoing.read()
    assert len(hello) > 20
    with raw_connect(server) as s:
        s.sendall(hello[: len(hello) // 2])
        data, closed = read_until_closed(s, 15)
    assert closed, "a stalled handshake was not closed"


def test_connection_after_handshake_is_not_cut_by_handshake_timeout(start_tls, tls_pki):
    """The handshake timeout covers the handshake only: a finished connection idles longer."""
    server = start_tls(extra=["--tls-handshake-timeout", "1"])
    with TlsConn(("127.0.0.1", server.port), client_context(tls_pki),
                 server_hostname="localhost") as c:
        assert json_body(c.roundtrip(request("GET", "/w/")))["url_scheme"] == "https"
        time.sleep(2.5)
        assert json_body(c.roundtrip(request("GET", "/w/")))["url_scheme"] == "https"


# --- session resumption -----------------------------------------------------------------------

@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_session_resumption(start_tls, tls_pki, tmp_path, version):
    server = start_tls()
    session = tmp_path / "session.pem"
    req = b"GET /w/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    common = [version, "-servername", "localhost", "-CAfile", str(tls_pki.ca_cert),
              "-verify_return_error", "-ign_eof"]
    first = s_client(server.port, *common, "-sess_out", str(session), stdin=req)
    assert first.protocol == ("TLSv1.2" if version == "-tls1_2" else "TLSv1.3"), first.output
    assert "HTTP/1.1 200" in first.output, first.output
    assert not first.reused
    assert session.exists() and session.stat().st_size > 0, first.output
    if version == "-tls1_2":
        assert "TLS session ticket:" in first.output, "no session ticket:\n" + first.output
    second = s_client(server.port, *common, "-sess_in", str(session), stdin=req)
    assert second.reused, "the session was not resumed:\n" + second.output
    assert "HTTP/1.1 200" in second.output, second.output
