"""A tiny HTTP/1.1 client over raw sockets, for tests that need to see the bytes on the wire.

Real clients (curl, httpx) normalise too much: they refuse to send malformed requests, hide
`100 Continue`, and reuse or drop connections on their own. `Conn` sends exactly the bytes a
test gives it and parses responses strictly, so a test can assert on framing, on the order of
pipelined responses, and on whether the server closed the connection.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from typing import Callable, Optional

CRLF = b"\r\n"
MAX_HEAD = 1 << 20


class ProtocolError(AssertionError):
    """The server sent something that is not a well-formed HTTP/1.1 response."""


@dataclasses.dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]  # (lower-cased name, value), in order, duplicates kept
    body: bytes = b""
    chunked: bool = False

    def header(self, name: str) -> Optional[str]:
        """The value of a header that must appear at most once (None when absent)."""
        values = self.header_all(name)
        if len(values) > 1:
            raise ProtocolError(f"header {name!r} appears {len(values)} times: {values}")
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def has_token(self, name: str, token: str) -> bool:
        """Whether a comma-separated header such as Connection lists `token`."""
        token = token.lower()
        return any(
            part.strip().lower() == token for v in self.header_all(name) for part in v.split(",")
        )


def request(
    method: str = "GET",
    target: str = "/healthz",
    *,
    version: str = "HTTP/1.1",
    host: Optional[str] = "localhost",
    headers: tuple[tuple[str, str], ...] | list[tuple[str, str]] = (),
    body: bytes = b"",
    content_length: bool = True,
) -> bytes:
    """Build the bytes of one request; adds Host and (for a body) Content-Length."""
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in headers]
    if body and content_length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*chunks: bytes) -> bytes:
    """Encode chunks in the chunked transfer coding, with the last-chunk."""
    out = bytearray()
    for c in chunks:
        if c:
            out += b"%x\r\n" % len(c) + c + CRLF
    out += b"0\r\n\r\n"
    return bytes(out)


class Conn:
    """One client connection (TCP or Unix) with a read buffer and a strict response parser."""

    def __init__(self, address, *, timeout: float = 10.0, family: Optional[int] = None):
        if family is None:
            family = socket.AF_UNIX if isinstance(address, str) else (
                socket.AF_INET6 if ":" in address[0] else socket.AF_INET
            )
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.buf = bytearray()

    # -- plumbing ------------------------------------------------------------------------
    def __enter__(self) -> "Conn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def settimeout(self, timeout: float) -> None:
        self.sock.settimeout(timeout)

    @property
    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            raise EOFError("server closed the connection")
        self.buf += data

    def read_until(self, delim: bytes, limit: int = MAX_HEAD) -> bytes:
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                out = bytes(self.buf[: i + len(delim)])
                del self.buf[: i + len(delim)]
                return out
            if len(self.buf) > limit:
                raise ProtocolError(f"no {delim!r} within {limit} bytes")
            self._fill()

    def read_exact(self, n: int, sink: Optional[Callable[[bytes], None]] = None) -> bytes:
        out = bytearray()
        while n > 0:
            if not self.buf:
                self._fill()
            take = bytes(self.buf[:n])
            del self.buf[: len(take)]
            n -= len(take)
            if sink:
                sink(take)
            else:
                out += take
        return bytes(out)

    # -- responses -----------------------------------------------------------------------
    def read_head(self) -> Response:
        """Read one status line and header block (a 1xx response is returned as is)."""
        head = self.read_until(b"\r\n\r\n")
        lines = head[:-4].split(CRLF)
        try:
            version, status, reason = lines[0].decode("latin-1").split(" ", 2)
        except ValueError:
            version, status = lines[0].decode("latin-1").split(" ", 1)
            reason = ""
        if not version.startswith("HTTP/1.") or not status.isdigit() or len(status) != 3:
            raise ProtocolError(f"bad status line {lines[0]!r}")
        headers = []
        for line in lines[1:]:
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep or not name or name != name.strip():
                raise ProtocolError(f"bad header line {line!r}")
            headers.append((name.lower(), value.strip()))
        return Response(version, int(status), reason, headers)

    def read_response(
        self,
        *,
        head_request: bool = False,
        skip_informational: bool = True,
        sink: Optional[Callable[[bytes], None]] = None,
    ) -> Response:
        """Read one complete response, framing the body as RFC 9112 section 6.3 says."""
        while True:
            resp = self.read_head()
            if not (skip_informational and 100 <= resp.status < 200):
                break
        if head_request or 100 <= resp.status < 200 or resp.status in (204, 304):
            return resp
        te = resp.header_all("transfer-encoding")
        if te:
            if [t.strip().lower() for v in te for t in v.split(",")] != ["chunked"]:
                raise ProtocolError(f"unexpected Transfer-Encoding {te}")
            if resp.header_all("content-length"):
                raise ProtocolError("response has both Content-Length and Transfer-Encoding")
            resp.chunked = True
            resp.body = self._read_chunked(sink)
        elif resp.header("content-length") is not None:
            cl = resp.header("content-length")
            if not cl.isdigit():
                raise ProtocolError(f"bad Content-Length {cl!r}")
            resp.body = self.read_exact(int(cl), sink)
        else:  # delimited by close
            out = bytearray(self.buf)
            self.buf.clear()
            while True:
                data = self.sock.recv(1 << 16)
                if not data:
                    break
                out += data
            resp.body = bytes(out)
            if sink:
                sink(resp.body)
                resp.body = b""
        return resp

    def _read_chunked(self, sink) -> bytes:
        out = bytearray()
        while True:
            line = self.read_until(CRLF, 1024)[:-2]
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size line {line!r}") from None
            if size == 0:
                while self.read_until(CRLF, 1 << 16) != CRLF:  # trailers
                    pass
                return bytes(out)
            data = self.read_exact(size, sink)
            out += data
            if self.read_exact(2) != CRLF:
                raise ProtocolError("chunk not followed by CRLF")

    def roundtrip(self, data: bytes, **kw) -> Response:
        self.send(data)
        return self.read_response(**kw)

    # -- connection state ----------------------------------------------------------------
    def wait_closed(self, timeout: float = 5.0) -> bytes:
        """Wait until the server closes; return any bytes that arrived first.

        Raises AssertionError if the connection is still open after `timeout` seconds.
        A reset counts as closed.
        """
        extra = bytearray(self.buf)
        self.buf.clear()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"server did not close the connection within {timeout}s (got {bytes(extra)!r})"
                )
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 16)
            except (ConnectionResetError, BrokenPipeError):
                return bytes(extra)
            except socket.timeout:
                continue
            if not data:
                return bytes(extra)
            extra += data
            if len(extra) > MAX_HEAD:
                raise AssertionError("server kept sending instead of closing")

    def assert_open(self, quiet: float = 0.3) -> None:
        """Assert the server neither closed the connection nor sent anything for `quiet` s."""
        assert not self.buf, f"unexpected bytes {bytes(self.buf)!r}"
        old = self.sock.gettimeout()
        self.sock.settimeout(quiet)
        try:
            data = self.sock.recv(1)
        except socket.timeout:
            return
        finally:
            self.sock.settimeout(old)
        raise AssertionError(f"expected an open, quiet connection, got {data!r}")
