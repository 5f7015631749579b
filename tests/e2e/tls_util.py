"""Helpers for the TLS end-to-end tests (test_tls_*.py): a throw-away PKI made with the `openssl`
command line, client-side TLS connections, and `openssl s_client` runs.

The PKI (`make_pki(dir)`, the session fixture `tls_pki` in conftest.py):

  ca            "CN=Junction Test CA,O=Junction Test"  signs everything below except `rogue_*`
  server        RSA 2048, SAN DNS:localhost, IP:127.0.0.1          (the default pair)
  other         ECDSA P-256, SAN DNS:*.example.test, DNS:other.test (the SNI pair)
  client        ECDSA P-256, "CN=client,O=Junction Test", clientAuth
  rogue_ca      "CN=Rogue CA,O=Rogue" and its client "CN=rogue,O=Rogue" (not trusted by `ca`)
  server_key_encrypted  the server key under AES-256 with `password_file` (first line);
                        `wrong_password_file` holds another passphrase

Every certificate is valid 90 days and carries basicConstraints, keyUsage, extendedKeyUsage,
subject/authority key identifiers; the server leaves have SANs and a (never fetched) CRL
distribution point, so curl, Python's ssl and testssl accept them against `ca`.
"""

from __future__ import annotations

import dataclasses
import re
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Optional

from wire import Conn, request

DAYS = "90"
PASSWORD = "correct horse battery staple"
CLIENT_DN = "CN=client,O=Junction Test"
CA_DN = "CN=Junction Test CA,O=Junction Test"
ROGUE_DN = "CN=rogue,O=Rogue"


def openssl(*args: str, input: Optional[bytes] = None, timeout: float = 60) -> str:
    out = subprocess.run(["openssl", *args], input=input, capture_output=True, timeout=timeout)
    if out.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n"
                             + out.stderr.decode("utf-8", "replace"))
    return out.stdout.decode("utf-8", "replace")


def _key(path: Path, kind: str) -> None:
    if kind == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", str(path))
    else:
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-pkeyopt", "ec_param_enc:named_curve", "-out", str(path))


