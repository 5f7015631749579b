"""h2spec (HTTP/2 conformance) against h2c prior knowledge.

The server runs with `--http 2`, so every connection is HTTP/2 and h2spec's invalid-preface case
(3.5/2) applies; under `--http auto` such a connection is HTTP/1.1 by design and gets a 400.
h2spec's path is /hash of a WSGI and of an ASGI app: it takes any method, reads the whole
request body and only then answers, so the cases about request bodies, flow control and stream
states reach a stream that is still open. The plain run must pass every case; the `--strict`
run (which adds the RFC's SHOULDs) is printed but does not fail the test.

The binary: $H2SPEC, else .tools/h2spec (built by scripts/setup.sh).
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import REPO

APPS = ("/w=apps.h2_wsgi:app", "/a=asgi:apps.h2_asgi:app")


def h2spec_bin() -> Path:
    path = Path(os.environ.get("H2SPEC", REPO / ".tools/h2spec"))
    if not path.exists():
        pytest.fail(f"h2spec is missing at {path}: run `bash scripts/setup.sh` (it builds it)")
    version = path.with_name("h2spec.version")
    print(version.read_text().strip() if version.exists() else path)
    return path


def run_h2spec(server, path: str, report: Path, *extra: str) -> tuple[int, list[str], str]:
    """Run h2spec; returns (cases run, failing cases as 'ID: what h2spec said', its output)."""
    out = subprocess.run(
        [str(h2spec_bin()), "-h", "127.0.0.1", "-p", str(server.port), "-P", path, "-o", "3",
         "-j", str(report), *extra],
        capture_output=True, text=True, timeout=120)
    assert report.exists(), out.stdout + out.stderr
    cases, failed = 0, []
    for suite in ET.parse(report).getroot().iter("testsuite"):
        for i, case in enumerate(suite.iter("testcase"), 1):
            cases += 1
            bad = case.find("failure") if case.find("failure") is not None else case.find("error")
            if bad is not None:
                expected_actual = " | ".join((bad.text or "").splitlines())
                failed.append(f"{suite.get('package')}/{i} {case.get('classname')}: "
                              f"expected/actual: {expected_actual}")
    return cases, failed, out.stdout


@pytest.mark.parametrize("path", ["/w/hash", "/a/hash"], ids=["wsgi", "asgi"])
def test_h2spec_every_case_passes(start_app, tmp_path, path):
    server = start_app(*APPS, extra=["--http", "2", "--no-access-log"])
    cases, failed, output = run_h2spec(server, path, tmp_path / "h2spec.xml")
    print(f"h2spec {path}: {cases} cases, {len(failed)} failed")
    assert cases >= 145, output[-2000:]
    assert failed == [], "\n".join(failed)


def test_h2spec_strict_is_reported(start_app, tmp_path):
    server = start_app(*APPS, extra=["--http", "2", "--no-access-log"])
    cases, failed, output = run_h2spec(server, "/w/hash", tmp_path / "strict.xml", "--strict")
    print(f"h2spec --strict: {cases} cases, {cases - len(failed)} passed, {len(failed)} failed")
    print("\n".join(failed))
    assert cases >= 146, output[-2000:]  # the run happened; its failures are only reported


def test_h2spec_under_http_auto(start_app, tmp_path):
    """Under --http auto (the default) only the invalid-preface case may fail: that
    connection is served as HTTP/1.1 (a 400), as it must be to tell the protocols apart."""
    server = start_app(*APPS, extra=["--no-access-log"])
    cases, failed, output = run_h2spec(server, "/w/hash", tmp_path / "auto.xml")
    print(f"h2spec --http auto: {cases} cases, {len(failed)} failed")
    assert cases >= 145, output[-2000:]
    assert [f for f in failed if not f.startswith("http2/3.5/2 ")] == [], "\n".join(failed)
