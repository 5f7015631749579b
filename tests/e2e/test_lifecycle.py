"""Start-up, the command line, listeners (IPv4, IPv6, Unix) and graceful shutdown."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time

import pytest

from wire import Conn, request

GET = request("GET", "/healthz")

ALL_FLAGS = [
    "--bind", "--io-threads", "--log-level", "--access-log", "--no-access-log",
    "--limit-request-line", "--limit-request-fields", "--limit-request-field-size",
    "--limit-request-header-size", "--max-body-size", "--timeout-keep-alive",
    "--timeout-request-header", "--timeout-request-body", "--graceful-timeout",
    "--health-path", "--version", "--help",
]


def wait_refused(address, timeout: float) -> bool:
    """Poll until connecting to `address` is refused; False if it never was within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(address, timeout=0.5).close()
        except ConnectionRefusedError:
            return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


# --- command line --------------------------------------------------------------------------

def test_help_lists_every_flag(run_junction):
    """`junction --help` exits 0 and documents every flag."""
    out = run_junction("--help")
    assert out.returncode == 0, out.stderr
    missing = [f for f in ALL_FLAGS if not re.search(re.escape(f) + r"\b", out.stdout)]
    assert not missing, f"--help does not mention {missing}:\n{out.stdout}"


def test_version(run_junction):
    """`junction --version` exits 0 and prints the version number."""
    out = run_junction("--version")
    assert out.returncode == 0, out.stderr
    assert re.search(r"\d+\.\d+\.\d+", out.stdout), out.stdout


@pytest.mark.parametrize("args", [
    ["--no-such-flag"],
    ["--io-threads", "abc"],
    ["--log-level", "loud"],
    ["--limit-request-line", "-1"],
    ["--max-body-size", "lots"],
    ["--timeout-keep-alive", "soon"],
    ["--graceful-timeout", "-1"],
    ["--bind", "127.0.0.1:notaport"],
], ids=lambda a: " ".join(a))
def test_bad_flag_or_value_exits_2(run_junction, args):
    """An unknown flag or a bad value prints one line starting `junction: ` on stderr and exits 2."""
    # A --bind of port 0 keeps a server that wrongly starts from taking the default port.
    bind = [] if "--bind" in args else ["--bind", "127.0.0.1:0"]
    out = run_junction(*bind, *args, timeout=10)
    lines = [l for l in out.stderr.splitlines() if l.strip()]
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert len(lines) == 1 and lines[0].startswith("junction: "), out.stderr


# --- listeners -----------------------------------------------------------------------------

def test_address_in_use(run_junction):
    """Binding an address another socket listens on prints `Address already in use` once and exits non-zero."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_junction("--bind", f"127.0.0.1:{port}", "--health-path", "/healthz")
    assert out.returncode != 0
    hits = [l for l in out.stderr.splitlines() if "Address already in use" in l]
    assert len(hits) == 1, out.stderr


def test_address_in_use_by_another_junction(server, run_junction):
    """A second junction on the port of a running one fails instead of sharing the port."""
    out = run_junction("--bind", f"127.0.0.1:{server.port}", "--health-path", "/healthz")
    assert out.returncode != 0
    assert "Address already in use" in out.stderr, out.stderr
    with Conn(server.address) as c:
        assert c.roundtrip(GET).status == 200


def test_one_bind_in_use_fails_the_start(run_junction):
    """If any one of several --bind addresses is taken, junction exits non-zero."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_junction("--bind", "127.0.0.1:0", "--bind", f"127.0.0.1:{port}",
                           "--health-path", "/healthz")
    assert out.returncode != 0
    assert "Address already in use" in out.stderr, out.stderr


def ipv6_loopback_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback")
def test_ipv6_bind(start_server):
    """`--bind [::1]:0` listens on the IPv6 loopback and serves curl and a raw socket."""
    s = start_server(binds=["[::1]:0"])
    host, port = s.address
    assert host == "::1"
    with Conn((host, port)) as c:
        assert c.roundtrip(GET).body == b"ok"
    out = subprocess.run(["curl", "-sS", "-g", "--max-time", "10", f"http://[::1]:{port}/healthz"],
                         capture_output=True, text=True, timeout=20)
    assert (out.returncode, out.stdout) == (0, "ok"), out.stderr


