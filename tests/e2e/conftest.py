"""Fixtures that run the real, installed junction for the end-to-end tests.

`JUNCTION_BIN` names the command (default: .venv/bin/junction under the repo root, the package
scripts/setup.sh installs). `JUNCTION_TEST_PRELOAD` (the sanitizer pass of scripts/test.sh) is given
to every server process as LD_PRELOAD, with PYTHONMALLOC=malloc.
Servers bind port 0 and report the port the OS picked on stderr, one line per --bind:
`... Listening on http://127.0.0.1:PORT`; the fixture waits for those lines.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"Listening on ([^\s\"]+)")  # also inside a --log-format json line
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

# 500 concurrent connections need more descriptors than a default soft limit of 1024 leaves
# for the test process and the server (which inherits it).
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
_want = 8192 if _hard == resource.RLIM_INFINITY else min(8192, _hard)
if _soft != resource.RLIM_INFINITY and _soft < _want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (_want, _hard))


def junction_bin() -> Path:
    path = Path(os.environ.get("JUNCTION_BIN", REPO / ".venv/bin/junction"))
    if not path.is_absolute():
        path = REPO / path
    return path


def server_environment(extra: Optional[dict] = None) -> dict:
    """The environment of a junction process: this one's, the sanitizer runtime preloaded when
    JUNCTION_TEST_PRELOAD says so, then `extra` (a value of None removes a variable)."""
    environment = dict(os.environ)
    preload = environment.pop("JUNCTION_TEST_PRELOAD", "")
    if preload:
        environment["LD_PRELOAD"] = preload
        environment["PYTHONMALLOC"] = "malloc"
    for k, v in (extra or {}).items():
        if v is None:
            environment.pop(k, None)
        else:
            environment[k] = str(v)
    return environment


def parse_address(url: str):
    """Turn the address from a `Listening on` line into something socket.connect takes."""
    if url.startswith("unix:"):
        path = url[len("unix:"):]
        return path[2:] if path.startswith("///") else path
    m = re.fullmatch(r"(?:https?://)?\[([^\]]+)\]:(\d+)/?", url)
    if m:
        return (m.group(1), int(m.group(2)))
    m = re.fullmatch(r"(?:https?://)?([^:/]+):(\d+)/?", url)
    if m:
        return (m.group(1), int(m.group(2)))
    raise AssertionError(f"cannot parse listening address {url!r}")


class _Lines:
    """Lines read from one pipe by a background thread, so the pipe never fills."""

    def __init__(self, pipe, name: str):
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._drain, args=(pipe,), name=name, daemon=True)
        self.thread.start()

    def _drain(self, pipe) -> None:
        for raw in iter(pipe.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                self.cond.notify_all()
        pipe.close()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def snapshot(self) -> list[str]:
        with self.cond:
            return list(self.lines)

    def wait_for(self, pred: Callable[[list[str]], object], timeout: float):
        """Wait until pred(lines) is truthy; return its value (None on timeout or EOF)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = pred(self.lines)
                if value or self.closed:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


