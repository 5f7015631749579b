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
        env = dict(os.environ)
        for k, v in (env_changes or {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
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
    ("apps.loading.boom:app",
     "junction: importing module 'apps.loading.boom' raised RuntimeError: boom"),
], ids=["module-not-found", "no-attribute", "not-callable", "import-raises"])
def test_load_failure_exits_4_with_one_line(run_failing, app, message):
    """Each load failure exits 4 quickly with exactly the one line docs/wsgi.md gives on stderr."""
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
    """A module whose own import fails (django without a venv) exits 4 naming the module and
    the missing dependency."""
    code, lines = run_failing("apps.loading.uses_django:app", env_changes={"VIRTUAL_ENV": None})
    assert code == 4, (code, lines)
    assert len(lines) == 1 and lines[0].startswith("junction: "), lines
    assert "'apps.loading.uses_django'" in lines[0] and "No module named 'django'" in lines[0]


@pytest.mark.parametrize("app", ["foo", "foo:", ":app"])
def test_bad_app_syntax_exits_2(run_failing, app):
    """An APP that is not MODULE:ATTR exits 2 with `junction: bad APP '...': expected MODULE:ATTR`."""
    code, lines = run_failing(app)
    assert code == 2, (code, lines)
    assert len(lines) == 1, lines
    if app == "foo":
        assert lines == ["junction: bad APP 'foo': expected MODULE:ATTR"]
    else:
        assert lines[0].startswith(f"junction: bad APP '{app}'"), lines


def test_traceback_logged_at_debug_level(run_failing):
    """With --log-level debug the import's Python traceback is logged too."""
    code, lines = run_failing("apps.loading.boom:app", log_level="debug")
    assert code == 4, (code, lines)
    text = "\n".join(lines)
    assert "Traceback (most recent call last):" in text
    assert 'raise RuntimeError("boom")' in text or "RuntimeError: boom" in text
    assert ("junction: importing module 'apps.loading.boom' raised RuntimeError: boom"
            in lines)


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


def _django_answer(server) -> list[str]:
    r = get(server, "/")
    assert r.status == 200, (r.status, r.body[:500])
    return r.body.decode().splitlines()


def test_venv_flag(start_app):
    """--venv DIR imports packages from that virtualenv (Django from the repo's .venv)."""
    server = start_app("apps.loading.uses_django:app", extra=["--venv", str(VENV)],
                       env={"VIRTUAL_ENV": None})
    version, path, _prefix = _django_answer(server)
    assert version == "5.2.19"
    assert Path(path).resolve().is_relative_to(VENV.resolve()), path


def test_virtual_env_variable_is_the_default_venv(start_app):
    """Without --venv, $VIRTUAL_ENV names the virtualenv."""
    server = start_app("apps.loading.uses_django:app", env={"VIRTUAL_ENV": str(VENV)})
    version, path, _prefix = _django_answer(server)
    assert version == "5.2.19"
    assert Path(path).resolve().is_relative_to(VENV.resolve()), path
