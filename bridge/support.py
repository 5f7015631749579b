"""Python side of Junction's bridge: app loading, interface detection, wsgi.file_wrapper, and
the ASGI pieces that are plain asyncio (the loop thread's body, the per-request coroutine,
lifespan).

Compiled into the junction binary (bridge/CMakeLists.txt embeds this file) and imported as
the module `_junction_support` once the interpreter is up.
"""

import asyncio
import importlib
import inspect
import sys
import traceback


class LoadError(Exception):
    """An app cannot be loaded; str(error) is one line for the user."""


def _format(exc):
    """The traceback of what the app's code raised, from its first frame of its own: the
    loader's frames (this module's, importlib's) are ours, not the user's to read."""
    def ours(frame):
        name = frame.f_globals.get("__name__", "")
        return name == __name__ or name == "importlib" or name.startswith("importlib.") or \
            frame.f_code.co_filename.startswith("<frozen importlib")

    tb = exc.__traceback__
    while tb is not None and ours(tb.tb_frame):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


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
        if _missing_is_target(exc, module):  # a name to fix, not code that failed: no traceback
            raise LoadError(f"cannot import module '{module}': {exc}", "") from None
        raise LoadError(f"importing module '{module}' raised {_describe(exc)}",
                        _format(exc)) from None
    except BaseException as exc:  # SystemExit and KeyboardInterrupt included: never crash
        raise LoadError(f"importing module '{module}' raised {_describe(exc)}",
                        _format(exc)) from None
    where = f"module '{module}'"
    if not attrs:
        # A module alone: its `app`, else its `application` (gunicorn's default).
        attrs = [name for name in ("app", "application") if hasattr(obj, name)][:1]
        if not attrs:
            raise LoadError(f"{where} has no 'app' or 'application' attribute (give "
                            f"MODULE:ATTR)", "")
        target = f"{module}:{attrs[0]}"
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


def _instance_call(cls):
    for klass in cls.__mro__:
        if "__call__" in klass.__dict__:
            return klass.__dict__["__call__"]
    return None


def is_asgi(app):
    """An ASGI app is a coroutine function, or an object whose __call__ is one; an ASGI 2
    double-callable is a class whose instances have an async __call__(receive, send)."""
    if inspect.iscoroutinefunction(app):
        return True
    if inspect.isclass(app):
        return inspect.iscoroutinefunction(_instance_call(app))
    call = getattr(app, "__call__", None)
    return call is not None and inspect.iscoroutinefunction(call)


def asgi3(app):
    """The app as an ASGI 3 single callable: ASGI 2 double-callables (app(scope) returns an
    instance awaited with (receive, send)) are wrapped, detected the way uvicorn does."""
    if inspect.isclass(app):
        use_asgi3 = hasattr(app, "__await__")
    elif inspect.isfunction(app):
        use_asgi3 = inspect.iscoroutinefunction(app)
    else:
        use_asgi3 = inspect.iscoroutinefunction(getattr(app, "__call__", None))
    if use_asgi3:
        return app

    async def asgi2_adapter(scope, receive, send):
        instance = app(scope)
        await instance(receive, send)

    return asgi2_adapter


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


# --- ASGI ----------------------------------------------------------------------------------


class ClientDisconnected(OSError):
    """Raised by an ASGI send() once the client is gone or the response is over (ASGI spec
    2.4: a server-specific subclass of OSError)."""


def new_event_loop(kind):
    """The loop for --loop KIND, and its name: uvloop when asked or (auto) when importable."""
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError as exc:
            if kind == "uvloop":
                raise LoadError(f"--loop uvloop: uvloop cannot be imported ({exc}); install it "
                                f"into the venv or use --loop asyncio", "") from None
        else:
            return uvloop.new_event_loop(), "uvloop"
    return asyncio.new_event_loop(), "asyncio"