class Server:
    """One running junction process."""

    def __init__(self, args: list[str], *, binds: int, preexec_fn=None, env=None, cwd=None):
        self.args = args
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=preexec_fn,
            env=env,
            cwd=cwd,
        )
        self.stdout = _Lines(self.proc.stdout, "junction-stdout")
        self.stderr = _Lines(self.proc.stderr, "junction-stderr")
        self.addresses: list = []
        if binds:
            def listening(lines):
                found = [m.group(1) for line in lines if (m := LISTENING.search(line))]
                return found if len(found) >= binds else None

            urls = self.stderr.wait_for(listening, START_TIMEOUT)
            if not urls:
                self.kill()
                raise AssertionError(
                    f"junction did not report {binds} listening address(es) within "
                    f"{START_TIMEOUT}s (exit code {self.proc.poll()})\n{self.dump()}"
                )
            self.urls = urls
            self.addresses = [parse_address(u) for u in urls]

    @property
    def address(self):
        return self.addresses[0]

    @property
    def port(self) -> int:
        return self.addresses[0][1]

    @property
    def base_url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def running(self) -> bool:
        return self.proc.poll() is None

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = STOP_TIMEOUT) -> Optional[int]:
        """Wait for the process to exit; return its exit code, or None if it is still running."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.stdout.thread.join(2)
        self.stderr.thread.join(2)
        return code

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> Optional[int]:
        """Send `sig` and wait for exit; kill and return None if it did not exit in time."""
        if self.running():
            self.send_signal(sig)
        code = self.wait(timeout)
        if code is None:
            self.kill()
        return code

    def kill(self) -> None:
        if self.running():
            self.proc.kill()
        self.proc.wait()
        self.stdout.thread.join(2)
        self.stderr.thread.join(2)

    def dump(self) -> str:
        out = self.stdout.snapshot()
        err = self.stderr.snapshot()
        return (
            f"$ {' '.join(self.args)}\n--- stderr ({len(err)} lines) ---\n"
            + "\n".join(err[-200:])
            + f"\n--- stdout ({len(out)} lines, last 50) ---\n"
            + "\n".join(out[-50:])
        )


@pytest.fixture
def binary() -> Path:
    path = junction_bin()
    if not path.exists():
        pytest.fail(f"{path} does not exist: install it with `bash scripts/setup.sh`")
    return path


@pytest.fixture
def start_server(binary):
    """A factory: start_server(*extra_args, binds=[...]) starts junction and waits for it.

    By default the server binds 127.0.0.1:0 with --health-path /healthz --log-level info
    --diagnostics (the health path's test aids: `?echo` echoes the request body, `?sleep=S`
    delays the answer). `env` adds environment variables (None removes one); `cwd` is the
    working directory the server starts in.
    On teardown every server still running gets SIGTERM and must exit 0 in time.
    """
    servers: list[Server] = []

    def start(
        *extra: str,
        binds: Optional[list[str]] = None,
        health_path: Optional[str] = "/healthz",
        log_level: str = "info",
        diagnostics: bool = True,
        preexec_fn=None,
        wait_listening: bool = True,
        env: Optional[dict] = None,
        cwd=None,
        listening: Optional[int] = None,
    ) -> Server:
        binds = ["127.0.0.1:0"] if binds is None else binds
        # How many `Listening on` lines to wait for: one per bind, unless the listeners come
        # from elsewhere (a config file's [[listen]] tables).
        expected = len(binds) if listening is None else listening
        args = [str(binary)]
        for b in binds:
            args += ["--bind", b]
        if health_path is not None:
            args += ["--health-path", health_path]
        if log_level is not None:
            args += ["--log-level", log_level]
        if diagnostics and health_path is not None:  # ?echo and ?sleep=S on the health path
            args.append("--diagnostics")
        args += list(extra)
        environment = server_environment(env)
        server = Server(args, binds=expected if wait_listening else 0,
                        preexec_fn=preexec_fn, env=environment, cwd=cwd)
        servers.append(server)
        return server

    yield start

    problems = []
    for s in servers:
        was_running = s.running()
        code = s.stop()
        # Shown by pytest only when the test failed.
        print(s.dump())
        if was_running and code != 0:
            problems.append(
                f"junction did not exit 0 after SIGTERM (exit code {code}; None = still "
                f"running after {STOP_TIMEOUT}s, killed)\n{s.dump()}"
            )
    if problems:
        pytest.fail("\n\n".join(problems))


@pytest.fixture
def server(start_server) -> Server:
    """A junction with the default settings, serving /healthz on 127.0.0.1."""
    return start_server()


@pytest.fixture
def run_junction(binary):
    """Run junction to completion (for --help, --version, bad flags): returns CompletedProcess."""

    def run(*args: str, timeout: float = 15.0, env: Optional[dict] = None
            ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(binary), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=server_environment(env),
        )

    return run


# --- WSGI apps -------------------------------------------------------------------------------

E2E_DIR = Path(__file__).resolve().parent  # holds the `apps` package of test apps


@pytest.fixture
def start_app(start_server):
    """start_app(*apps, extra=[...], **kw): junction serving test apps from tests/e2e/apps.

    `apps` are APP arguments such as "apps.responses:app" or "/api=apps.environ_app:app";
    tests/e2e is put on the path with --pythonpath. Other keywords go to start_server.
    """

    def start(*apps: str, extra: tuple | list = (), **kw) -> Server:
        return start_server("--pythonpath", str(E2E_DIR), *extra, *apps, **kw)

    return start


# --- HTTP/2 (test_http2_*.py) ------------------------------------------------------------------

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class H2Client:
    """One h2c prior-knowledge connection driven by the `h2` library, plus raw frames.

    `conn` is the h2 state machine (send through it, then flush()); send_raw() writes bytes
    the state machine never sees (for frames h2 refuses to build). pump() reads and records:
    per stream `responses[sid]` = {"status", "headers", "data", "ended", "reset"}, and for the
    connection `goaway` (the ConnectionTerminated event) and `closed` (EOF or reset).
    """

    def __init__(self, address, *, timeout: float = 10.0):
        import socket

        import h2.config
        import h2.connection

        self.sock = socket.create_connection(address, timeout=timeout)
        self.timeout = timeout
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.conn.update_settings({0x4: 16 << 20})  # INITIAL_WINDOW_SIZE: big downloads
        self.conn.increment_flow_control_window(1 << 30)
        self.responses: dict[int, dict] = {}
        self.goaway = None
        self.closed = False
        self.events: list = []
        self.flush()

    def __enter__(self) -> "H2Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self.closed:
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, path: str, *, body: bytes = b"", headers=(),
                authority: str = "localhost", end: bool = True) -> int:
        """Open a stream; send the body (all of it, waiting for window) unless end=False."""
        sid = self.conn.get_next_available_stream_id()
        fields = [(":method", method), (":scheme", "http"), (":path", path),
                  (":authority", authority), *headers]
        self.conn.send_headers(sid, fields, end_stream=end and not body)
        self.responses[sid] = {"status": None, "headers": [], "data": bytearray(),
                               "ended": False, "reset": None}
        self.flush()
        if body:
            self.send_body(sid, body, end=end)
        return sid

    def send_body(self, sid: int, body: bytes, *, end: bool = True) -> None:
        view = memoryview(body)
        while view:
            n = min(len(view), self.conn.local_flow_control_window(sid),
                    self.conn.max_outbound_frame_size)
            if n <= 0:
                self.pump(lambda: self.conn.local_flow_control_window(sid) > 0 or self.done(sid))
                if self.done(sid):
                    return
                continue
            self.conn.send_data(sid, view[:n].tobytes(), end_stream=end and n == len(view))
            view = view[n:]
            self.flush()
        if end and not body:
            self.conn.end_stream(sid)
            self.flush()

    def done(self, sid: int) -> bool:
        r = self.responses.get(sid)
        return bool(r and (r["ended"] or r["reset"] is not None)) or self.goaway is not None \
            or self.closed

    def pump(self, until, timeout: Optional[float] = None) -> bool:
        """Read and handle frames until until() is true, the connection ends, or the timeout."""
        import socket

        import h2.events

        deadline = time.monotonic() + (timeout or self.timeout)
        while not until():
            if self.closed:
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                return False
            except OSError:
                data = b""
            if not data:
                self.closed = True
                return bool(until())
            for ev in self.conn.receive_data(data):
                self.events.append(ev)
                r = self.responses.get(getattr(ev, "stream_id", None) or 0)
                if isinstance(ev, h2.events.ResponseReceived) and r is not None:
                    r["headers"] = list(ev.headers)
                    r["status"] = int(dict(ev.headers)[":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    if r is not None:
                        r["data"] += ev.data
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded) and r is not None:
                    r["ended"] = True
                elif isinstance(ev, h2.events.StreamReset) and r is not None:
                    r["reset"] = ev.error_code
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.goaway = ev
            self.flush()
        return True

    def response(self, sid: int, timeout: Optional[float] = None) -> dict:
        """Wait for the stream to end; returns its record (status, headers, data, reset)."""
        self.pump(lambda: self.done(sid), timeout)
        return self.responses[sid]

    def get(self, path: str, **kw) -> dict:
        return self.response(self.request("GET", path, **kw))


@pytest.fixture
def h2client():
    """A factory: h2client(address) opens an H2Client; all are closed on teardown."""
    clients: list[H2Client] = []

    def make(address, **kw) -> H2Client:
        c = H2Client(address, **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


# --- TLS (test_tls_*.py) -----------------------------------------------------------------------

TLS_APPS = ("/w=wsgi:apps.tls_app:wsgi_app", "/a=asgi:apps.tls_app:asgi_app")


@pytest.fixture(scope="session")
def tls_pki(tmp_path_factory):
    """The test PKI (tls_util.Pki): a CA, server, SNI, client and rogue certificates."""
    from tls_util import make_pki

    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def start_tls(start_server, tls_pki):
    """start_tls(*tls_args, apps=TLS_APPS, extra=[...], **kw): junction over TLS serving the
    WSGI app of apps.tls_app at /w and its ASGI app at /a. Without tls_args the server uses
    the default pair (localhost, 127.0.0.1); `extra` are further options. The apps come after
    the options, as users write them."""

    def start(*tls_args: str, apps=TLS_APPS, extra=(), **kw) -> Server:
        tls = list(tls_args) or tls_pki.server_args()
        return start_server("--pythonpath", str(E2E_DIR), *tls, *extra, *apps, **kw)

    return start
