"""Loading WSGI apps (docs/wsgi.md, "Loading"): APP syntax, factories, dotted
attributes, --chdir, --pythonpath, --venv / $VIRTUAL_ENV, the current directory, and the exit
code and one-line message of every load failure.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import server_environment
from wsgi_util import get

E2E_DIR = Path(__file__).resolve().parent
REPO = E2E_DIR.parents[1]
VENV = REPO / ".venv"
EXIT_TIMEOUT = 5.0  # a load failure must end the process well within this


@pytest.fixture
def run_failing(binary):
    """run_failing(*args): run junction expected to fail at start-up (with tests/e2e on the path);
    returns (exit code, non-empty stderr lines); fails the test if it does not exit in time."""

    def run(*args: str, env_changes=None, log_level: str = "info"):
        env = server_environment(env_changes)
        cmd = [str(binary), "--bind", "127.0.0.1:0", "--log-level", log_level,
               "--pythonpath", str(E2E_DIR), *args]
        try:
            out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 timeout=EXIT_TIMEOUT, env=env)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"junction did not exit within {EXIT_TIMEOUT}s: {' '.join(cmd)}\n"
                        f"stderr: {e.stderr!r}")
        return out.returncode, [l for l in out.stderr.splitlines() if l.strip()]

    return run


# --- load failures ---------------------------------------------------------------------------

@pytest.mark.parametrize("app,message", [
    ("nosuchmod:app",
     "junction: cannot import module 'nosuchmod': No module named 'nosuchmod'"),
    ("apps.loading.good:nope",
     "junction: module 'apps.loading.good' has no attribute 'nope'"),
    ("apps.loading.value:value",
     "junction: 'apps.loading.value:value' is not callable (it is a int)"),
    ("apps.loading.value",
     "junction: module 'apps.loading.value' has no 'app' or 'application' attribute (give "
     "MODULE:ATTR)"),
], ids=["module-not-found", "no-attribute", "not-callable", "no-default-attribute"])
def test_load_failure_exits_4_with_one_line(run_failing, app, message):
    """Each load failure that is a name to fix (no code of the app failed) exits 4 quickly with
    exactly the one line docs/wsgi.md gives on stderr."""
    code, lines = run_failing(app)
    assert code == 4, (code, lines)
    assert lines == [message]


@pytest.mark.parametrize("app", ["apps.loading.asgi_app:app", "apps.loading.asgi_app:obj"],
                         ids=["asgi-function", "asgi-object"])
def test_asgi_apps_are_detected_and_served(start_app, app):
    """A coroutine function and an object with an async __call__ load as ASGI apps (no
    asgi: prefix needed) and answer."""
    server = start_app(app)
    r = get(server, "/")
    assert (r.status, r.body) == (200, b"asgi")


def test_missing_submodule_names_the_module(run_failing):
    """A missing module inside an existing package is named in full."""
    code, lines = run_failing("apps.loading.nosuch:app")
    assert code == 4, (code, lines)
    assert lines == ["junction: cannot import module 'apps.loading.nosuch': "
                     "No module named 'apps.loading.nosuch'"]


def test_missing_dotted_attribute_fails(run_failing):
    """A dotted attribute whose last part is missing fails with exit 4, naming it."""
    code, lines = run_failing("apps.loading.good:holder.inner.nope")
    assert code == 4, (code, lines)
    assert len(lines) == 1 and lines[0].startswith("junction: ") and "nope" in lines[0], lines


def test_missing_dependency_of_app_module(run_failing):
    """A module whose own import fails (a dependency that is not installed) exits 4 naming the
    module and the missing dependency, after the traceback of the app's import."""
    code, lines = run_failing("apps.loading.uses_missing:app")
    assert code == 4, (code, lines)
    assert lines[-1].startswith("junction: "), lines
    assert "'apps.loading.uses_missing'" in lines[-1]
    assert "No module named 'no_such_dependency'" in lines[-1]
    assert any("import no_such_dependency" in line for line in lines), lines


@pytest.mark.parametrize("app", ["foo:", ":app", "a..b"])
def test_bad_app_syntax_exits_2(run_failing, app):
    """An APP that is not MODULE[:ATTR] exits 2 with `junction: bad APP '...': ...`."""
    code, lines = run_failing(app)
    assert code == 2, (code, lines)
    assert len(lines) == 1 and lines[0].startswith(f"junction: bad APP '{app}'"), lines


@pytest.mark.parametrize("log_level", ["info", "DEBUG"])
def test_an_app_that_raises_at_import_prints_its_traceback(run_failing, log_level):
    """An app that raises at import prints its traceback at the default log level (as uvicorn
    and gunicorn do), from the app's own code on, then the one line; --log-level takes any case."""
    code, lines = run_failing("apps.loading.boom:app", log_level=log_level)
    assert code == 4, (code, lines)
    text = "\n".join(lines)
    assert "Traceback (most recent call last):" in text
    assert "boom.py" in text and "RuntimeError: boom" in text
    assert "load_app" not in text and "importlib" not in text, text
    assert lines[-1] == "junction: importing module 'apps.loading.boom' raised RuntimeError: boom"


def test_a_module_alone_serves_its_app_or_its_application(start_app, tmp_path):
    """`MODULE` without `:ATTR` serves the module's `app`, or its `application` (a Django
    project's wsgi module), as gunicorn does."""
    (tmp_path / "only_application.py").write_text(
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Length', '11')])\n"
        "    return [b'application']\n")
    server = start_app("apps.loading.good", "/b=only_application",
                       extra=["--pythonpath", str(tmp_path)])
    assert get(server, "/").status == 200
    assert get(server, "/b/").body == b"application"


