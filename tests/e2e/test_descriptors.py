"""Out of file descriptors: on EMFILE the server closes the keep-alive connection that has
been idle longest (at least one per failed accept) so that a new client is served, and says
so in the log once a second at most (docs/reliability.md). Without that, idle keep-alive
connections held every descriptor and new clients connected and were never answered.

The server runs under `ulimit -n 200` (RLIMIT_NOFILE set in the child before exec)."""

from __future__ import annotations

import resource
import socket

from probe import Prober
from wire import Conn, request

LIMIT = 200
CLIENTS = 260


def low_descriptor_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


def served(conn: Conn) -> bool:
    r = conn.roundtrip(request("GET", "/healthz"))
    return r.status == 200 and r.body == b"ok"


def test_idle_keep_alive_connections_make_room_for_new_clients(start_server):
    """260 clients, one after another, each served once and then left idle on its keep-alive
    connection, under a limit of 200 descriptors: every one of them is served (the oldest idle
    ones are closed to make room), a new client after them too, and the log says how many idle
    connections were closed. Meanwhile a probe on a new connection every second gets its 200
    within 1 s."""
    server = start_server("--timeout-keep-alive", "120", preexec_fn=low_descriptor_limit)
    conns: list[Conn] = []
    try:
        # And a client on a new connection every second is served within 1 s throughout.
        with Prober(server, "/healthz", b"ok") as prober:
            for i in range(CLIENTS):
                conn = Conn(server.address, timeout=10)
                conns.append(conn)
                assert served(conn), f"client {i} was not served\n{server.dump()}"
        prober.check()
        with Conn(server.address, timeout=10) as late:
            assert served(late)
        # The first clients' connections were the ones closed: reading them finds the end.
        closed = 0
        for conn in conns[:20]:
            conn.sock.settimeout(5)
            try:
                closed += conn.sock.recv(1) == b""
            except OSError:
                closed += 1
        assert closed == 20, f"{closed} of the 20 oldest idle connections were closed"
        # The newest ones are still open and still served.
        assert served(conns[-1])
    finally:
        for conn in conns:
            conn.close()
    assert "idle keep-alive connection(s) to make room" in server.dump()


def test_without_idle_connections_accepting_pauses_and_resumes(start_server):
    """When every descriptor is held by a connection that is not idle (each has a request in
    flight), nothing is closed: new clients wait, and they are served once descriptors come
    back."""
    server = start_server("--timeout-keep-alive", "120", preexec_fn=low_descriptor_limit)
    busy: list[socket.socket] = []
    try:
        # Requests whose heads never end hold their connections busy (not idle).
        for _ in range(CLIENTS):
            s = socket.create_connection(server.address, timeout=10)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            busy.append(s)
        # Closing them before the server has caught up would let it accept them one by one,
        # each closed by then, without ever running out: wait for the accept that fails.
        assert server.stderr.wait_for(
            lambda lines: any("Too many open files" in l for l in lines), 20
        ), f"{CLIENTS} connections under a limit of {LIMIT} never exhausted it\n{server.dump()}"
        for s in busy:
            s.close()
        busy.clear()
        with Conn(server.address, timeout=15) as late:
            assert served(late)
    finally:
        for s in busy:
            s.close()
    assert "Too many open files" in server.dump()
