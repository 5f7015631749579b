"""Python side of Junction's bridge: app loading, interface detection, wsgi.file_wrapper.

Compiled into the junction binary (bridge/CMakeLists.txt embeds this file) and imported as
the module `_junction_support` once the interpreter is up.
"""

import importlib
import inspect
import sys
import traceback


class LoadError(Exception):
    """An app cannot be loaded; str(error) is one line for the user."""


def _format(exc):
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _describe(exc):
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _missing_is_target(exc, module):
    """True when a ModuleNotFoundError is about `module` itself (or a parent package), not
    about something the module imports."""
    name = getattr(exc, "name", None)
    return name is not None and (module == name or module.startswith(name + "."))


def load_app(module, attrs, call_factory, target):
    """Import MODULE, walk ATTR, call it if a factory, and return the app.

    Raises LoadError(line, traceback_text): one line for the user, the traceback for the log."""
    try:
        obj = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if _missing_is_target(exc, module):
            raise LoadError(f"cannot import module '{module}': {exc}", _format(exc)) from None
        raise LoadError(f"importing module '{module}' raised {_describe(exc)}",
                        _format(exc)) from None
    except BaseException as exc:  # SystemExit and KeyboardInterrupt included: never crash
        raise LoadError(f"importing module '{module}' raised {_describe(exc)}",
                        _format(exc)) from None
    where = f"module '{module}'"
    for i, name in enumerate(attrs):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise LoadError(f"{where} has no attribute '{name}'", "") from None
        except BaseException as exc:
            raise LoadError(f"reading '{target}' raised {_describe(exc)}", _format(exc)) from None
        where = f"'{module}:{'.'.join(attrs[:i + 1])}'"
    if call_factory:
        if not callable(obj):
            raise LoadError(f"factory '{target}' is not callable (it is a {type(obj).__name__})",
                            "")
        try:
            obj = obj()
        except BaseException as exc:
            raise LoadError(f"calling factory '{target}()' raised {_describe(exc)}",
                            _format(exc)) from None
        target = target + "()"
    if not callable(obj):
        raise LoadError(f"'{target}' is not callable (it is a {type(obj).__name__})", "")
    return obj


def is_asgi(app):
    """An ASGI app is a coroutine function, or an object whose __call__ is one."""
    if inspect.iscoroutinefunction(app):
        return True
    call = getattr(app, "__call__", None)
    return call is not None and inspect.iscoroutinefunction(call)


def format_exception(exc_type, exc, tb):
    return "".join(traceback.format_exception(exc_type, exc, tb))


class FileWrapper:
    """wsgi.file_wrapper (PEP 3333, "Optional Platform-Specific File Handling").

    Junction sends a regular file behind it with sendfile(2) when the transport allows; this
    iteration is the fallback, and what the app sees."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


class ErrorStream:
    """wsgi.errors: text written here goes to Junction's log, a line at a time."""

    def __init__(self, log):
        self._log = log
        self._partial = ""

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"wsgi.errors.write() takes str, not {type(text).__name__}")
        text = self._partial + text
        *lines, self._partial = text.split("\n")
        for line in lines:
            self._log(line)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self._partial:
            self._log(self._partial)
            self._partial = ""
