"""Junction: a C++ server for Python web apps, WSGI and ASGI side by side, HTTP/1.1 and HTTP/2,
with or without TLS. Run it as `junction` (or `python -m junction`) with the app on the command
line, or from Python with `junction.run()`.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Mapping, Union

from junction._native import __version__

__all__ = ["run", "__version__"]

App = Union[str, Any]  # "module:attr", or a WSGI or ASGI callable


# Switches with an explicit off form (the others are off unless given).
_NEGATABLE = {"access-log"}


def _flag(name: str, value: Any) -> list[str]:
    """One keyword as its command-line flag(s): a name is the flag's without `--` (`_` or `-`);
    True is a bare switch, False leaves it off (or gives its `--no-` form where there is one),
    a list or tuple repeats the flag."""
    flag = "--" + name.replace("_", "-")
    if value is None:
        return []
    if value is True:
        return [flag]
    if value is False:
        return ["--no-" + flag[2:]] if flag[2:] in _NEGATABLE else []
    if isinstance(value, (list, tuple)):
        return [arg for item in value for arg in (flag, str(item))]
    return [flag, str(value)]


def run(app: App = None, /, *, mounts: Mapping[str, App] | None = None, **options: Any) -> None:
    """Serves `app` (an app object or a "module:attr" spec) and/or `mounts` (path prefix → app)
    until SIGINT or SIGTERM, like `uvicorn.run`. The keyword names are the command-line flags'
    (`bind="127.0.0.1:8000"`, `threads=8`, `health_path="/healthz"`, `tls_cert=[...]`).
    Returns after a clean shutdown; raises SystemExit with junction's exit code otherwise
    (2: bad usage, 3: lifespan startup failed, 4: an app could not be loaded).
    """
    from junction import _native

    apps: dict[str, App] = {}
    if app is not None:
        apps["/"] = app
    for prefix, mounted in (mounts or {}).items():
        if prefix in apps:
            raise ValueError(f"two apps are mounted at {prefix}")
        apps[prefix] = mounted
    # App objects reach the loader through a module of their own, as "module:attr" specs do.
    holder = types.ModuleType("junction._run_apps")
    specs = []
    for i, (prefix, target) in enumerate(apps.items()):
        if isinstance(target, str):
            spec = target
        else:
            name = f"app{i}"
            setattr(holder, name, target)
            spec = f"junction._run_apps:{name}"
        specs.append(spec if prefix == "/" else f"{prefix}={spec}")
    argv = ["junction"]
    for name, value in options.items():
        argv += _flag(name, value)
    sys.modules[holder.__name__] = holder
    try:
        code = _native.run(argv + specs)
    finally:
        sys.modules.pop(holder.__name__, None)
    if code != 0:
        raise SystemExit(code)
