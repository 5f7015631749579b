"""systemd: socket activation (the listeners come from systemd-socket-activate, as from a
.socket unit) and sd_notify (READY, RELOADING, STOPPING, STATUS and WATCHDOG datagrams, from the
master only) to a NOTIFY_SOCKET this test listens on."""

from __future__ import annotations

import shutil
import signal
import socket
import struct
import subprocess
import time

import httpx
import pytest

from conftest import E2E_DIR, junction_bin, server_environment

APP = "apps.metrics_app:wsgi"
ACTIVATE = shutil.which("systemd-socket-activate")
pytestmark = pytest.mark.skipif(not ACTIVATE, reason="systemd-socket-activate is missing "
                                "(Debian's systemd package: bash scripts/setup.sh)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Notifications:
    """A NOTIFY_SOCKET: each datagram with the pid of the process that sent it."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(self.path)
        self.messages: list[tuple[int, str]] = []

    def wait_for(self, text: str, timeout: float = 20.0, count: int = 1) -> str:
        """The `count`th message containing `text`, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            found = [message for _, message in self.messages if text in message]
            if len(found) >= count:
                return found[count - 1]
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} from junction; got {self.messages}"
            self.sock.settimeout(left)
            try:
                data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                continue
            pid = 0
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", payload[:12])[0]
            self.messages.append((pid, data.decode()))

    def close(self):
        self.sock.close()


def activate(listen: list[str], names: str, notify: Notifications, *junction_args: str,
             datagram: bool = False, env: dict | None = None) -> subprocess.Popen:
    """systemd-socket-activate holding `listen`, exec'ing junction at the first connection with
    LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES set. It passes on only the variables named with -E."""
    args = [ACTIVATE, f"--fdname={names}"]
    if datagram:
        args.append("--datagram")
    for address in listen:
        args += ["-l", address]
    environment = server_environment(env)
    environment["NOTIFY_SOCKET"] = notify.path
    for name, value in environment.items():
        args.append(f"-E{name}={value}")
    args += [str(junction_bin()), "--pythonpath", str(E2E_DIR), *junction_args]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # It says "Listening on ADDR as FD." for each socket once it holds it: only then may a
    # client come (a datagram sent earlier would be lost).
    held = 0
    while held < len(listen):
        line = proc.stderr.readline()
        assert line, f"systemd-socket-activate ended early ({proc.wait()})"
        held += line.startswith("Listening on")
    return proc


def get(url: str) -> httpx.Response:
    # The first connection makes systemd-socket-activate start junction; it waits in the
    # listen queue meanwhile.
    return httpx.get(url, timeout=30)


def finish(proc: subprocess.Popen, sig=signal.SIGTERM, sent: bool = False) -> tuple[int, str]:
    """Waits for junction to end, signalling it first unless the test already did (`sent`): a
    second SIGTERM racing the master's own clean exit would kill it with -15."""
    if not sent and proc.poll() is None:
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


@pytest.fixture
def notify(tmp_path):
    """The fake NOTIFY_SOCKET listener of a test."""
    listener = Notifications(tmp_path / "notify")
    yield listener
    listener.close()


def test_socket_activation_and_notify_in_one_process(notify):
    app_port, admin_port = free_port(), free_port()
    stopping = False
    proc = activate([f"127.0.0.1:{app_port}", f"127.0.0.1:{admin_port}"], "http:admin", notify,
                    APP, env={"WATCHDOG_USEC": "200000"})
    try:
        assert get(f"http://127.0.0.1:{app_port}/ok").text == "ok"
        ready = notify.wait_for("READY=1")
        assert "STATUS=serving" in ready
        # WATCHDOG_USEC=200 ms: a beat every 100 ms, for as long as it serves.
        notify.wait_for("WATCHDOG=1", count=5)
        status = httpx.get(f"http://127.0.0.1:{admin_port}/status", timeout=10).json()
        assert [l["kind"] for l in status["listeners"]] == ["app", "admin"]
        assert status["listeners"][0]["address"] == f"http://127.0.0.1:{app_port}"
        assert {pid for pid, _ in notify.messages} == {proc.pid}  # exec'd: the same pid
        proc.send_signal(signal.SIGTERM)
        stopping = True
        notify.wait_for("STOPPING=1")
    finally:
        code, err = finish(proc, sent=stopping)
    assert code == 0, err
    assert "socket activation: 2 listening socket(s) from systemd replace --bind" in err
    assert f"Listening on http://127.0.0.1:{app_port}" in err


def test_workers_ready_reload_and_stop_are_said_by_the_master_only(notify):
    port = free_port()
    stopping = False
    proc = activate([f"127.0.0.1:{port}"], "http", notify, "--workers", "2", APP,
                    env={"WATCHDOG_USEC": "300000"})
    try:
        assert get(f"http://127.0.0.1:{port}/ok").text == "ok"
        assert "STATUS=2 worker(s) serving" in notify.wait_for("READY=1")
        notify.wait_for("WATCHDOG=1", count=2)
        proc.send_signal(signal.SIGHUP)
        reloading = notify.wait_for("RELOADING=1")
        assert "MONOTONIC_USEC=" in reloading
        notify.wait_for("(reloaded)")
        assert get(f"http://127.0.0.1:{port}/ok").text == "ok"
        proc.send_signal(signal.SIGTERM)
        stopping = True
        notify.wait_for("STOPPING=1")
    finally:
        code, err = finish(proc, sent=stopping)
    assert code == 0, err
    senders = {pid for pid, _ in notify.messages}
    assert senders == {proc.pid}, (senders, notify.messages)
    # Nothing said READY before both workers were: the first READY names both.
    first_ready = next(m for _, m in notify.messages if "READY=1" in m)
    assert "2 worker(s)" in first_ready


def test_a_socket_that_is_not_a_listening_stream_is_one_line_and_exit_1(notify):
    port = free_port()
    proc = activate([f"127.0.0.1:{port}"], "http", notify, APP, datagram=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", ("127.0.0.1", port))
    code, err = finish(proc, signal.SIGCONT)  # wait for it to end on its own
    assert code == 1
    assert [l for l in err.splitlines() if l.startswith("junction")] == [
        "junction: socket activation: descriptor 3 (http) is not a listening stream socket "
        "(ListenStream= in the .socket unit)"]
