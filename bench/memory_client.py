"""The client of bench/memory.sh: holds N idle connections to one server and reads its RSS.

    python bench/memory_client.py --port 8000 --pgid 1234 --mode http --connections 10000

One asyncio process (uvloop when it imports), raising its own RLIMIT_NOFILE. Against the server
whose process group is PGID (the script starts each server as a group leader, setsid), on
127.0.0.1:PORT:
  1. one warm-up exchange on a connection of its own, closed; then the RSS of every process of
     the group once it is stable (two samples 1 s apart within 1 %): "before";
  2. N connections, opened in batches (each batch's exchanges all done before the next starts,
     so that no listen backlog overflows), each doing one exchange and then staying open, idle:
       * --mode http: `GET / HTTP/1.1` (keep-alive), the full response read (Content-Length);
       * --mode ws: a WebSocket handshake (RFC 6455, no extensions), one text message sent and
         its echo read; pings the server sends later are answered;
  3. the RSS once it is stable again: "after"; then the process of the group that holds the
     server's side of the connections (from /proc/net/tcp and /proc/PID/fd): the serving
     process, whose before and after are the figures (granian's master holds none of them);
  4. every connection must still be open (none closed by the server, none refused).
Every phase has a time limit; a phase that overruns, or a server that refuses, answers wrongly
or closes connections, ends the client with status 1 and one line saying which.

Prints one tab-separated line on stdout: the serving process's RSS before and after (KiB), the
whole group's before and after (KiB), its pid, its name and place in the group, and the
group's process count; the progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import resource
import sys
import time

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MESSAGE = b"hello, idle"  # the one text message of each WebSocket


class Failure(Exception):
    """What went wrong, for the one line the client ends with."""


def log(text: str) -> None:
    print(f"memory_client: {text}", file=sys.stderr, flush=True)


# --- the connections ------------------------------------------------------------------------
class Stats:
    def __init__(self) -> None:
        self.lost = 0  # connections that ended after their exchange
        self.unexpected = 0  # bytes an idle HTTP connection received
        self.pongs = 0  # server pings answered
        self.late_error = ""  # the first error of an idle connection


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (RFC 6455 §5.2): FIN, OPCODE, masked PAYLOAD of at most 125 bytes."""
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + body


