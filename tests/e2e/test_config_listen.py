"""[[listen]] tables: each listener with its own TLS, protocols (`http`) and PROXY protocol;
--bind on the command line replaces them; check-config lists them and reports their errors
with their places."""

from __future__ import annotations

import json
import re
import subprocess

import httpx
import pytest

from conftest import E2E_DIR, server_environment
from tls_util import TlsConn, client_context
from wire import Conn, request

LISTEN = """
pythonpath = ["{e2e}"]
tls_cert = "{cert}"
tls_key = "{key}"

[apps.edge]
target = "wsgi:apps.edge_app:app"

[[routes]]
prefix = "/"
app = "edge"

[[listen]]
bind = "127.0.0.1:0"
tls = false
http = 1

[[listen]]
bind = "127.0.0.1:0"
tls = false
http = "2"

[[listen]]
bind = "127.0.0.1:0"
tls = false
proxy_protocol = true

[[listen]]
bind = "127.0.0.1:0"
http = 1

[[listen]]
bind = "127.0.0.1:0"
"""


def config(tmp_path, tls_pki, text: str = LISTEN):
    path = tmp_path / "junction.toml"
    path.write_text(text.format(e2e=E2E_DIR, cert=tls_pki.server_cert, key=tls_pki.server_key))
    return path


def h2_prior_knowledge(address) -> httpx.Response:
    host, port = address
    with httpx.Client(http1=False, http2=True, timeout=5) as client:
        return client.get(f"http://{host}:{port}/")


def test_each_listener_with_its_own_protocols_tls_and_proxy_protocol(start_server, tmp_path,
                                                                     tls_pki):
    server = start_server("--config", str(config(tmp_path, tls_pki)), binds=[], listening=5)
    only1, only2, proxied, tls1, tls_auto = server.addresses
    logged = [line for line in server.stderr.snapshot() if "Listening on" in line]
    assert [l.split("Listening on ")[1].split(":")[0] for l in logged] == [
        "http", "http", "http", "https", "https"], logged

    # http = 1: HTTP/1.1 is served, the HTTP/2 preface is not.
    with Conn(only1) as c:
        assert c.roundtrip(request("GET", "/", host="localhost")).status == 200
    with pytest.raises(httpx.HTTPError):
        h2_prior_knowledge(only1)
    # http = 2: HTTP/2 only.
    r = h2_prior_knowledge(only2)
    assert (r.status_code, r.http_version) == (200, "HTTP/2")
    with Conn(only2) as c:
        c.send(request("GET", "/", host="localhost"))
        assert not c.wait_closed(5).startswith(b"HTTP/1.1 200")

    # proxy_protocol = true: the header names the client; a request without one is closed.
    with Conn(proxied) as c:
        c.send(b"PROXY TCP4 198.51.100.7 192.0.2.1 40001 80\r\n")
        r = c.roundtrip(request("GET", "/", host="localhost"))
        assert r.status == 200 and json.loads(r.body)["scheme"] == "http"
    with Conn(proxied) as c:
        c.send(request("GET", "/", host="localhost"))
        assert c.wait_closed(5) == b""

    # TLS with http = 1: ALPN offers HTTP/1.1 alone; the other TLS listener offers h2 too.
    alpn = client_context(tls_pki, alpn=["h2", "http/1.1"])
    with TlsConn(tls1, alpn, server_hostname="localhost") as c:
        assert c.alpn == "http/1.1"
        r = c.roundtrip(request("GET", "/", host="localhost"))
        assert r.status == 200 and json.loads(r.body)["scheme"] == "https"
    with TlsConn(tls_auto, client_context(tls_pki, alpn=["h2", "http/1.1"]),
                 server_hostname="localhost") as c:
        assert c.alpn == "h2"
    # The proxy listener's client shows in the access log as the header said.
    assert server.stdout.wait_for(lambda lines: any(l.startswith("198.51.100.7:40001 ")
                                                    for l in lines), 5), server.dump()


def test_bind_on_the_command_line_replaces_the_files_listeners(start_server, tmp_path, tls_pki):
    server = start_server("--config", str(config(tmp_path, tls_pki)), binds=["127.0.0.1:0"])
    logged = [line for line in server.stderr.snapshot() if "Listening on" in line]
    assert len(logged) == 1, logged
    # A bare address is TLS when certificates are given, as ever.
    with TlsConn(server.address, client_context(tls_pki), server_hostname="localhost") as c:
        assert c.roundtrip(request("GET", "/", host="localhost")).status == 200


def test_check_config_lists_listeners_and_reports_their_errors(binary, tmp_path, tls_pki):
    good = subprocess.run([str(binary), "check-config", str(config(tmp_path, tls_pki))],
                          capture_output=True, text=True, timeout=30, env=server_environment())
    assert good.returncode == 0, good.stderr
    assert "listeners:\n  127.0.0.1:0 (plain, HTTP/1.1)\n" in good.stdout, good.stdout
    assert "  127.0.0.1:0 (plain, HTTP/2)\n" in good.stdout
    assert "  127.0.0.1:0 (plain, HTTP/1.1 and HTTP/2, PROXY protocol)\n" in good.stdout
    assert "  127.0.0.1:0 (TLS, HTTP/1.1)\n" in good.stdout

    bad = tmp_path / "bad.toml"
    bad.write_text("""[[listen]]
bind = "https://127.0.0.1:0"
tls = false
http = 3
proxy_protocl = true

[[listen]]
tls = true

[[listen]]
bind = "nowhere"
""")
    result = subprocess.run([str(binary), "check-config", str(bad)], capture_output=True,
                            text=True, timeout=30, env=server_environment())
    assert result.returncode == 2
    found = [re.fullmatch(r"junction: .*?:(\d+):(\d+): (.*)", line)
             for line in result.stderr.splitlines()]
    assert all(found), result.stderr
    places = [[m.group(1), m.group(2)] for m in found]
    errors = [m.group(3) for m in found]
    assert errors[0] == "http is \"auto\", 1 or 2 (as --http)", result.stderr
    assert places[0] == ["4", "1"]
    assert errors[1] == ("unknown key 'proxy_protocl' in [[listen]]; did you mean "
                         "'proxy_protocol'?")
    assert errors[2] == "tls = false, but the address says https://"
    assert places[2] == ["3", "1"]
    assert errors[3] == "a [[listen]] needs bind = \"HOST:PORT\""
    assert places[3] == ["7", "1"]
    assert places[4] == ["11", "1"] and "nowhere" in errors[4]