def test_two_apps_at_one_prefix_is_an_error(run_failing):
    """Two apps mounted at the same prefix: one line naming it, exit 2."""
    code, lines = run_failing("/api=apps.loading.good:app", "/api/=apps.loading.good:app")
    assert (code, lines) == (2, ["junction: two apps are mounted at /api: give each its own "
                                 "prefix"])


# --- loading that works ----------------------------------------------------------------------

def test_factory_called_once(start_app):
    """`MODULE:factory()` calls the factory once, at start-up, and serves what it returns."""
    server = start_app("apps.loading.good:make_app()")
    for _ in range(3):
        r = get(server, "/")
        assert (r.status, r.body) == (200, b"made by factory, calls=1")


def test_dotted_attribute(start_app):
    """`MODULE:obj.attr.app` follows attributes."""
    server = start_app("apps.loading.good:holder.inner.app")
    r = get(server, "/")
    assert (r.status, r.body) == (200, b"dotted inner app")


def test_wsgi_prefix_and_mounts(start_app):
    """`wsgi:` forces the interface; several APPs with prefixes serve side by side."""
    server = start_app("wsgi:apps.loading.good:app", "/f=apps.loading.good:make_app()",
                       "/d=wsgi:apps.loading.good:holder.inner.app")
    assert get(server, "/x").body == b"good app"
    assert get(server, "/f/x").body == b"made by factory, calls=1"
    assert get(server, "/d/x").body == b"dotted inner app"


def _write_module(directory: Path, name: str, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text(textwrap.dedent(text))


CWD_APP = """
    import os

    def app(environ, start_response):
        body = ("{tag} " + os.getcwd()).encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
"""


def test_chdir(start_server, tmp_path):
    """--chdir changes the working directory before import, and that directory is importable."""
    site = tmp_path / "site"
    _write_module(site, "chdir_app", CWD_APP.replace("{tag}", "chdir"))
    server = start_server("--chdir", str(site), "chdir_app:app")
    r = get(server, "/")
    assert (r.status, r.body.decode()) == (200, f"chdir {site.resolve()}")


def test_current_directory_importable(start_server, tmp_path):
    """Without --chdir, the directory junction was started in is importable (like gunicorn)."""
    _write_module(tmp_path, "cwd_app", CWD_APP.replace("{tag}", "cwd"))
    server = start_server("cwd_app:app", cwd=tmp_path)
    r = get(server, "/")
    assert (r.status, r.body.decode()) == (200, f"cwd {tmp_path.resolve()}")


def test_pythonpath_repeatable(start_server, tmp_path):
    """Every --pythonpath DIR is importable."""
    a, b = tmp_path / "a", tmp_path / "b"
    _write_module(a, "mod_a", CWD_APP.replace("{tag}", "A"))
    _write_module(b, "mod_b", CWD_APP.replace("{tag}", "B"))
    server = start_server("--pythonpath", str(a), "--pythonpath", str(b),
                          "/a=mod_a:app", "/b=mod_b:app", cwd=REPO)
    assert get(server, "/a/").body.decode().startswith("A ")
    assert get(server, "/b/").body.decode().startswith("B ")


def test_relative_pythonpath_is_relative_to_chdir(start_server, tmp_path):
    """A relative --pythonpath names a directory under --chdir (gunicorn's rule), whatever the
    directory junction was started in."""
    project = tmp_path / "project"
    _write_module(project / "src", "mod_rel", CWD_APP.replace("{tag}", "R"))
    server = start_server("--chdir", str(project), "--pythonpath", "src", "mod_rel:app",
                          cwd=REPO)
    assert get(server, "/").body.decode().startswith("R ")


def _django_answer(server) -> list[str]:
    r = get(server, "/")
    assert r.status == 200, (r.status, r.body[:500])
    return r.body.decode().splitlines()


def _venv_of_this_python(path: Path) -> Path:
    """A fresh virtualenv of the Python junction runs on, without pip; its site-packages."""
    python = Path(os.path.realpath(VENV / "bin/python"))
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(path)], check=True, timeout=60)
    out = subprocess.run([str(path / "bin/python"), "-c",
                          "import sysconfig; print(sysconfig.get_path('purelib'))"],
                         check=True, capture_output=True, text=True, timeout=60)
    return Path(out.stdout.strip())


def test_venv_flag_adds_another_venv_first(start_app, tmp_path):
    """--venv DIR (another venv of the same Python) puts its site-packages before those of the
    venv junction runs from: its own `django` is the one the app imports."""
    site = _venv_of_this_python(tmp_path / "other")
    (site / "django").mkdir()
    (site / "django" / "__init__.py").write_text('__version__ = "0.0-from-the-other-venv"\n')
    server = start_app("apps.loading.uses_django:app", extra=["--venv", str(tmp_path / "other")])
    version, path, _prefix = _django_answer(server)
    assert version == "0.0-from-the-other-venv"
    assert Path(path).resolve().is_relative_to(site.resolve()), path


def test_venv_of_another_python_is_refused(run_failing, tmp_path):
    """A venv made for another Python version cannot lend its packages: one line, exit 2."""
    venv = tmp_path / "py39"
    (venv / "lib/python3.9/site-packages").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.9.2\n")
    code, lines = run_failing("--venv", str(venv), "apps.loading.good:app")
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith(f"junction: --venv {venv}: it was made for "
                                                   "Python 3.9.2, but junction runs on Python 3."), lines
