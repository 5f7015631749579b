"""--static PREFIX=DIR end to end: files under DIR answer GET and HEAD under PREFIX before any
app, over HTTP/1.1 (raw sockets, curl), HTTP/2 (h2c prior knowledge and over TLS) and TLS:
every status (200, 206, 301, 304, 404, 405, 412, 416), validators, ranges and If-Range,
precompressed siblings, --static-index and --static-max-age, traversal attempts sent as raw
request targets, and a 100 MiB file checked by hash on each transport.

The site (fixture `site`): TMP/secret.txt outside the root, and under TMP/root hello.txt,
index.html, sub/index.html, sub/page.html, app.js with app.js.gz and app.js.br, and symbolic
links in and out of the root. Big files are made per test in tmp_path, never committed.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import struct
import subprocess
from pathlib import Path

import httpx
import pytest

from conftest import H2Client, server_environment
from tls_util import client_context, curl
from wire import Conn, request

MiB = 1 << 20
HELLO = b"hello world\n"
SECRET = b"TOPSECRET-do-not-serve\n"
APP_JS = b"console.log('identity');\n" * 20
APP_BR = b"BROTLI-BYTES-NOT-REALLY"
APP = "apps.environ_app:app"  # an app at "/", behind the static prefix


@pytest.fixture
def site(tmp_path) -> Path:
    (tmp_path / "secret.txt").write_bytes(SECRET)
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "hello.txt").write_bytes(HELLO)
    (root / "index.html").write_bytes(b"<h1>home</h1>\n")
    (root / "sub" / "index.html").write_bytes(b"<p>sub index</p>\n")
    (root / "sub" / "page.html").write_bytes(b"<p>page</p>\n")
    (root / "app.js").write_bytes(APP_JS)
    (root / "app.js.gz").write_bytes(gzip.compress(APP_JS))
    (root / "app.js.br").write_bytes(APP_BR)
    os.symlink("hello.txt", root / "link_in")
    os.symlink("/etc", root / "link_etc")
    os.symlink("/etc/passwd", root / "link_passwd")
    os.symlink("..", root / "link_up")
    os.symlink("../secret.txt", root / "link_secret")
    return root


@pytest.fixture
def static_server(start_app, site):
    """junction with the site at /s, an app at "/", an index file and a max-age."""
    return start_app(APP, extra=["--static", f"/s={site}", "--static-index", "index.html",
                                 "--static-max-age", "3600"])


def get(server, target: str, *, method: str = "GET", headers=()):
    """One request on a fresh connection, the target sent exactly as given."""
    with Conn(server.address) as c:
        return c.roundtrip(request(method, target, headers=headers),
                           head_request=method == "HEAD")


def big_file(directory: Path, size: int) -> str:
    """Writes `size` pseudo-random bytes to directory/big.bin; returns their sha256."""
    digest = hashlib.sha256()
    block = hashlib.sha256(b"seed").digest() * (MiB // 32)
    with open(directory / "big.bin", "wb") as f:
        written = 0
        while written < size:
            piece = block[: size - written]
            # Each MiB differs, so a piece sent twice or skipped changes the hash.
            piece = written.to_bytes(8, "big") + piece[8:] if len(piece) >= 8 else piece
            f.write(piece)
            digest.update(piece)
            written += len(piece)
    return digest.hexdigest()


def curl_sha256(*args: str, out: Path) -> str:
    result = curl("--fail", "-o", str(out), *args)
    assert result.returncode == 0, result.stderr
    return hashlib.sha256(out.read_bytes()).hexdigest()


def no_problems_logged(server) -> None:
    lines = [x for x in server.stderr.snapshot() if "[error]" in x or "[warning]" in x]
    assert not lines, lines


# --- statuses and headers ---------------------------------------------------------------------

def test_get_and_head_carry_type_length_and_validators(static_server):
    """A file answers 200 with its type, length (never chunked), ETag, Last-Modified,
    Accept-Ranges and Cache-Control; HEAD tells the same and sends no body, on one
    kept-alive connection."""
    with Conn(static_server.address) as c:
        r = c.roundtrip(request("GET", "/s/hello.txt?v=1"))
        h = c.roundtrip(request("HEAD", "/s/hello.txt"), head_request=True)
        again = c.roundtrip(request("GET", "/s/hello.txt"))
    assert r.status == 200 and r.body == HELLO and not r.chunked
    assert r.header("content-type") == "text/plain; charset=utf-8"
    assert r.header("content-length") == str(len(HELLO))
    assert r.header("etag").startswith('"') and r.header("last-modified").endswith(" GMT")
    assert r.header("accept-ranges") == "bytes"
    assert r.header("cache-control") == "public, max-age=3600"
    assert r.header("vary") is None
    assert h.status == 200 and h.body == b""
    assert h.header("content-length") == str(len(HELLO))
    assert h.header("etag") == r.header("etag")
    assert again.body == HELLO


def test_missing_files_404_and_other_methods_405(static_server):
    """An absent file is 404 from the static server (not the app behind it); POST, PUT and
    DELETE are 405 with Allow: GET, HEAD."""
    r = get(static_server, "/s/missing.txt")
    assert r.status == 404 and b"environ" not in r.body
    for method in ("POST", "PUT", "DELETE"):
        r = get(static_server, "/s/hello.txt", method=method)
        assert r.status == 405, method
        assert r.header("allow") == "GET, HEAD"


def test_static_prefix_comes_before_the_app_at_root(static_server):
    """The app mounted at "/" answers everything but whole segments under /s."""
    assert get(static_server, "/s/hello.txt").body == HELLO
    app = get(static_server, "/other")
    assert app.status == 200 and b"environ" in app.body
    assert b"environ" in get(static_server, "/sx/hello.txt").body  # not under /s
    assert b"environ" in get(static_server, "/static/hello.txt").body


def test_conditional_requests_304_and_412(static_server):
    """If-None-Match (list, weak, *) and If-Modified-Since give 304 with the validators and
    no body; If-None-Match wins over If-Modified-Since; If-Match mismatch gives 412."""
    first = get(static_server, "/s/hello.txt")
    etag, modified = first.header("etag"), first.header("last-modified")
    for headers in ([("If-None-Match", etag)], [("If-None-Match", f'"x", W/{etag}')],
                    [("If-None-Match", "*")], [("If-Modified-Since", modified)]):
        r = get(static_server, "/s/hello.txt", headers=headers)
        assert r.status == 304, headers
        assert r.body == b"" and r.header("etag") == etag
        assert r.header("cache-control") == "public, max-age=3600"
    assert get(static_server, "/s/hello.txt",
               headers=[("If-None-Match", '"stale"'),
                        ("If-Modified-Since", modified)]).status == 200
    assert get(static_server, "/s/hello.txt",
               headers=[("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")]).status == 200
    assert get(static_server, "/s/hello.txt", headers=[("If-Match", '"stale"')]).status == 412


def test_ranges_206_416_and_if_range(static_server, tmp_path):
    """One range is 206 with Content-Range (curl -r too); past the end is 416 with
    bytes */SIZE; several ranges give the whole file; If-Range with the current ETag or date
    lets the range through, a stale one gives the whole file."""
    r = get(static_server, "/s/hello.txt", headers=[("Range", "bytes=0-4")])
    assert r.status == 206 and r.body == b"hello"
    assert r.header("content-range") == "bytes 0-4/12" and r.header("content-length") == "5"
    assert get(static_server, "/s/hello.txt", headers=[("Range", "bytes=-6")]).body == b"world\n"
    r = get(static_server, "/s/hello.txt", headers=[("Range", "bytes=50-")])
    assert r.status == 416 and r.header("content-range") == "bytes */12"
    r = get(static_server, "/s/hello.txt", headers=[("Range", "bytes=0-1,4-5")])
    assert r.status == 200 and r.body == HELLO
    etag = r.header("etag")
    modified = r.header("last-modified")
    for if_range, status in ((etag, 206), (modified, 206), ('"stale"', 200),
                             ("Sun, 06 Nov 1994 08:49:37 GMT", 200)):
        r = get(static_server, "/s/hello.txt",
                headers=[("Range", "bytes=0-4"), ("If-Range", if_range)])
        assert r.status == status, if_range
    # curl -r over a larger file
    data = bytes(range(256)) * 4
    (tmp_path / "root" / "bytes.bin").write_bytes(data)
    out = tmp_path / "part"
    result = curl("-r", "0-99", "-o", str(out), "-w", "%{http_code}",
                  f"{static_server.base_url}/s/bytes.bin")
    assert result.stdout == "206" and out.read_bytes() == data[:100]
    result = curl("-r", "1000-", "-o", str(out), "-w", "%{http_code}",
                  f"{static_server.base_url}/s/bytes.bin")
    assert result.stdout == "206" and out.read_bytes() == data[1000:]


def test_precompressed_siblings_by_accept_encoding(static_server):
    """br is preferred, then gzip, each with Content-Encoding and the original's type; no
    Accept-Encoding gets the file itself (and no Vary: it is good for every client); every
    answer to a request with Accept-Encoding for a file with siblings says Vary; a range
    applies to the representation served."""
    r = get(static_server, "/s/app.js", headers=[("Accept-Encoding", "gzip, deflate, br")])
    assert r.status == 200 and r.body == APP_BR
    assert r.header("content-encoding") == "br"
    assert r.header("content-type") == "text/javascript; charset=utf-8"
    assert r.header("vary") == "Accept-Encoding"
    r = get(static_server, "/s/app.js", headers=[("Accept-Encoding", "gzip")])
    assert r.header("content-encoding") == "gzip" and gzip.decompress(r.body) == APP_JS
    r = get(static_server, "/s/app.js")
    assert r.body == APP_JS and r.header("content-encoding") is None
    assert r.header("vary") is None
    r = get(static_server, "/s/app.js", headers=[("Accept-Encoding", "identity")])
    assert r.body == APP_JS and r.header("vary") == "Accept-Encoding"
    r = get(static_server, "/s/app.js", headers=[("Accept-Encoding", "br"), ("Range", "bytes=0-5")])
    assert r.status == 206 and r.body == APP_BR[:6]
    assert r.header("content-range") == f"bytes 0-5/{len(APP_BR)}"
    # httpx asks for gzip and decodes it
    with httpx.Client(base_url=static_server.base_url, timeout=10) as client:
        response = client.get("/s/app.js", headers={"Accept-Encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip" and response.content == APP_JS


def test_index_file_and_directory_redirect(static_server):
    """With --static-index, DIR/ serves DIR/index.html and DIR redirects (301) to DIR/; a
    directory without one is 404."""
    assert get(static_server, "/s/").body == b"<h1>home</h1>\n"
    r = get(static_server, "/s/sub/")
    assert r.status == 200 and r.body == b"<p>sub index</p>\n"
    assert r.header("content-type") == "text/html; charset=utf-8"
    r = get(static_server, "/s/sub?a=1")
    assert r.status == 301 and r.header("location") == "/s/sub/?a=1"
    assert get(static_server, "/s").header("location") == "/s/"
    assert get(static_server, "/s/empty/").status == 404


def test_without_index_directories_404_and_no_cache_control(start_app, site):
    """Without --static-index a directory is 404, and without --static-max-age no
    Cache-Control is sent."""
    server = start_app(APP, extra=["--static", f"/s={site}"])
    assert get(server, "/s/").status == 404
    assert get(server, "/s/sub").status == 404
    r = get(server, "/s/hello.txt")
    assert r.status == 200 and r.header("cache-control") is None


TRAVERSALS = [
    "/s/../secret.txt", "/s/%2e%2e/secret.txt", "/s/%2E%2E/secret.txt", "/s/..%2fsecret.txt",
    "/s/%2e%2e%2fsecret.txt", "/s/sub/%2e%2e/%2e%2e/secret.txt", "/s/sub/../../secret.txt",
    "/s/hello.txt%00.html", "/s/..\\secret.txt", "/s/%5c..%5csecret.txt",
    "/s/..%5csecret.txt", "/s/link_etc/passwd", "/s/link_passwd", "/s/link_up/secret.txt",
    "/s/link_secret", "/s//etc/passwd", "/s/./hello.txt", "/s/%2e/hello.txt",
    "/s/sub/./page.html", "/s/sub%2fpage.html", "/s/%2e%2e", "/s/..", "/s/hello.txt/",
    "/s/%c0%ae%c0%ae/secret.txt", "/s/....//secret.txt",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_targets_sent_raw_get_nothing_outside(static_server, target):
    """Each target goes on the wire byte for byte (no client normalises it): the answer is a
    refusal (404, or 400 from the parser) and never a file from outside the root."""
    with Conn(static_server.address) as c:
        c.send(f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
               .encode("latin-1"))
        try:
            r = c.read_response()
        except EOFError:
            return  # refused at the parser, connection closed
    assert r.status in (400, 404), (target, r.status, r.body[:200])
    assert SECRET not in r.body and b"root:" not in r.body


def test_symlink_inside_root_and_encoded_names_are_served(static_server):
    """A link that stays in the root, and a name with an encoded letter or dot, are files."""
    assert get(static_server, "/s/link_in").body == HELLO
    assert get(static_server, "/s/%68ello%2etxt").body == HELLO


# --- large files on every transport -----------------------------------------------------------

def test_100mib_over_http1_by_sendfile(start_app, site, tmp_path):
    """A 100 MiB file arrives whole over plain HTTP/1.1 (sendfile), checked by hash on a raw
    socket and with curl; a range from its middle too; memory stays bounded."""
    digest = big_file(site, 100 * MiB)
    server = start_app(APP, extra=["--static", f"/s={site}", "--no-access-log"])
    with Conn(server.address, timeout=30) as c:
        h = hashlib.sha256()
        r = c.roundtrip(request("GET", "/s/big.bin"), sink=h.update)
        assert r.status == 200 and not r.chunked
        assert r.header("content-length") == str(100 * MiB)
        assert h.hexdigest() == digest
        # the connection carries on
        assert c.roundtrip(request("GET", "/s/hello.txt")).body == HELLO
    assert curl_sha256(f"{server.base_url}/s/big.bin", out=tmp_path / "out.bin") == digest
    with open(site / "big.bin", "rb") as f:
        f.seek(50 * MiB)
        middle = f.read(MiB)
    r = get(server, "/s/big.bin", headers=[("Range", f"bytes={50 * MiB}-{51 * MiB - 1}")])
    assert r.status == 206 and r.body == middle
    rss = vm_rss_kib(server.proc.pid)
    assert rss < 200 * 1024, f"RSS {rss} KiB after serving 100 MiB"
    no_problems_logged(server)


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_100mib_over_h2c_and_tls(start_app, start_tls, tls_pki, site, tmp_path):
    """Over HTTP/2 (h2c prior knowledge) and over TLS with HTTP/1.1 and HTTP/2, where
    sendfile is not available, the file leaves in bounded pieces and arrives whole."""
    digest = big_file(site, 100 * MiB)
    plain = start_app(APP, extra=["--static", f"/s={site}", "--no-access-log"])
    out = tmp_path / "out.bin"
    assert curl_sha256("--http2-prior-knowledge", f"{plain.base_url}/s/big.bin",
                       out=out) == digest
    tls = start_tls(extra=["--static", f"/s={site}", "--no-access-log"])
    url = f"https://localhost:{tls.port}/s/big.bin"
    resolve = f"localhost:{tls.port}:127.0.0.1"
    for version in ("--http1.1", "--http2"):
        assert curl_sha256(version, "--cacert", str(tls_pki.ca_cert), "--resolve", resolve,
                           url, out=out) == digest, version
    no_problems_logged(plain)
    no_problems_logged(tls)


def test_http2_statuses_and_tls_httpx(start_tls, tls_pki, site, h2client, start_app):
    """The same answers over HTTP/2: 200 with Content-Length, HEAD, 206, 304, 404, 405; and
    httpx over TLS with HTTP/2."""
    plain = start_app(APP, extra=["--static", f"/s={site}"])
    c = h2client(plain.address)
    r = c.get("/s/hello.txt")
    fields = dict(r["headers"])
    assert r["status"] == 200 and bytes(r["data"]) == HELLO
    assert fields["content-length"] == "12" and fields["accept-ranges"] == "bytes"
    r = c.response(c.request("HEAD", "/s/hello.txt"))
    assert r["status"] == 200 and bytes(r["data"]) == b""
    assert dict(r["headers"])["content-length"] == "12"
    r = c.get("/s/hello.txt", headers=[("range", "bytes=6-")])
    assert r["status"] == 206 and bytes(r["data"]) == b"world\n"
    r = c.get("/s/hello.txt", headers=[("if-none-match", fields["etag"])])
    assert r["status"] == 304 and bytes(r["data"]) == b""
    assert c.get("/s/missing")["status"] == 404
    assert c.response(c.request("DELETE", "/s/hello.txt"))["status"] == 405

    tls = start_tls(extra=["--static", f"/s={site}"])
    ctx = client_context(tls_pki)
    with httpx.Client(http2=True, verify=ctx, timeout=10) as client:
        response = client.get(f"https://localhost:{tls.port}/s/app.js",
                              headers={"Accept-Encoding": "gzip"})
        assert response.http_version == "HTTP/2"
        assert response.headers["content-encoding"] == "gzip" and response.content == APP_JS
        response = client.get(f"https://localhost:{tls.port}/s/hello.txt",
                              headers={"Range": "bytes=0-4"})
        assert response.status_code == 206 and response.content == b"hello"


def test_client_that_leaves_mid_file_is_not_an_error(start_app, site):
    """A client that reads part of a large file and goes away leaves no error or warning in
    the log, and the server goes on serving (plain sendfile and h2c pieces alike)."""
    big_file(site, 64 * MiB)
    server = start_app(APP, extra=["--static", f"/s={site}"])
    for _ in range(3):
        with Conn(server.address) as c:
            c.send(request("GET", "/s/big.bin"))
            c.read_head()
            c.read_exact(MiB)
            # a reset rather than a polite close, as a client killed mid-download does
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    for _ in range(3):
        c = H2Client(server.address)
        sid = c.request("GET", "/s/big.bin")
        c.pump(lambda: len(c.responses[sid]["data"]) >= MiB, timeout=10)
        assert len(c.responses[sid]["data"]) >= MiB
        c.close()
    assert get(server, "/s/hello.txt").body == HELLO
    no_problems_logged(server)


def test_bad_static_directory_fails_fast(binary, tmp_path):
    """A --static directory that does not exist stops the server at start-up with one line
    that names it, and a non-zero exit."""
    missing = tmp_path / "nope"
    result = subprocess.run([str(binary), "--bind", "127.0.0.1:0", "--static", f"/s={missing}",
                             "--pythonpath", str(Path(__file__).parent), APP],
                            capture_output=True, text=True, timeout=20, env=server_environment())
    assert result.returncode == 2, result
    assert result.stderr.strip().splitlines() == [
        f"junction: --static: '{missing}' is not a directory"]
