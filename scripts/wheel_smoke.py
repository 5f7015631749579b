"""Smoke test of an installed Junction: `python scripts/wheel_smoke.py VENV/bin/junction`.

Starts that junction on a port the OS picks with a WSGI app at / and an ASGI app at /asgi (both
written to a temporary directory, no packages needed), checks both answer and that `--version`
names the venv's Python, stops it with SIGTERM and expects exit 0. Used by scripts/wheel.sh on
each wheel it builds; standard library only, so it runs in a bare venv.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request

APPS = {
    "smoke_wsgi.py": (
        "def app(environ, start_response):\n"
        "    body = ('wsgi ' + environ['PATH_INFO']).encode()\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain'),\n"
        "                              ('Content-Length', str(len(body)))])\n"
        "    return [body]\n"
    ),
    "smoke_asgi.py": (
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http':\n"
        "        return\n"
        "    body = ('asgi ' + scope['root_path'] + ' ' + scope['path']).encode()\n"
        "    await send({'type': 'http.response.start', 'status': 200,\n"
        "                'headers': [(b'content-type', b'text/plain')]})\n"
        "    await send({'type': 'http.response.body', 'body': body})\n"
    ),
}


def fail(message: str) -> None:
    print(f"wheel_smoke: {message}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    if len(sys.argv) != 2:
        fail("usage: wheel_smoke.py PATH/TO/junction")
    junction = sys.argv[1]
    venv_python = os.path.join(os.path.dirname(junction), "python")
    want_python = subprocess.run(
        [venv_python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True, text=True, check=True).stdout.strip()
    version = subprocess.run([junction, "--version"], capture_output=True, text=True, timeout=30)
    if version.returncode != 0 or f"Python {want_python}" not in version.stdout:
        fail(f"--version does not name Python {want_python}: {version.stdout!r} {version.stderr!r}")

    with tempfile.TemporaryDirectory() as apps:
        for name, text in APPS.items():
            with open(os.path.join(apps, name), "w") as f:
                f.write(text)
        proc = subprocess.Popen(
            [junction, "--bind", "127.0.0.1:0", "--chdir", apps, "--no-access-log",
             "/asgi=smoke_asgi:app", "smoke_wsgi:app"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        log: list[str] = []
        found = threading.Event()
        url: list[str] = []

        def drain() -> None:
            for raw in iter(proc.stderr.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip()
                log.append(line)
                if (m := re.search(r"Listening on (\S+)", line)) and not url:
                    url.append(m.group(1).rstrip("/"))
                    found.set()
            found.set()

        threading.Thread(target=drain, daemon=True).start()
        try:
            if not found.wait(30) or not url:
                fail("junction did not start:\n" + "\n".join(log))
            base = url[0] if url[0].startswith("http") else "http://" + url[0]
            for path, want in (("/hello", "wsgi /hello"), ("/asgi/x", "asgi /asgi /asgi/x")):
                with urllib.request.urlopen(base + path, timeout=10) as response:
                    got = response.read().decode()
                if got != want:
                    fail(f"GET {path} answered {got!r}, not {want!r}")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                fail("junction did not stop within 30 s of SIGTERM")
        if code != 0:
            fail(f"junction exited {code} after SIGTERM:\n" + "\n".join(log))
    print(f"wheel_smoke: {junction} (Python {want_python}) serves WSGI and ASGI")


if __name__ == "__main__":
    main()
