"""Many connections at once, a slowloris client, and running out of file descriptors."""

from __future__ import annotations

import asyncio
import resource
import select
import socket
import threading
import time

from wire import Conn, request

GET = request("GET", "/healthz")


async def _open_and_hold(address, n: int):
    """Open n connections, then send one request on each and read all responses."""

    async def connect():
        return await asyncio.open_connection(*address)

    async def read_one(reader: asyncio.StreamReader):
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length)
        return status, body

    conns = []
    try:
        results = await asyncio.gather(*(connect() for _ in range(n)), return_exceptions=True)
        conns = [r for r in results if not isinstance(r, BaseException)]
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, f"{len(errors)} of {n} connects failed, first: {errors[0]!r}"
        # All n connections are open now; only then does any of them send its request.
        for _, writer in conns:
            writer.write(GET)
        await asyncio.gather(*(w.drain() for _, w in conns))
        return await asyncio.gather(*(read_one(r) for r, _ in conns), return_exceptions=True)
    finally:
        for _, writer in conns:
            writer.close()


def test_500_concurrent_connections(server):
    """500 connections open at the same time each get 200 `ok` for their request."""
    results = asyncio.run(asyncio.wait_for(_open_and_hold(server.address, 500), 90))
    bad = [r for r in results if r != (200, b"ok")]
    assert not bad, f"{len(bad)} of 500 failed, e.g. {bad[:3]}"


def test_slowloris_cut_while_others_are_served(start_server):
    """A client sending its head one byte every 0.2 s gets 408 at the header timeout while normal clients are served meanwhile."""
    s = start_server("--timeout-request-header", "1")
    outcome: dict = {}

    def slowloris():
        data = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200  # never finishes
        try:
            with Conn(s.address, timeout=15) as c:
                t0 = time.monotonic()
                for byte in data:  # at most ~46 s; the server must cut it long before
                    readable, _, _ = select.select([c.sock], [], [], 0.2)
                    if readable:
                        break
                    try:
                        c.send(bytes([byte]))
                    except OSError:
                        break
                outcome["cut_after"] = time.monotonic() - t0
                r = c.read_response()
                outcome["status"] = r.status
                outcome["close"] = r.has_token("connection", "close")
                c.wait_closed(5)
                outcome["closed"] = True
        except Exception as e:  # reported by the test below
            outcome["error"] = repr(e)

    t = threading.Thread(target=slowloris, name="slowloris", daemon=True)
    t.start()
    served = 0
    deadline = time.monotonic() + 20
    while t.is_alive() and time.monotonic() < deadline and served < 500:
        with Conn(s.address, timeout=5) as c:
            r = c.roundtrip(GET)
        assert (r.status, r.body) == (200, b"ok")
        served += 1
        time.sleep(0.05)
    t.join(20)
    assert not t.is_alive(), "slowloris client was never cut"
    assert "error" not in outcome, outcome
    assert outcome["status"] == 408, outcome
    assert outcome["close"] and outcome["closed"], outcome
    assert outcome["cut_after"] < 6, outcome
    assert served >= 3, f"only {served} normal requests were served during the slowloris"


def test_accept_survives_emfile(start_server):
    """Under a 64-descriptor limit, 100 simultaneous connections exhaust the server's descriptors; once they close, it serves again."""

    def low_nofile():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    s = start_server("--io-threads", "1", preexec_fn=low_nofile)
    clients = []
    try:
        for _ in range(100):
            sock = socket.create_connection(s.address, timeout=5)
            sock.sendall(GET)
            clients.append(sock)
        time.sleep(1.0)  # let the accept loop run into EMFILE
        assert s.running(), s.dump()
    finally:
        for sock in clients:
            sock.close()

    deadline = time.monotonic() + 20
    last = None
    while time.monotonic() < deadline:
        try:
            with Conn(s.address, timeout=3) as c:
                r = c.roundtrip(GET)
            if (r.status, r.body) == (200, b"ok"):
                break
            last = r.status
        except (OSError, EOFError) as e:
            last = e
        time.sleep(0.2)
    else:
        raise AssertionError(f"server did not recover after EMFILE (last: {last!r})\n{s.dump()}")
    assert s.running()
