"""`junction ARGS...` and `python -m junction ARGS...`: the server's command line (`--help`)."""

import sys


def main(argv=None) -> int:
    """Runs the server with `argv` (default: this process's arguments); returns the exit code."""
    from junction import _native

    args = list(sys.argv[1:] if argv is None else argv)
    # The program name the usage and error lines show, as the user typed it.
    prog = "junction" if argv is not None or not sys.argv[0].endswith("__main__.py") \
        else "python -m junction"
    return _native.run([prog, *args])


if __name__ == "__main__":
    sys.exit(main())