def test_unix_socket_bind(start_server, tmp_path):
    """`--bind unix:PATH` serves curl --unix-socket, next to a TCP listener."""
    path = tmp_path / "junction.sock"
    s = start_server(binds=["127.0.0.1:0", f"unix:{path}"])
    assert path.exists()
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "--unix-socket", str(path), "http://localhost/healthz"],
        capture_output=True, text=True, timeout=20)
    assert (out.returncode, out.stdout) == (0, "ok"), out.stderr
    with Conn(str(path)) as c:
        for _ in range(3):
            assert c.roundtrip(GET).body == b"ok"
    tcp = next(a for a in s.addresses if isinstance(a, tuple))
    with Conn(tcp) as c:
        assert c.roundtrip(GET).body == b"ok"


# --- signals and graceful shutdown ---------------------------------------------------------

def test_sigterm_during_slow_request_completes(start_server):
    """A request in flight when SIGTERM arrives still completes with 200, then the process exits 0."""
    s = start_server("--graceful-timeout", "15")
    with Conn(s.address, timeout=20) as c:
        c.send(request("GET", "/healthz?sleep=2"))
        time.sleep(0.5)  # the request is being handled now
        s.send_signal(signal.SIGTERM)
        r = c.read_response()
        assert (r.status, r.body) == (200, b"ok")
    assert s.wait(10) == 0, s.dump()


def test_sigterm_stops_accepting(start_server):
    """After SIGTERM new connections are refused while an in-flight request is still running."""
    s = start_server("--graceful-timeout", "15")
    with Conn(s.address, timeout=20) as c:
        c.send(request("GET", "/healthz?sleep=3"))
        time.sleep(0.5)
        s.send_signal(signal.SIGTERM)
        refused = wait_refused(s.address, 2.0)
        still_running = s.running()
        r = c.read_response()
    assert refused, "the listener still accepted connections after SIGTERM"
    assert still_running, "the process exited before the in-flight request finished"
    assert r.status == 200
    assert s.wait(10) == 0, s.dump()


@pytest.mark.parametrize("first", ["GET", "POST with body"])
def test_sigterm_closes_idle_keep_alive(start_server, first):
    """SIGTERM closes an idle keep-alive connection at once (after a GET or a POST with a body) instead of waiting for its timeout."""
    s = start_server("--timeout-keep-alive", "60", "--graceful-timeout", "30")
    with Conn(s.address, timeout=20) as idle:
        if first == "GET":
            assert idle.roundtrip(GET).status == 200
        else:
            r = idle.roundtrip(request("POST", "/healthz?echo", body=b"hello"))
            assert (r.status, r.body) == (200, b"hello")
        time.sleep(0.1)
        t0 = time.monotonic()
        s.send_signal(signal.SIGTERM)
        assert idle.wait_closed(10) == b""
        assert s.wait(10) == 0, s.dump()
        assert time.monotonic() - t0 < 10


def test_graceful_timeout_cuts_long_requests(start_server):
    """A request still running when --graceful-timeout expires is cut and the process exits 0."""
    s = start_server("--graceful-timeout", "0.5")
    with Conn(s.address, timeout=20) as c:
        c.send(request("GET", "/healthz?sleep=30"))
        time.sleep(0.3)
        t0 = time.monotonic()
        s.send_signal(signal.SIGTERM)
        code = s.wait(10)
        elapsed = time.monotonic() - t0
        c.wait_closed(5)
    assert code == 0, s.dump()
    assert elapsed < 8


def test_sigint_exits_0(start_server):
    """SIGINT (Ctrl-C) shuts the server down cleanly with exit code 0."""
    s = start_server()
    with Conn(s.address) as c:
        assert c.roundtrip(GET).status == 200
    assert s.stop(signal.SIGINT) == 0, s.dump()


def test_listening_line_per_bind(start_server, tmp_path):
    """One `Listening on` line is printed per --bind, with the port the OS picked."""
    s = start_server(binds=["127.0.0.1:0", "127.0.0.1:0", f"unix:{tmp_path / 's.sock'}"])
    assert len(s.urls) == 3
    tcp = [a for a in s.addresses if isinstance(a, tuple)]
    assert len(tcp) == 2 and all(port > 0 for _, port in tcp) and tcp[0] != tcp[1]
    for addr in s.addresses:
        with Conn(addr) as c:
            assert c.roundtrip(GET).status == 200
