"""At the edge: listeners with their own protocol (http:// and https:// in one process),
--https-redirect, --hsts, --uds-mode, and --user/--group (bind as root, then drop).

The app is apps.edge_app (JSON: scheme, method, uid, gid; `?sts=1` sets its own HSTS).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess

import pytest

from conftest import E2E_DIR, server_environment
from tls_util import TlsConn, client_context
from wire import Conn, request

APP = "apps.edge_app:app"


def start_edge(start_server, tls_pki, *extra, binds):
    return start_server("--pythonpath", str(E2E_DIR), *tls_pki.server_args(), *extra, APP,
                        binds=binds)


def plain_get(server, target="/", *, index=0, method="GET", host="localhost", headers=()):
    with Conn(server.addresses[index]) as c:
        return c.roundtrip(request(method, target, host=host, headers=headers))


def tls_get(server, tls_pki, target="/", *, index=1):
    with TlsConn(server.addresses[index], client_context(tls_pki),
                 server_hostname="localhost") as c:
        return c.roundtrip(request("GET", target, host="localhost"))


def test_plain_and_tls_listeners_serve_side_by_side(start_server, tls_pki):
    """http:// stays plain text and https:// speaks TLS, in one process, each logged by scheme."""
    s = start_edge(start_server, tls_pki, binds=["http://127.0.0.1:0", "https://127.0.0.1:0"])
    logged = [line for line in s.stderr.snapshot() if "Listening on" in line]
    assert "Listening on http://127.0.0.1:" in logged[0]
    assert "Listening on https://127.0.0.1:" in logged[1]
    assert json.loads(plain_get(s).body)["scheme"] == "http"
    assert json.loads(tls_get(s, tls_pki).body)["scheme"] == "https"


def test_http_scheme_without_certificates_is_plain(start_server):
    """http://HOST:PORT needs no certificate and serves plain text."""
    s = start_server("--pythonpath", str(E2E_DIR), APP, binds=["http://127.0.0.1:0"])
    assert plain_get(s).status == 200


def test_https_redirect_keeps_the_url_and_names_the_tls_port(start_server, tls_pki):
    """A plain request gets 308 to the same path and query on the TLS listener's port; the
    health path is still answered in plain text, and the TLS listener serves the app."""
    s = start_edge(start_server, tls_pki, "--https-redirect",
                   binds=["http://127.0.0.1:0", "https://127.0.0.1:0"])
    tls_port = s.addresses[1][1]
    r = plain_get(s, "/some/path?q=1&r=2", host="example.test:8080")
    assert r.status == 308
    assert r.header("location") == f"https://example.test:{tls_port}/some/path?q=1&r=2"
    post = plain_get(s, "/form", method="POST", host="example.test")
    assert post.status == 308  # 308: the client repeats the POST (RFC 9110 §15.4.9)
    assert post.header("location") == f"https://example.test:{tls_port}/form"
    assert plain_get(s, "/healthz").status == 200
    assert tls_get(s, tls_pki, "/some/path").status == 200


def test_https_redirect_over_h2c(start_server, tls_pki):
    """HTTP/2 in plain text (prior knowledge) is redirected too."""
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    s = start_edge(start_server, tls_pki, "--https-redirect",
                   binds=["http://127.0.0.1:0", "https://127.0.0.1:0"])
    host, port = s.addresses[0]
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_version} %{http_code} "
                          "%{redirect_url}", "--http2-prior-knowledge",
                          f"http://{host}:{port}/x"], capture_output=True, text=True, timeout=20)
    assert out.stdout == f"2 308 https://{host}:{s.addresses[1][1]}/x"


def test_hsts_on_tls_responses_only(start_server, tls_pki):
    """--hsts adds Strict-Transport-Security to TLS answers (with the chosen directives), never
    to plain-text ones, and an app's own header wins."""
    s = start_edge(start_server, tls_pki, "--hsts", "31536000", "--hsts-include-subdomains",
                   "--hsts-preload", binds=["http://127.0.0.1:0", "https://127.0.0.1:0"])
    r = tls_get(s, tls_pki)
    assert r.header("strict-transport-security") == "max-age=31536000; includeSubDomains; preload"
    assert plain_get(s).header("strict-transport-security") is None
    assert tls_get(s, tls_pki, "/?sts=1").header_all("strict-transport-security") == ["max-age=5"]


def test_hsts_over_http2(start_server, tls_pki):
    """HTTP/2 over TLS carries the header too."""
    httpx = pytest.importorskip("httpx")
    s = start_edge(start_server, tls_pki, "--hsts", "600", binds=["https://127.0.0.1:0"])
    host, port = s.addresses[0]
    with httpx.Client(http2=True, verify=str(tls_pki.ca_cert)) as client:
        r = client.get(f"https://localhost:{port}/")
    assert r.http_version == "HTTP/2"
    assert r.headers["strict-transport-security"] == "max-age=600"


@pytest.mark.parametrize("mode, expected", [(None, 0o660), ("600", 0o600), ("0666", 0o666)])
def test_uds_mode(start_server, tmp_path, mode, expected):
    """A unix socket gets --uds-mode (default 0660) before the server accepts on it."""
    path = tmp_path / "j.sock"
    extra = ["--uds-mode", mode] if mode else []
    s = start_server(*extra, binds=[f"unix:{path}"])
    assert stat.S_IMODE(os.stat(path).st_mode) == expected
    with Conn(str(path)) as c:
        assert c.roundtrip(request("GET", "/healthz")).status == 200
    s.stop()