def run_loop(loop, fd, drain, control):
    """The loop thread's body: serve until stopped, then cancel what still runs and give it
    control["grace"] seconds to finish."""
    asyncio.set_event_loop(loop)
    loop.add_reader(fd, drain)
    try:
        loop.run_forever()
        loop.remove_reader(fd)
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.wait(tasks, timeout=control["grace"]))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def run_on_loop(loop, coroutine, timeout):
    """From another thread: run `coroutine` on `loop` and wait for its result (timeout None:
    no limit). The GIL is released while waiting."""
    future = asyncio.run_coroutine_threadsafe(coroutine, loop)
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise


async def run_asgi(app, scope, cycle):
    """One HTTP request or WebSocket connection. `cycle` (C++) answers receive() with the event
    when it has one and send() with None when the message is taken; otherwise with a future."""
    receive_now = cycle.receive
    send_now = cycle.send

    async def receive():
        event = receive_now()
        if event.__class__ is dict:
            return event
        return await event

    async def send(message):
        waiter = send_now(message)
        if waiter is not None:
            await waiter

    try:
        await app(scope, receive, send)
    except BaseException as exc:  # reported by the cycle, with its traceback
        cycle.done(exc)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return
    cycle.done(None)


class Lifespan:
    """The ASGI lifespan protocol (spec 2.0) for one app, as uvicorn runs it: startup before the
    server accepts, shutdown after it drained; `state` is what request scopes copy."""

    def __init__(self, app, mode, state, log):
        self.app = app
        self.mode = mode  # "auto" or "on"
        self.state = state
        self.log = log  # log(level, text)
        self.supported = True
        self.failed = None  # the message of a failed startup or shutdown
        self.startup_done = None
        self.shutdown_done = None
        self.task = None
        self.queue = None
        self.error = False

    async def startup(self):
        """("ok" | "unsupported" | "failed", message)."""
        self.queue = asyncio.Queue()
        self.startup_done = asyncio.Event()
        self.shutdown_done = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._main())
        await self.queue.put({"type": "lifespan.startup"})
        await self.startup_done.wait()
        if self.failed is not None:
            return "failed", self.failed
        if self.error and self.mode == "on":
            return "failed", "the app raised during lifespan startup (see the log)"
        if not self.supported:
            if self.mode == "on":
                return "failed", "the app does not support the lifespan protocol (--lifespan on)"
            return "unsupported", ""
        return "ok", ""

    async def shutdown(self):
        """("ok" | "failed", message) once the app finished its shutdown."""
        if not self.supported or self.task is None or self.task.done():
            return "ok", ""
        await self.queue.put({"type": "lifespan.shutdown"})
        await self.shutdown_done.wait()
        if self.failed is not None:
            return "failed", self.failed
        return "ok", ""

    async def _main(self):
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": self.state}
        try:
            await self.app(scope, self.queue.get, self._send)
            if not self.startup_done.is_set():
                # Returned without a word: an app that ignores scope types it does not know.
                self.supported = False
                self.log("debug", "the app returned from the ASGI lifespan scope without "
                         "starting up; going on without lifespan")
        except BaseException as exc:
            self.error = True
            if self.startup_done.is_set() or self.mode == "on":
                self.log("error", "exception in ASGI lifespan:\n" + _format(exc).rstrip())
            else:
                self.supported = False
                self.log("debug", "the app does not support the ASGI lifespan protocol ("
                         + _describe(exc) + "); going on without it")
        finally:
            self.startup_done.set()
            self.shutdown_done.set()

    async def _send(self, message):
        kind = message.get("type")
        if kind == "lifespan.startup.complete":
            self.startup_done.set()
        elif kind == "lifespan.startup.failed":
            self.failed = message.get("message") or "lifespan startup failed"
            self.startup_done.set()
        elif kind == "lifespan.shutdown.complete":
            self.shutdown_done.set()
        elif kind == "lifespan.shutdown.failed":
            self.failed = message.get("message") or "lifespan shutdown failed"
            self.shutdown_done.set()
        else:
            raise RuntimeError(f"unexpected ASGI lifespan message {kind!r}")