class Connection(asyncio.Protocol):
    """One connection: its exchange, then idle. `done` resolves when the exchange is over."""

    def __init__(self, mode: str, host: str, stats: Stats, done: asyncio.Future) -> None:
        self.mode, self.host, self.stats, self.done = mode, host, stats, done
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.state = "head"  # head, body (http), frames (ws), idle
        self.body_left = 0
        self.key = base64.b64encode(os.urandom(16))

    # asyncio's callbacks
    def connection_made(self, transport) -> None:
        self.transport = transport
        if self.mode == "http":
            transport.write(b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % self.host.encode())
        else:
            transport.write(b"GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                            b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                            b"Sec-WebSocket-Version: 13\r\n\r\n" % (self.host.encode(), self.key))

    def data_received(self, data: bytes) -> None:
        if self.state == "idle" and self.mode == "http":
            self.stats.unexpected += len(data)
            return
        self.buffer += data
        try:
            self.advance()
        except Failure as error:
            self.fail(str(error))

    def connection_lost(self, exc) -> None:
        if self.done.done():
            self.stats.lost += 1
        else:
            self.done.set_exception(Failure(f"the server closed a connection during its exchange"
                                            f" ({exc or 'EOF'}; state {self.state})"))

    # the exchange
    def fail(self, reason: str) -> None:
        if not self.done.done():
            self.done.set_exception(Failure(reason))
        elif not self.stats.late_error:
            self.stats.late_error = reason
        if self.transport:
            self.transport.abort()

    def finish(self) -> None:
        self.state = "idle"
        if not self.done.done():
            self.done.set_result(None)

    def advance(self) -> None:
        if self.state == "head":
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > 16384:
                    raise Failure("a response head over 16 KiB")
                return
            head, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4:]
            status_line, *lines = head.split("\r\n")
            fields = {}
            for line in lines:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            status = status_line.split(" ", 2)[1] if status_line.count(" ") else "?"
            if self.mode == "http":
                if status != "200":
                    raise Failure(f"GET / answered {status_line!r}")
                if "close" in fields.get("connection", "").lower():
                    raise Failure("the server answered Connection: close (no keep-alive)")
                if "content-length" not in fields:
                    raise Failure("a response without Content-Length")
                self.body_left = int(fields["content-length"])
                self.state = "body"
            else:
                if status != "101":
                    raise Failure(f"the WebSocket handshake was answered {status_line!r}")
                accept = base64.b64encode(hashlib.sha1(self.key + WS_GUID).digest()).decode()
                if fields.get("sec-websocket-accept") != accept:
                    raise Failure("a wrong Sec-WebSocket-Accept")
                self.transport.write(masked_frame(0x1, MESSAGE))
                self.state = "frames"
        if self.state == "body":
            if len(self.buffer) >= self.body_left:
                if len(self.buffer) > self.body_left:
                    raise Failure("more bytes than Content-Length")
                self.buffer = b""
                self.finish()
            return
        self.read_frames()

    def read_frames(self) -> None:
        """Server frames (unmasked): the echo ends the exchange, a ping gets its pong."""
        while len(self.buffer) >= 2:
            opcode, size = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            start = 2
            if size == 126:
                start, size = 4, int.from_bytes(self.buffer[2:4], "big")
            elif size == 127:
                start, size = 10, int.from_bytes(self.buffer[2:10], "big")
            if self.buffer[1] & 0x80:
                raise Failure("a masked frame from the server")
            if len(self.buffer) < start + size:
                return
            payload, self.buffer = self.buffer[start:start + size], self.buffer[start + size:]
            if opcode == 0x9:
                self.transport.write(masked_frame(0xA, payload))
                self.stats.pongs += 1
            elif opcode == 0x8:
                code, reason = payload[:2].hex(), payload[2:]
                raise Failure(f"the server closed a WebSocket (code {code}, {reason!r})")
            elif opcode == 0x1 and self.state == "frames":
                if payload != MESSAGE:
                    raise Failure(f"the echo was {payload!r}, not {MESSAGE!r}")
                self.finish()
            elif opcode != 0xA:
                raise Failure(f"an unexpected frame (opcode {opcode})")


# --- the server's processes -----------------------------------------------------------------
def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5, pgrp
            pids.append(int(entry))
    return sorted(pids)


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_name(pid: int, pgid: int) -> str:
    """Its name, and where it sits in the group ("granian, a child of 1234")."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return "?"
    comm = text[text.index("(") + 1:text.rindex(")")]
    parent = text.rsplit(")", 1)[1].split()[1]
    return f"{comm}, {'the group leader' if pid == pgid else f'a child of {parent}'}"


def sample(pgid: int) -> dict[int, int]:
    return {p: rss_kib(p) for p in group_pids(pgid)}


async def settle(pgid: int, what: str, limit: float) -> dict[int, int]:
    """The group's RSS once two samples 1 s apart are within 1 % (at most LIMIT s)."""
    deadline = time.monotonic() + limit
    previous = sample(pgid)
    while True:
        await asyncio.sleep(1)
        current = sample(pgid)
        if not current:
            raise Failure(f"{what}: the server's process group {pgid} is gone")
        before, now = sum(previous.values()), sum(current.values())
        if current.keys() == previous.keys() and abs(now - before) <= 0.01 * before:
            return current
        if time.monotonic() > deadline:
            raise Failure(f"{what}: the RSS did not settle within {limit:g} s "
                          f"({before} -> {now} KiB in the last second)")
        previous = current


