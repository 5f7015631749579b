"""SIGHUP reloads every certificate and key from the paths given on the command line: new
connections get the new certificates (and the SNI names they carry), open connections go on
being served; a broken file keeps the old pair in use, logs `TLS reload failed`, and the server
runs on. A good reload logs `TLS certificates reloaded`.

The server's certificate files live in the test's tmp dir and are replaced atomically (a new
file renamed over the old), as a deployment tool or certbot would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import httpx
import pytest

from tls_util import (TlsConn, client_context, count_log, issue_server_cert, pem_der, wait_log)
from wire import request

RELOADED = "TLS certificates reloaded"
FAILED = "TLS reload failed"


def install(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + ".new")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def write(dst: Path, text: str) -> None:
    tmp = dst.with_name(dst.name + ".new")
    tmp.write_text(text)
    os.replace(tmp, dst)


def connect(server, pki, sni=None) -> TlsConn:
    return TlsConn(("127.0.0.1", server.port), client_context(pki, check_hostname=False),
                   server_hostname=sni)


def served_der(server, pki, sni=None) -> bytes:
    with connect(server, pki, sni) as c:
        der = c.peer_der()
        r = c.roundtrip(request("GET", "/w/"))
        assert r.status == 200, (r.status, r.body[:300])
    return der


def hup_and_wait(server, needle: str, before: int) -> str:
    """SIGHUP, then wait for one more log line containing `needle` than there were."""
    server.send_signal(signal.SIGHUP)
    line = server.stderr.wait_for(
        lambda lines: sum(needle in x for x in lines) > before and next(
            x for x in reversed(lines) if needle in x), 15)
    assert line, f"no new {needle!r} line after SIGHUP\n{server.dump()}"
    return line


@pytest.fixture
def files(tmp_path, tls_pki):
    """cert.pem/key.pem in tmp_path, holding the default (localhost) pair."""
    d = tmp_path / "live"
    d.mkdir()
    cert, key = d / "cert.pem", d / "key.pem"
    shutil.copyfile(tls_pki.server_cert, cert)
    shutil.copyfile(tls_pki.server_key, key)
    return cert, key


@pytest.fixture
def server(start_tls, files, tls_pki):
    """Serving the pair in `files`; one request has been answered (so the server is past its
    start-up; test_sighup_right_after_listening covers a SIGHUP at once)."""
    cert, key = files
    server = start_tls("--tls-cert", str(cert), "--tls-key", str(key))
    assert served_der(server, tls_pki, None) == pem_der(tls_pki.server_cert)
    return server


def test_sighup_right_after_listening(start_tls, files, tls_pki):
    """A SIGHUP as soon as the server has said `Listening on` (what a supervisor may do) is a
    reload, not the end of the process."""
    cert, key = files
    server = start_tls("--tls-cert", str(cert), "--tls-key", str(key))
    server.send_signal(signal.SIGHUP)
    line = wait_log(server, RELOADED, 15)
    assert server.running(), f"SIGHUP killed junction (exit {server.proc.poll()})\n{server.dump()}"
    assert line, server.dump()
    assert served_der(server, tls_pki, None) == pem_der(tls_pki.server_cert)


def test_reload_swaps_certificate_and_keeps_open_connections(server, files, tls_pki):
    cert, key = files
    old = connect(server, tls_pki, "localhost")
    try:
        assert old.peer_der() == pem_der(tls_pki.server_cert)
        r = old.roundtrip(request("GET", "/w/before"))
        assert r.status == 200

        install(tls_pki.other_cert, cert)
        install(tls_pki.other_key, key)
        line = hup_and_wait(server, RELOADED, 0)
        assert FAILED not in line
        assert count_log(server, RELOADED) == 1, server.dump()  # one line per reload

        # New connections get the new certificate...
        assert served_der(server, tls_pki, "localhost") == pem_der(tls_pki.other_cert)
        assert served_der(server, tls_pki, None) == pem_der(tls_pki.other_cert)
        # ...and the old connection is still served (keep-alive, same socket).
        r = old.roundtrip(request("GET", "/w/after"))
        assert r.status == 200
        body = json.loads(r.body)
        assert body["path"] == "/after" and body["environ"]["HTTPS"] == "on"
        r = old.roundtrip(request("GET", "/a/after"))
        assert pem_der(json.loads(r.body)["tls"]["server_cert"]) == pem_der(tls_pki.server_cert)
    finally:
        old.close()
    assert server.running()
    assert count_log(server, FAILED) == 0, server.dump()


def test_reload_keeps_http2_connection(server, files, tls_pki):
    cert, key = files
    url = f"https://127.0.0.1:{server.port}"
    with httpx.Client(verify=client_context(tls_pki), http2=True, timeout=10) as client:
        r = client.get(url + "/a/1")
        assert r.http_version == "HTTP/2"
        install(tls_pki.other_cert, cert)
        install(tls_pki.other_key, key)
        hup_and_wait(server, RELOADED, 0)
        # The pooled connection still verifies against the old (localhost/127.0.0.1) name:
        # the request would fail on a new connection, whose certificate is *.example.test.
        r = client.get(url + "/a/2")
        assert r.status_code == 200 and r.http_version == "HTTP/2"
        assert r.json()["path"] == "/a/2"  # ASGI: path includes root_path


def test_broken_certificate_keeps_old_pair(server, files, tls_pki):
    cert, key = files
    write(cert, "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    print(hup_and_wait(server, FAILED, 0))
    assert server.running()
    assert count_log(server, FAILED) == 1, server.dump()  # one error line
    assert served_der(server, tls_pki, "localhost") == pem_der(tls_pki.server_cert)
    assert count_log(server, RELOADED) == 0, server.dump()

    # Fixed files load on the next SIGHUP.
    install(tls_pki.other_cert, cert)
    install(tls_pki.other_key, key)
    hup_and_wait(server, RELOADED, 0)
    assert served_der(server, tls_pki, None) == pem_der(tls_pki.other_cert)


def test_broken_key_keeps_old_pair(server, files, tls_pki):
    cert, key = files
    install(tls_pki.other_cert, cert)
    write(key, "not a key\n")
    hup_and_wait(server, FAILED, 0)
    assert served_der(server, tls_pki, None) == pem_der(tls_pki.server_cert)
    assert server.running()


def test_mismatched_key_keeps_old_pair(server, files, tls_pki):
    """Only the certificate replaced (the key is still the old one): refused as a whole."""
    cert, _ = files
    install(tls_pki.other_cert, cert)
    hup_and_wait(server, FAILED, 0)
    assert served_der(server, tls_pki, None) == pem_der(tls_pki.server_cert)
    assert count_log(server, RELOADED) == 0, server.dump()


def test_missing_file_keeps_old_pair(server, files, tls_pki):
    cert, _ = files
    cert.unlink()
    hup_and_wait(server, FAILED, 0)
    assert served_der(server, tls_pki, None) == pem_der(tls_pki.server_cert)
    assert server.running()


def test_reload_every_pair_and_new_sni_names(start_tls, tls_pki, tmp_path):
    """Both pairs are re-read; the SNI names come from the new certificates."""
    live = tmp_path / "live"
    live.mkdir()
    c1, k1, c2, k2 = (live / "one.pem", live / "one.key", live / "two.pem", live / "two.key")
    for src, dst in ((tls_pki.server_cert, c1), (tls_pki.server_key, k1),
                     (tls_pki.other_cert, c2), (tls_pki.other_key, k2)):
        shutil.copyfile(src, dst)
    server = start_tls("--tls-cert", str(c1), "--tls-key", str(k1),
                       "--tls-cert", str(c2), "--tls-key", str(k2))
    assert served_der(server, tls_pki, "a.example.test") == pem_der(tls_pki.other_cert)
    assert served_der(server, tls_pki, "x.reloaded.test") == pem_der(tls_pki.server_cert)

    new1 = issue_server_cert(tls_pki, tmp_path / "new", "new-default",
                             "DNS:localhost,IP:127.0.0.1", kind="rsa")
    new2 = issue_server_cert(tls_pki, tmp_path / "new", "new-sni", "DNS:*.reloaded.test")
    install(new1[0], c1)
    install(new1[1], k1)
    install(new2[0], c2)
    install(new2[1], k2)
    hup_and_wait(server, RELOADED, 0)

    assert served_der(server, tls_pki, "localhost") == pem_der(new1[0])
    assert served_der(server, tls_pki, "x.reloaded.test") == pem_der(new2[0])
    # *.example.test is no longer served by anyone: the default pair answers.
    assert served_der(server, tls_pki, "a.example.test") == pem_der(new1[0])


def test_reload_with_encrypted_key(start_tls, tls_pki, tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "cert.pem", live / "key.pem"
    shutil.copyfile(tls_pki.server_cert, cert)
    shutil.copyfile(tls_pki.server_key_encrypted, key)
    server = start_tls("--tls-cert", str(cert), "--tls-key", str(key),
                       "--tls-key-password-file", str(tls_pki.password_file))
    assert served_der(server, tls_pki, "localhost") == pem_der(tls_pki.server_cert)
    hup_and_wait(server, RELOADED, 0)
    assert served_der(server, tls_pki, "localhost") == pem_der(tls_pki.server_cert)
    assert count_log(server, FAILED) == 0, server.dump()


def test_repeated_reloads(server, files, tls_pki):
    """Back and forth a few times; each SIGHUP logs its own line and takes effect."""
    cert, key = files
    pairs = [(tls_pki.other_cert, tls_pki.other_key), (tls_pki.server_cert, tls_pki.server_key)]
    for i in range(4):
        c, k = pairs[i % 2]
        install(c, cert)
        install(k, key)
        hup_and_wait(server, RELOADED, i)
        assert served_der(server, tls_pki, None) == pem_der(c)
    assert server.running()


def test_sighup_without_tls_keeps_serving(start_app):
    """A plain-HTTP server survives SIGHUP too (no TLS to reload)."""
    from wire import Conn

    server = start_app("/w=wsgi:apps.tls_app:wsgi_app")
    with Conn(server.address) as c:
        assert c.roundtrip(request("GET", "/w/")).status == 200
    server.send_signal(signal.SIGHUP)
    with Conn(server.address) as c:
        r = c.roundtrip(request("GET", "/w/"))
    assert r.status == 200
    assert server.running()
