"""WSGI apps the end-to-end tests serve: `junction --pythonpath tests/e2e apps.MODULE:ATTR`.

Each module is small and answers what a test asserts on (JSON, hashes, or records written to a
file whose path the request names), so tests check behaviour rather than timing.
"""