def _ca(d: Path, name: str, subject: str) -> tuple[Path, Path]:
    key, cert = d / f"{name}.key", d / f"{name}.pem"
    _key(key, "ec")
    openssl("req", "-x509", "-new", "-key", str(key), "-out", str(cert), "-days", DAYS,
            "-sha256", "-subj", subject,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-addext", "subjectKeyIdentifier=hash")
    return cert, key


def _leaf(d: Path, name: str, subject: str, *, ca: tuple[Path, Path], kind: str,
          usage: str, san: Optional[str] = None) -> tuple[Path, Path]:
    key, csr, cert, ext = (d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem",
                           d / f"{name}.ext")
    _key(key, kind)
    openssl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", subject)
    key_usage = "digitalSignature,keyEncipherment" if kind == "rsa" else "digitalSignature"
    lines = ["basicConstraints=critical,CA:FALSE", f"keyUsage=critical,{key_usage}",
             f"extendedKeyUsage={usage}", "subjectKeyIdentifier=hash",
             "authorityKeyIdentifier=keyid,issuer"]
    if san:
        lines.append(f"subjectAltName={san}")
    if usage == "serverAuth":  # never fetched; testssl rates a server cert without any as HIGH
        lines.append("crlDistributionPoints=URI:http://127.0.0.1:9/junction-test-ca.crl")
    ext.write_text("\n".join(lines) + "\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
            "-CAcreateserial", "-out", str(cert), "-days", DAYS, "-sha256",
            "-extfile", str(ext))
    return cert, key


@dataclasses.dataclass
class Pki:
    dir: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    other_cert: Path
    other_key: Path
    client_cert: Path
    client_key: Path
    rogue_ca_cert: Path
    rogue_client_cert: Path
    rogue_client_key: Path
    server_key_encrypted: Path
    password_file: Path
    wrong_password_file: Path
    password: str = PASSWORD

    def server_args(self) -> list[str]:
        return ["--tls-cert", str(self.server_cert), "--tls-key", str(self.server_key)]

    def both_args(self) -> list[str]:
        """The default pair (localhost) first, the SNI pair (*.example.test) second."""
        return self.server_args() + ["--tls-cert", str(self.other_cert),
                                     "--tls-key", str(self.other_key)]


def make_pki(d: Path) -> Pki:
    d.mkdir(parents=True, exist_ok=True)
    ca = _ca(d, "ca", "/O=Junction Test/CN=Junction Test CA")
    server = _leaf(d, "server", "/O=Junction Test/CN=localhost", ca=ca, kind="rsa",
                   usage="serverAuth", san="DNS:localhost,IP:127.0.0.1")
    other = _leaf(d, "other", "/O=Junction Test/CN=*.example.test", ca=ca, kind="ec",
                  usage="serverAuth", san="DNS:*.example.test,DNS:other.test")
    client = _leaf(d, "client", "/O=Junction Test/CN=client", ca=ca, kind="ec",
                   usage="clientAuth")
    rogue_ca = _ca(d, "rogue-ca", "/O=Rogue/CN=Rogue CA")
    rogue = _leaf(d, "rogue-client", "/O=Rogue/CN=rogue", ca=rogue_ca, kind="ec",
                  usage="clientAuth")
    password_file = d / "password.txt"
    password_file.write_text(PASSWORD + "\n")
    wrong_password_file = d / "wrong-password.txt"
    wrong_password_file.write_text("not the passphrase\n")
    encrypted = d / "server-encrypted.key"
    openssl("pkey", "-in", str(server[1]), "-aes256", "-passout", f"file:{password_file}",
            "-out", str(encrypted))
    return Pki(dir=d, ca_cert=ca[0], ca_key=ca[1], server_cert=server[0],
               server_key=server[1], other_cert=other[0], other_key=other[1],
               client_cert=client[0], client_key=client[1], rogue_ca_cert=rogue_ca[0],
               rogue_client_cert=rogue[0], rogue_client_key=rogue[1],
               server_key_encrypted=encrypted, password_file=password_file,
               wrong_password_file=wrong_password_file)


def issue_server_cert(pki: Pki, d: Path, name: str, san: str, *,
                      kind: str = "ec") -> tuple[Path, Path]:
    """A new server certificate and key (files `name`.pem/.key in d) signed by the test CA;
    `san` such as "DNS:a.test,DNS:*.b.test"."""
    d.mkdir(parents=True, exist_ok=True)
    first = san.split(",")[0].split(":", 1)[1]
    return _leaf(d, name, f"/O=Junction Test/CN={first}", ca=(pki.ca_cert, pki.ca_key),
                 kind=kind, usage="serverAuth", san=san)


def pem_der(pem: str | Path) -> bytes:
    """The DER bytes of the first certificate in a PEM string or file."""
    text = pem.read_text() if isinstance(pem, Path) else pem
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    assert m, f"no PEM certificate in {text[:200]!r}"
    return ssl.PEM_cert_to_DER_cert(m.group(0))


# --- client side -----------------------------------------------------------------------------

def client_context(pki: Pki, *, cert: Optional[Path] = None, key: Optional[Path] = None,
                   alpn: Optional[list[str]] = None, tls_max: Optional[str] = None,
                   tls_min: Optional[str] = None, ciphers: Optional[str] = None,
                   check_hostname: bool = True) -> ssl.SSLContext:
    """A client context that trusts the test CA (and presents `cert` when given)."""
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.check_hostname = check_hostname
    versions = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
    if tls_max:
        ctx.maximum_version = versions[tls_max]
    if tls_min:
        ctx.minimum_version = versions[tls_min]
    if ciphers:
        ctx.set_ciphers(ciphers)
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


class TlsConn(Conn):
    """wire.Conn over TLS: connects to `address`, handshakes with `ctx` (SNI = server_hostname,
    none when it is None or an IP address)."""

    def __init__(self, address, ctx: ssl.SSLContext, *, server_hostname: Optional[str] = None,
                 timeout: float = 10.0):
        super().__init__(address, timeout=timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)

    @property
    def version(self) -> str:
        return self.sock.version()

    @property
    def cipher(self) -> str:
        return self.sock.cipher()[0]

    @property
    def alpn(self) -> Optional[str]:
        return self.sock.selected_alpn_protocol()

    def peer_der(self) -> bytes:
        return self.sock.getpeercert(binary_form=True)

    def wait_closed(self, timeout: float = 5.0) -> bytes:
        try:
            return super().wait_closed(timeout)
        except ssl.SSLError:
            return b""


def https_url(server, path: str = "/", host: str = "127.0.0.1") -> str:
    return f"https://{host}:{server.port}{path}"


def tls_get(server, pki: Pki, target: str = "/", *, ctx: Optional[ssl.SSLContext] = None,
            server_hostname: Optional[str] = "localhost", headers=(), host="localhost",
            timeout: float = 10.0):
    """One HTTP/1.1 request over a fresh TLS connection: (Response, TlsConn facts dict)."""
    ctx = ctx or client_context(pki)
    with TlsConn(("127.0.0.1", server.port), ctx, server_hostname=server_hostname,
                 timeout=timeout) as c:
        r = c.roundtrip(request("GET", target, host=host, headers=headers))
        facts = {"version": c.version, "cipher": c.cipher, "alpn": c.alpn,
                 "peer_der": c.peer_der()}
    return r, facts


def cipher_id(name: str) -> int:
    """The 16-bit IANA id of a cipher suite given by its OpenSSL name."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    for c in ctx.get_ciphers():
        if c["name"] == name:
            return c["id"] & 0xFFFF
    raise AssertionError(f"unknown cipher {name}")


@dataclasses.dataclass
class SClient:
    returncode: int
    output: str  # stdout and stderr together

    def field(self, name: str) -> Optional[str]:
        """A `Name: value` line of s_client's summary (the last one, after a resumption)."""
        found = re.findall(rf"^\s*{re.escape(name)}\s*:\s*(.*?)\s*$", self.output, re.M)
        return found[-1] if found else None

    @property
    def protocol(self) -> Optional[str]:
        """The negotiated protocol (None when the handshake failed)."""
        m = re.findall(r"^(?:New|Reused), (TLSv[\d.]+|SSLv\d)", self.output, re.M)
        return m[-1] if m else None

    @property
    def alpn(self) -> Optional[str]:
        m = re.search(r"^ALPN protocol: (\S+)", self.output, re.M)
        return m.group(1) if m else None

    @property
    def reused(self) -> bool:
        return bool(re.search(r"^Reused, ", self.output, re.M))

    @property
    def subject(self) -> Optional[str]:
        m = re.search(r"^subject=(.*)$", self.output, re.M)
        return m.group(1).strip() if m else None


def s_client(port: int, *args: str, stdin: bytes = b"", timeout: float = 30) -> SClient:
    """`openssl s_client -connect 127.0.0.1:PORT ARGS`, with `stdin` as its input (so it ends
    when the input is used up and the server has answered or closed)."""
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-nameopt", "RFC2253", *args],
        input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return SClient(out.returncode, out.stdout.decode("utf-8", "replace"))


def curl(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "--silent", "--show-error", "--max-time", "20", *args],
                          capture_output=True, text=True, timeout=timeout)


def wait_log(server, needle: str, timeout: float = 10.0) -> Optional[str]:
    """Wait until a stderr line contains `needle`; returns that line (None on timeout)."""
    def find(lines):
        return next((line for line in lines if needle in line), None)
    return server.stderr.wait_for(find, timeout)


def count_log(server, needle: str) -> int:
    return sum(needle in line for line in server.stderr.snapshot())


def raw_connect(server, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    return s


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Read until EOF or reset (-> (bytes, True)) or until `timeout` (-> (bytes, False))."""
    out = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(out), False
        sock.settimeout(left)
        try:
            data = sock.recv(1 << 16)
        except (ConnectionResetError, BrokenPipeError):
            return bytes(out), True
        except socket.timeout:
            return bytes(out), False
        if not data:
            return bytes(out), True
        out += data
