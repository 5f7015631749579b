"""Writes the fuzz targets' seed corpora into tests/fuzz/corpus/TARGET/ (committed; run by hand
after the suite's requests or h2spec change):

    .venv/bin/python tests/fuzz/make_seeds.py [--h2spec]

- http1_fuzz: every HTTP/1.1 request the end-to-end suite writes as a constant (bytes literals
  and wire.request(...) calls with constant arguments, found with `ast`), and requests for the
  fuzz server's own apps: bodies of every framing, pipelining, Expect, an h2c upgrade, the
  HTTP/2 preface, a WebSocket session with masked frames.
- http2_fuzz: request sequences built with the `h2` library and, with --h2spec, what h2spec's
  client sends on each of its connections (recorded by a proxy in front of a junction started
  here with --http 2), without the preface the target sends itself.
- tls_fuzz: some of the above as application data (mode 1, with and without h2 in ALPN),
  garbage after the handshake (mode 0), and ClientHellos from Python's ssl module (mode 2).
- proxy_header_fuzz: PROXY v1 lines and v2 blocks (TCP4, TCP6, UNIX, LOCAL, TLVs).
- config_file_fuzz: the examples' configuration files and every TOML text the end-to-end tests
  write as a constant.

Each seed's first byte is the target's selector (fuzz_server.hpp: the read size; tls_fuzz.cpp:
the mode). File names are the SHA-1 of the contents, as libFuzzer names what it keeps.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import h2.config
import h2.connection

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
E2E = ROOT / "tests" / "e2e"
sys.path.insert(0, str(E2E))
from wire import chunked, request  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_LEN = {"http1_fuzz": 16384, "http2_fuzz": 16384, "tls_fuzz": 16384,
           "proxy_header_fuzz": 4200, "config_file_fuzz": 8192}


def write(target: str, seeds: list[bytes]) -> None:
    folder = HERE / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    kept = {s for s in seeds if 0 < len(s) <= MAX_LEN[target]}
    for seed in kept:
        (folder / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    print(f"{target}: {len(kept)} seeds")


# --- HTTP/1.1 --------------------------------------------------------------------------------

def suite_requests() -> list[bytes]:
    """Requests the end-to-end tests write as constants."""
    found = []
    for path in sorted(E2E.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, bytes):
                if b" HTTP/1." in node.value[:300] and node.value[:1].isupper():
                    found.append(node.value)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id == "request"):
                try:
                    args = [ast.literal_eval(a) for a in node.args]
                    kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
                    if len(kwargs) == len(node.keywords):
                        found.append(request(*args, **kwargs))
                except (ValueError, TypeError, SyntaxError):
                    pass  # an argument that is not a constant
    return found


def websocket_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    mask = b"\x11\x22\x33\x44"
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def own_requests() -> list[bytes]:
    """Requests for the fuzz server's apps (/echo, /big, /stream, /sink, /ws, /h)."""
    body = b"hello fuzz"
    ws_head = request("GET", "/ws", headers=[
        ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")])
    h2c_head = request("GET", "/echo", headers=[
        ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
        ("HTTP2-Settings", "AAMAAABkAAQCAAAA")])
    return [
        request("GET", "/h"),
        request("HEAD", "/h"),
        request("GET", "/echo"),
        request("POST", "/echo", body=body),
        request("POST", "/sink", body=body * 20),
        request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")], body=b"")
        + chunked(b"abc", b"defgh"),
        request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")])
        + b"3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n",
        request("POST", "/echo", headers=[("Expect", "100-continue")], body=body),
        request("GET", "/stream", headers=[("TE", "trailers")]),
        request("GET", "/big"),
        request("GET", "/echo") + request("POST", "/echo", body=body) + request("GET", "/h"),
        request("GET", "/echo", version="HTTP/1.0", host=None),
        request("GET", "/echo", headers=[("Connection", "close")]),
        request("OPTIONS", "*"),
        request("CONNECT", "example.com:443"),
        h2c_head,
        PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00",
        ws_head + websocket_frame(1, b"hello") + websocket_frame(2, bytes(range(200)))
        + websocket_frame(9, b"ping") + websocket_frame(1, b"close")
        + websocket_frame(8, b"\x03\xe8bye"),
        ws_head + websocket_frame(1, b"frag", fin=False) + websocket_frame(0, b"ment"),
        request("POST", "/echo", headers=[("Content-Length", "5"), ("Content-Length", "6")]),
        request("POST", "/echo", headers=[("Transfer-Encoding", "chunked"),
                                          ("Content-Length", "3")]) + b"0\r\n\r\n",
        request("GET", "/" + "a" * 600),
        request("GET", "/echo", headers=[(f"X-{i}", "v") for i in range(25)]),
    ]


def http1_seeds() -> list[bytes]:
    requests = suite_requests() + own_requests()
    seeds = [b"\x00" + r for r in requests]
    seeds += [b"\x01" + r for r in own_requests()[:6]]  # one byte per read
    return seeds


# --- HTTP/2 ----------------------------------------------------------------------------------

def h2_client_bytes(build) -> bytes:
    """What an `h2` client sends for `build(conn)`, without its preface."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    build(conn)
    data = conn.data_to_send()
    return data[len(PREFACE):] if data.startswith(PREFACE) else data


def h2_request(conn, sid: int, method: str, path: str, body: bytes = b"", extra=()) -> None:
    headers = [(":method", method), (":scheme", "http"), (":path", path),
               (":authority", "localhost"), *extra]
    conn.send_headers(sid, headers, end_stream=not body)
    if body:
        conn.send_data(sid, body, end_stream=True)


def h2_generated() -> list[bytes]:
    def get(conn):
        h2_request(conn, 1, "GET", "/echo")

    def post(conn):
        h2_request(conn, 1, "POST", "/echo", b"x" * 3000, [("content-length", "3000")])

    def many(conn):
        for i, path in enumerate(["/h", "/echo", "/big", "/stream", "/sink"]):
            h2_request(conn, 1 + 2 * i, "GET" if path != "/sink" else "POST", path,
                       b"body" if path == "/sink" else b"")

    def reset(conn):
        h2_request(conn, 1, "GET", "/big")
        conn.reset_stream(1)
        conn.ping(b"12345678")

    def window(conn):
        conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 10})
        h2_request(conn, 1, "GET", "/big")
        conn.increment_flow_control_window(100000)
        conn.increment_flow_control_window(100000, stream_id=1)

    def trailers(conn):
        conn.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/echo"),
                              (":authority", "localhost"), ("te", "trailers")])
        conn.send_data(1, b"abc")
        conn.send_headers(1, [("x-trailer", "t")], end_stream=True)

    def goaway(conn):
        h2_request(conn, 1, "GET", "/stream")
        conn.close_connection()

    import h2.settings  # noqa: F401  (used by window)
    return [h2_client_bytes(b) for b in (get, post, many, reset, window, trailers, goaway)]


class Recorder:
    """A TCP proxy to `upstream` that keeps what each client connection sent."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent: list[bytearray] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            record = bytearray()
            self.sent.append(record)
            threading.Thread(target=self._pipe, args=(client, server, record), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, None), daemon=True).start()

    @staticmethod
    def _pipe(src, dst, record):
        try:
            while data := src.recv(65536):
                if record is not None:
                    record += data
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def h2spec_recorded() -> list[bytes]:
    """Each h2spec connection's client bytes, recorded against a junction with --http 2."""
    h2spec = ROOT / ".tools" / "h2spec"
    junction = ROOT / ".venv" / "bin" / "junction"
    proc = subprocess.Popen([str(junction), "--bind", "127.0.0.1:0", "--http", "2",
                             "--health-path", "/", "--no-access-log"],
                            stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for line in proc.stderr:
            if "Listening on http://" in line:
                port = int(line.rsplit(":", 1)[1])
                break
        recorder = Recorder(("127.0.0.1", port))
        subprocess.run([str(h2spec), "-h", "127.0.0.1", "-p", str(recorder.port), "-o", "2"],
                       stdout=subprocess.DEVNULL, timeout=300, check=False)
        time.sleep(0.5)
        return [bytes(r[len(PREFACE):]) for r in recorder.sent if r.startswith(PREFACE)]
    finally:
        proc.terminate()
        proc.wait(10)


# --- TLS -------------------------------------------------------------------------------------

def client_hellos() -> list[bytes]:
    hellos = []
    for alpn in (["h2", "http/1.1"], ["http/1.1"], None):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.maximum_version = version
            if alpn:
                ctx.set_alpn_protocols(alpn)
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
            hellos.append(outgoing.read())
    return hellos


def tls_seeds(http1: list[bytes], http2: list[bytes]) -> list[bytes]:
    seeds = [b"\x01" + s[1:] for s in http1[:60]]           # HTTP/1.1 over TLS
    seeds += [b"\x05" + PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" + s[1:]
              for s in http2[:20]]                            # h2 settled by ALPN
    seeds += [b"\x00" + bytes(range(256)), b"\x00\x15\x03\x03\x00\x02\x02\x28",
              b"\x00\x17\x03\x03\x00\x20" + b"\x00" * 32]     # garbage, an alert, a record
    seeds += [b"\x02" + h for h in client_hellos()]
    seeds += [b"\x02" + request("GET", "/h")]                 # plain HTTP on a TLS port
    return seeds


# --- PROXY header ----------------------------------------------------------------------------

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v2(command: int, family: int, addresses: bytes, tlvs: bytes = b"") -> bytes:
    body = addresses + tlvs
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


def tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + struct.pack("!H", len(value)) + value


def proxy_seeds() -> list[bytes]:
    v4 = socket.inet_aton("192.0.2.1") + socket.inet_aton("198.51.100.2") + struct.pack("!HH", 56324, 443)
    v6 = (socket.inet_pton(socket.AF_INET6, "2001:db8::1") + socket.inet_pton(socket.AF_INET6, "::1")
          + struct.pack("!HH", 56324, 443))
    unix = b"/run/client.sock".ljust(108, b"\x00") + b"/run/server.sock".ljust(108, b"\x00")
    ssl_tlv = tlv(0x20, b"\x01\x00\x00\x00\x00" + tlv(0x21, b"TLSv1.3") + tlv(0x22, b"CN=client"))
    return [
        b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n\r\n",
        b"PROXY TCP6 2001:db8::1 ::1 56324 443\r\n",
        b"PROXY UNKNOWN\r\n",
        b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n",
        proxy_v2(1, 0x11, v4),
        proxy_v2(1, 0x21, v6),
        proxy_v2(1, 0x31, unix),
        proxy_v2(0, 0x00, b""),
        proxy_v2(1, 0x12, v4),
        proxy_v2(1, 0x11, v4, tlv(0x01, b"h2") + tlv(0x02, b"example.com") + ssl_tlv
                 + tlv(0x05, b"id-" + b"u" * 125) + tlv(0x04, b"")),
    ]


# --- Configuration files ---------------------------------------------------------------------

def config_seeds() -> list[bytes]:
    texts = [p.read_text(encoding="utf-8") for p in sorted(ROOT.glob("examples/**/*.toml"))]
    for path in sorted(E2E.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if any(mark in text for mark in ("[apps.", "[[routes]]", "[[listen]]")) or (
                        "\n" in text and " = " in text and "workers" in text):
                    texts.append(textwrap.dedent(text))
    return [t.encode("utf-8") for t in texts]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--h2spec", action="store_true",
                        help="also record h2spec's connections (needs .tools/h2spec and .venv)")
    args = parser.parse_args()
    http1 = http1_seeds()
    write("http1_fuzz", http1)
    http2 = [b"\x00" + s for s in h2_generated()]
    if args.h2spec:
        http2 += [b"\x00" + s for s in h2spec_recorded()]
    else:  # keep what an earlier run recorded
        folder = HERE / "corpus" / "http2_fuzz"
        http2 += [p.read_bytes() for p in sorted(folder.glob("*"))] if folder.exists() else []
    write("http2_fuzz", http2)
    write("tls_fuzz", tls_seeds(http1, sorted(http2, key=len)))
    write("proxy_header_fuzz", proxy_seeds())
    write("config_file_fuzz", config_seeds())
    return 0


if __name__ == "__main__":
    sys.exit(main())
