"""--config FILE.toml: every flag is a key; the command line wins over JUNCTION_* variables,
which win over the file; a bad file is one `FILE:LINE:COL: message` line per error and exit 2."""

from __future__ import annotations

import httpx

from conftest import E2E_DIR

APP = "apps.environ_app:app"


def write(tmp_path, text: str):
    path = tmp_path / "junction.toml"
    path.write_text(text)
    return path


def test_the_file_sets_flags_and_the_environment_and_command_line_win(start_server, tmp_path):
    config = write(tmp_path, f"""
pythonpath = ["{E2E_DIR}"]
access_log_format = "{{path}} {{status}} from-the-file"
request-id-header = "X-Trace"
threads = 3
""")
    server = start_server("--config", str(config), APP)
    r = httpx.get(server.base_url + "/one", timeout=10)
    assert r.status_code == 200 and "x-trace" in r.headers
    assert r.json()["environ"]["HTTP_X_TRACE"] == r.headers["x-trace"]
    assert server.stdout.wait_for(
        lambda lines: any(l.endswith("/one 200 from-the-file") for l in lines), 5), server.dump()

    # JUNCTION_REQUEST_ID_HEADER beats the file; --access-log-format on the command line too.
    server = start_server("--config", str(config), "--access-log-format", "{path} cli", APP,
                          env={"JUNCTION_REQUEST_ID_HEADER": "X-Env-Trace"})
    r = httpx.get(server.base_url + "/two", timeout=10)
    assert "x-env-trace" in r.headers and "x-trace" not in r.headers
    assert server.stdout.wait_for(lambda lines: "/two cli" in lines, 5), server.dump()

    # JUNCTION_CONFIG names the file as --config does.
    server = start_server(APP, env={"JUNCTION_CONFIG": str(config)})
    assert "x-trace" in httpx.get(server.base_url + "/three", timeout=10).headers


def test_a_bad_file_reports_every_error_with_its_place(run_junction, tmp_path):
    config = write(tmp_path, 'wrokers = 2\nthreads = "many"\nno_access_log = "yes"\n')
    result = run_junction("--config", str(config), APP)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"junction: {config}:1:1: unknown key 'wrokers'; did you mean 'workers'?",
        f"junction: {config}:3:1: 'no-access-log' is a switch: true or false, not a string",
    ]
    # A value of the right shape that the flag refuses is placed in the file too.
    config.write_text('threads = "many"\n')
    result = run_junction("--config", str(config), APP)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"junction: {config}:1:1: --threads"), lines
    # A syntax error, and a file that is not there.
    config.write_text('bind = ["127.0.0.1:8000"\n')
    result = run_junction("--config", str(config), APP)
    assert result.returncode == 2 and result.stderr.startswith(f"junction: {config}:1:")
    result = run_junction("--config", str(tmp_path / "missing.toml"), APP)
    assert result.returncode == 2
    assert result.stderr.startswith(f"junction: {tmp_path / 'missing.toml'}: ")
