"""A CPU-bound WSGI view for bench/workers.sh: `junction --chdir examples/hello cpu_app:app`.

Every request runs the same pure-Python loop (about 2 ms of bytecode on the 2-core bench VM,
CPython 3.11) while holding the GIL, so one interpreter serves at most about 500 requests/s
however many threads it has; only more processes (workers) use more cores. The work is
deterministic: every request, on every server, answers the same 200 with the same body.
"""

ITERATIONS = 80_000  # about 2 ms per request; bench/workers.sh prints the measured cost


def burn(n=ITERATIONS):
    """The work: a loop in Python bytecode (not a C builtin such as sum(range(n)))."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


BODY = f"{burn()}\n".encode()  # the answer every request computes again
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    body = f"{burn()}\n".encode()
    start_response("200 OK", HEADERS)
    return [body]
