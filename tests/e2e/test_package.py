"""Junction as a Python package: `python -m junction`, `junction.run()` with app objects and
specs, the installed extension module, and the repaired manylinux wheel installed into a venv
of a different CPython build than the one that built it."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import httpx
import pytest

from conftest import REPO, Server, server_environment
from wheel_util import built_python, other_python, repaired_wheel, venv_python, wheel_venv

APPS = REPO / "tests/e2e/apps"


def run_module(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv_python()), "-m", "junction", *args], capture_output=True,
                          text=True, timeout=60, env=server_environment(), **kwargs)


def test_python_m_junction_version_names_the_interpreter():
    done = run_module("--version")
    assert done.returncode == 0, done.stderr
    version = subprocess.run([str(venv_python()), "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert done.stdout.startswith("junction 0.1.0 on Python " + version), done.stdout


def test_python_m_junction_without_an_app_is_one_line_and_exit_2():
    done = run_module()
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "junction: nothing to serve: give an APP (MODULE:ATTR), --static PREFIX=DIR or "
        "--health-path PATH (junction --help)"]


def test_python_m_junction_serves(tmp_path):
    server = Server([str(venv_python()), "-m", "junction", "--bind", "127.0.0.1:0",
                     "--pythonpath", str(APPS / "loading"), "good:app"], binds=1,
                    env=server_environment())
    try:
        response = httpx.get(server.base_url + "/x", timeout=10)
        assert (response.status_code, response.text) == (200, "good app")
    finally:
        assert server.stop(signal.SIGINT) == 0, server.dump()


def test_bad_flag_is_one_line_and_exit_2():
    done = run_module("--threads", "many", "good:app")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "--threads" in done.stderr


RUN_SCRIPT = textwrap.dedent("""
    import sys
    import junction

    def wsgi_app(environ, start_response):
        body = ("wsgi " + environ["SCRIPT_NAME"] + " " + environ["PATH_INFO"]).encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    async def asgi_app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = ("asgi " + scope["root_path"] + " " + scope["path"]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    try:
        junction.run(wsgi_app, mounts={"/api": asgi_app, "/spec": "good:app"},
                     bind=["127.0.0.1:0"], threads=2, health_path="/healthz",
                     pythonpath=sys.argv[1], access_log=False)
    except SystemExit as exit:
        print("SystemExit", exit.code, flush=True)
        raise
    print("run returned", flush=True)
    # Python's SIGINT handler is back: Ctrl-C in the rest of the script is KeyboardInterrupt.
    # (To this thread: a process-directed signal may land on a thread still winding down, and
    # then interrupts nothing here.)
    import signal, threading, time
    try:
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        time.sleep(5)
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
""")


def test_junction_run_serves_app_objects_and_specs(tmp_path):
    script = tmp_path / "serve.py"
    script.write_text(RUN_SCRIPT)
    server = Server([str(venv_python()), str(script), str(APPS / "loading")], binds=1,
                    env=server_environment())
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            assert client.get("/a/b").text == "wsgi  /a/b"
            assert client.get("/api/items").text == "asgi /api /api/items"
            assert client.get("/spec/").text == "good app"
            assert client.get("/healthz").text == "ok"
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == 0, server.dump()
    # run() returned (no SystemExit) after the clean shutdown, no access log was written, and
    # SIGINT is Python's again.
    assert server.stdout.snapshot() == ["run returned", "KeyboardInterrupt"], server.dump()


def test_junction_run_bad_option_raises_system_exit_2(tmp_path):
    script = tmp_path / "bad.py"
    script.write_text("import junction\n"
                      "try:\n"
                      "    junction.run('good:app', threads='many')\n"
                      "except SystemExit as exit:\n"
                      "    print('SystemExit', exit.code)\n")
    done = subprocess.run([str(venv_python()), str(script)], capture_output=True, text=True,
                          timeout=60, env=server_environment(), cwd=APPS / "loading")
    assert done.stdout.strip() == "SystemExit 2", done
    assert "--threads" in done.stderr


def test_junction_run_same_prefix_twice_is_an_error():
    done = subprocess.run([str(venv_python()), "-c",
                           "import junction; junction.run('a:b', mounts={'/': 'c:d'})"],
                          capture_output=True, text=True, timeout=60, env=server_environment())
    assert done.returncode == 1
    assert "ValueError: two apps are mounted at /" in done.stderr


def test_the_extension_links_no_libpython_and_no_python_install():
    """The module runs in whatever interpreter imports it: it must not name a libpython or
    carry a RUNPATH into a Python install (the reason the embedding executable could not be
    installed into a venv of another Python build)."""
    found = subprocess.run([str(venv_python()), "-c",
                            "import junction._native as n; print(n.__file__)"],
                           capture_output=True, text=True, check=True,
                           env=server_environment()).stdout.strip()
    dynamic = subprocess.run(["readelf", "-d", found], capture_output=True, text=True,
                             check=True).stdout
    assert "libpython" not in dynamic
    assert "RUNPATH" not in dynamic and "RPATH" not in dynamic, dynamic


# --- the repaired wheel in a venv of another interpreter --------------------------------------

@pytest.fixture(scope="module")
def other_venv(tmp_path_factory):
    other = other_python()
    if other is None:
        pytest.skip(f"no second CPython build of {built_python()}'s version on this machine")
    root = tmp_path_factory.mktemp("other") / "venv"
    wheel_venv(other, root)
    return other, root


def test_repaired_wheel_is_manylinux_and_carries_its_libraries():
    wheel = repaired_wheel()
    assert "-manylinux_2_" in wheel.name
    import zipfile
    names = zipfile.ZipFile(wheel).namelist()
    libs = {Path(n).name.split("-")[0] for n in names if n.startswith("junction.libs/")}
    assert {"libssl", "libcrypto", "libnghttp2"} <= libs, names
    # fmt and spdlog are compiled in; libpython is never shipped.
    assert not any(("libfmt" in n or "libspdlog" in n or "libpython" in n) for n in names)


def test_repaired_wheel_serves_wsgi_and_asgi_in_another_interpreter(other_venv):
    other, root = other_venv
    version = subprocess.run([str(root / "bin/junction"), "--version"], capture_output=True,
                             text=True, timeout=60)
    assert version.returncode == 0, version.stderr
    assert f"({root}/bin/python" in version.stdout, version.stdout
    # The venv has no packages but junction: the apps are plain PEP 3333 / ASGI callables.
    server = Server([str(root / "bin/junction"), "--bind", "127.0.0.1:0", "--http", "auto",
                     "--pythonpath", str(APPS / "loading"), "/asgi=asgi_app:app", "good:app"],
                    binds=1, env=server_environment({"VIRTUAL_ENV": None}))
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            assert client.get("/hello").text == "good app"
            asgi = client.get("/asgi/hello")
            assert (asgi.status_code, asgi.text) == (200, "asgi")
        with httpx.Client(base_url=server.base_url, timeout=10, http1=False, http2=True) as h2:
            response = h2.get("/hello")
            assert (response.http_version, response.text) == ("HTTP/2", "good app")
    finally:
        code = server.stop()
    assert code == 0, server.dump()
    assert other != built_python()


def test_pip_install_without_a_build_package_names_the_debian_package(tmp_path):
    """A build package missing at `pip install` time stops CMake with the package to install
    (here CLI11, hidden from find_package), and pip exits non-zero."""
    done = subprocess.run(
        [str(venv_python()), "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
         "--no-build-isolation", "--no-deps", "-w", str(tmp_path / "dist"),
         "--config-settings", f"build-dir={tmp_path / 'build'}",
         "--config-settings", "cmake.define.CMAKE_DISABLE_FIND_PACKAGE_CLI11=TRUE", str(REPO)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert ("Junction needs CLI11: install the Debian package 'libcli11-dev'"
            in done.stdout + done.stderr), done.stdout + done.stderr
    assert not list((tmp_path / "dist").glob("*.whl"))