def holders(port: int, pids: list[int]) -> dict[int, int]:
    """pid -> how many server-side ESTABLISHED sockets on PORT it holds (its accepted ones)."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                inodes.add(fields[9])
    counts = {}
    for pid in pids:
        held = 0
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    held += 1
        except OSError:
            continue
        counts[pid] = held
    return counts


# --- the run --------------------------------------------------------------------------------
async def open_one(loop, args, stats: Stats) -> asyncio.Transport:
    done = loop.create_future()
    host = f"127.0.0.1:{args.port}"
    try:
        transport, _ = await loop.create_connection(
            lambda: Connection(args.mode, host, stats, done), "127.0.0.1", args.port)
    except OSError as error:
        raise Failure(f"connect to {host} failed: {error}") from None
    await done
    return transport


async def run(args) -> str:
    loop = asyncio.get_running_loop()
    stats = Stats()
    if not group_pids(args.pgid):
        raise Failure(f"no process in the group {args.pgid}")

    # 1. the warm-up exchange, then "before"
    try:
        warm = await asyncio.wait_for(open_one(loop, args, stats), args.phase_timeout)
    except asyncio.TimeoutError:
        raise Failure(f"the warm-up exchange took over {args.phase_timeout:g} s") from None
    warm.close()
    await asyncio.sleep(0.5)
    stats.lost = 0
    before = await settle(args.pgid, "before the connections", args.phase_timeout)
    log(f"before: {sum(before.values())} KiB in {len(before)} process(es); "
        f"opening {args.connections} connections, {args.batch} at a time")

    # 2. the connections, batch by batch
    transports = []
    started = time.monotonic()
    while len(transports) < args.connections:
        count = min(args.batch, args.connections - len(transports))
        batch = [asyncio.ensure_future(open_one(loop, args, stats)) for _ in range(count)]
        finished, pending = await asyncio.wait(batch, timeout=args.phase_timeout)
        for task in pending:
            task.cancel()
        failed = [t for t in finished if t.exception() is not None]
        for task in finished:
            if task.exception() is None:
                transports.append(task.result())
        if failed or pending:
            first = failed[0].exception() if failed else None
            raise Failure(f"after {len(transports)} connections: {len(failed)} of a batch of "
                          f"{count} failed{f' ({first})' if first else ''}, {len(pending)} did not "
                          f"finish their exchange within {args.phase_timeout:g} s")
    log(f"{len(transports)} connections open in {time.monotonic() - started:.1f} s")

    # 3. "after", and which process holds them
    after = await settle(args.pgid, "after the connections", args.phase_timeout)
    counts = holders(args.port, sorted(after))
    serving = max(counts, key=lambda p: counts[p]) if counts else 0
    if stats.lost or stats.unexpected:
        raise Failure(f"{stats.lost} of the {args.connections} idle connections were closed by "
                      f"the server (its idle timeout?) and {stats.unexpected} unexpected bytes "
                      f"arrived before the RSS was read{'; ' if stats.late_error else ''}"
                      f"{stats.late_error}")
    if not serving or counts[serving] < args.connections:
        raise Failure(f"no process of the group holds all {args.connections} connections "
                      f"(counts per pid: {counts})")
    if serving not in before:
        raise Failure(f"the serving process {serving} started after the warm-up")
    log(f"after: {sum(after.values())} KiB; pid {serving} holds {counts[serving]} connections; "
        f"{stats.pongs} pings answered; {time.monotonic() - started:.1f} s since the first")
    fields = [before[serving], after[serving], sum(before.values()), sum(after.values()),
              serving, process_name(serving, args.pgid), len(after)]
    for transport in transports:
        transport.close()
    await asyncio.sleep(0.2)
    return "\t".join(str(f) for f in fields)


def raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))  # root may
            return
        except (ValueError, OSError):
            raise Failure(f"RLIMIT_NOFILE's hard limit is {hard}, under the {needed} file "
                          f"descriptors needed (raise it: ulimit -Hn)") from None
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pgid", type=int, required=True, help="the server's process group")
    parser.add_argument("--mode", choices=("http", "ws"), required=True)
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=500,
                        help="connections opened at once (under every server's listen backlog)")
    parser.add_argument("--phase-timeout", type=float, default=30,
                        help="seconds each phase may take: a batch, settling the RSS")
    args = parser.parse_args()
    try:
        import uvloop
        new_loop = uvloop.new_event_loop
    except ImportError:
        new_loop = asyncio.new_event_loop
    try:
        raise_nofile(args.connections + 256)
        with asyncio.Runner(loop_factory=new_loop) as runner:
            print(runner.run(run(args)), flush=True)
    except Failure as error:
        print(f"memory_client: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
