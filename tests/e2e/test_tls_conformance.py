"""Conformance over TLS: h2spec (HTTP/2 over TLS, ALPN h2) and testssl (the TLS configuration:
protocols, ciphers, known vulnerabilities, the certificate).

h2spec runs like test_http2_h2spec.py (same apps, same /hash paths: they read the whole request
before answering) with -t -k. Over TLS the protocol is settled by ALPN, so under --http auto too
a connection that negotiated h2 is HTTP/2 from its first byte and every case must pass, the
invalid-preface one (3.5/2) included. No case is skipped.

testssl (Debian's testssl.sh 3.0.x, `testssl`) scans the whole default set (protocols, cipher
categories, forward secrecy, server preferences, server defaults and certificate, HTTP headers,
vulnerabilities, client simulations; about 1.5 minutes). The test fails on any finding rated HIGH
or CRITICAL, and on a FATAL scan problem, and prints every finding above INFO/OK. The test CA is
given with --add-ca, and the test certificates carry a CRL distribution point (never fetched),
so the certificate findings are about the server, not the throw-away PKI.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from test_http2_h2spec import APPS as H2SPEC_APPS
from test_http2_h2spec import run_h2spec


@pytest.mark.timeout(400)
@pytest.mark.parametrize("mode,path", [("auto", "/w/hash"), ("auto", "/a/hash"),
                                       ("2", "/w/hash")],
                         ids=["auto-wsgi", "auto-asgi", "http2-wsgi"])
def test_h2spec_over_tls(start_tls, tmp_path, mode, path):
    server = start_tls(apps=H2SPEC_APPS, extra=["--http", mode, "--no-access-log"])
    cases, failed, output = run_h2spec(server, path, tmp_path / "h2spec.xml", "-t", "-k")
    print(f"h2spec over TLS (--http {mode}) {path}: {cases} cases, {len(failed)} failed")
    assert cases >= 145, output[-3000:]
    assert failed == [], "\n".join(failed)


def find_testssl() -> str:
    found = shutil.which("testssl") or shutil.which("testssl.sh")
    if not found:
        pytest.fail("testssl is missing: `apt-get install -y testssl.sh` (scripts/setup.sh)")
    return found


BAD = ("HIGH", "CRITICAL")


@pytest.mark.timeout(900)
def test_testssl_has_no_high_or_critical_findings(start_tls, tls_pki, tmp_path):
    server = start_tls(apps=("wsgi:apps.tls_app:wsgi_app",), extra=["--no-access-log"])
    report = tmp_path / "testssl.json"
    # No --severity filter: all findings go to the file, so the test can also check that the
    # scan covered what it should; the filtering to HIGH/CRITICAL is done here.
    out = subprocess.run(
        [find_testssl(), "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
         "--connect-timeout", "10", "--openssl-timeout", "10", "--add-ca", str(tls_pki.ca_cert),
         "--jsonfile", str(report), f"127.0.0.1:{server.port}"],
        capture_output=True, text=True, timeout=850, cwd=tmp_path)
    print(out.stdout[-20000:])
    print(out.stderr[-3000:])
    assert report.exists(), f"testssl wrote no report (exit {out.returncode})"
    findings = json.loads(report.read_text() or "[]")
    ids = {f["id"] for f in findings}
    # The scan reached the server and ran its main sections.
    for expected in ("TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "cipherlist_NULL", "PFS",
                     "cert_trust", "cert_chain_of_trust", "heartbleed", "CCS", "ROBOT",
                     "secure_renego", "secure_client_renego", "CRIME_TLS", "POODLE_SSL",
                     "SWEET32", "FREAK", "LOGJAM", "BEAST", "LUCKY13", "RC4"):
        assert expected in ids, f"testssl did not report {expected!r}; ids: {sorted(ids)}"
    notable = [f for f in findings if f.get("severity") not in ("INFO", "OK", "DEBUG")]
    print("\n".join(f"{f['severity']:8} {f['id']}: {f['finding']}" for f in notable))
    by_id = {f["id"]: f for f in findings}
    assert by_id["TLS1"]["severity"] in ("OK", "INFO") and "not offered" in by_id["TLS1"]["finding"]
    assert "not offered" in by_id["TLS1_1"]["finding"], by_id["TLS1_1"]
    assert by_id["TLS1_3"]["finding"].startswith("offered"), by_id["TLS1_3"]
    assert by_id["cert_chain_of_trust"]["severity"] == "OK", by_id["cert_chain_of_trust"]
    fatal = [f for f in findings if f.get("severity") == "FATAL"]
    assert not fatal, "testssl could not scan:\n" + "\n".join(map(str, fatal))
    bad = [f for f in findings if f.get("severity") in BAD]
    assert not bad, "testssl HIGH/CRITICAL findings:\n" + "\n".join(
        f"{f['severity']} {f['id']}: {f['finding']}" for f in bad)