@pytest.mark.parametrize("args, message", [
    (["--bind", "https://127.0.0.1:0"], "needs --tls-cert and --tls-key"),
    (["--https-redirect"], "--https-redirect needs a plain-text listener and a TLS one"),
    (["--hsts", "60"], "--hsts needs a TLS listener"),
    (["--hsts-preload"], "need --hsts"),
    (["--uds-mode", "9"], "--uds-mode: expected octal"),
    (["--bind", "http://unix:/tmp/x.sock"], "a unix socket takes no scheme"),
    (["--user", "no-such-user-junction"], "--user: no user named 'no-such-user-junction'"),
])
def test_edge_option_errors(run_junction, args, message):
    """A bad edge option is one line naming it, and exit 2."""
    out = run_junction("--health-path", "/h", *args)
    assert out.returncode == 2, out
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


THROWAWAY = "junction-e2e"


@pytest.fixture
def throwaway_user():
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd")
    try:
        pwd.getpwnam(THROWAWAY)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        THROWAWAY], check=True, capture_output=True)
    return pwd.getpwnam(THROWAWAY)


def readable_by_others(path: str) -> bool:
    """Whether a user other than root can reach `path` (every directory on the way o+x)."""
    path = os.path.realpath(path)
    while path != "/":
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
        path = os.path.dirname(path)
    return True


@pytest.fixture(scope="module")
def junction_for_others():
    """A junction whose interpreter a dropped-to user can read: the one under test when its
    Python lives where others can reach, else the repaired wheel in a venv of another build of
    the same version (Debian's), made in a directory every user can enter. pyenv's CPython
    under /root is out of the user's reach after the drop, as it would be in production.
    Yields the junction and what its environment needs (the wheel is a release build: no
    sanitizer runtime to preload)."""
    import sys
    import tempfile
    from pathlib import Path
    from wheel_util import other_python, wheel_venv
    from conftest import junction_bin
    if readable_by_others(sys.base_prefix) and readable_by_others(str(junction_bin())):
        yield junction_bin(), {}
        return
    other = other_python()
    if other is None or not readable_by_others(other):
        pytest.skip(f"no interpreter that other users can read ({sys.base_prefix} is not)")
    root = Path(tempfile.mkdtemp(prefix="junction-user-"))
    try:
        os.chmod(root, 0o755)
        junction = wheel_venv(other, root / "venv") / "bin" / "junction"
        yield junction, {"LD_PRELOAD": None, "PYTHONMALLOC": None}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_user_drops_privileges_after_binding(tmp_path, throwaway_user, junction_for_others):
    """--user binds as root (a socket in a root-only directory), then the app runs as the user,
    and the socket file belongs to the user."""
    from conftest import Server
    junction, environment = junction_for_others
    if not readable_by_others(str(E2E_DIR)):
        pytest.skip(f"{E2E_DIR} is not readable by other users")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    path = private / "j.sock"
    s = Server([str(junction), "--bind", f"unix:{path}", "--bind", "127.0.0.1:0",
                "--pythonpath", str(E2E_DIR), "--user", THROWAWAY, APP], binds=2,
               env=server_environment({"VIRTUAL_ENV": None, "PYTHONDONTWRITEBYTECODE": "1",
                                       **environment}))
    try:
        assert s.stderr.wait_for(lambda ls: any(f"({THROWAWAY})" in x for x in ls), 10), s.dump()
        seen = json.loads(plain_get(s, index=1).body)
        assert (seen["uid"], seen["gid"]) == (throwaway_user.pw_uid, throwaway_user.pw_gid)
        assert os.stat(path).st_uid == throwaway_user.pw_uid
    finally:
        assert s.stop() == 0, s.dump()


def test_user_who_cannot_read_the_key_stops_the_start(binary, throwaway_user, tls_pki):
    """The workers load the certificates as the user: a key only root can read (pytest's
    directories are root's alone) stops the master at start-up with one line that says so,
    exit 1, before any worker is forked."""
    out = subprocess.run([str(binary), "--bind", "https://127.0.0.1:0", *tls_pki.server_args(),
                          "--health-path", "/h", "--user", THROWAWAY],
                         capture_output=True, text=True, timeout=30, env=server_environment())
    assert out.returncode == 1, out
    errors = [line for line in out.stderr.splitlines() if line.startswith("junction: ")]
    assert len(errors) == 1, out.stderr
    assert f"as {THROWAWAY}: " in errors[0] and "readable by the user" in errors[0]
    assert not any("worker(s) ready" in line for line in out.stderr.splitlines()), out.stderr


def test_user_is_refused_without_root(binary, throwaway_user):
    """Not root: --user is one line and exit 2."""
    out = subprocess.run(["setpriv", f"--reuid={throwaway_user.pw_uid}",
                          f"--regid={throwaway_user.pw_gid}", "--clear-groups", str(binary),
                          "--health-path", "/h", "--user", "root"],
                         capture_output=True, text=True, timeout=20, env=server_environment())
    assert out.returncode == 2, out
    assert "--user and --group need root" in out.stderr
