#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and serves the example in the foreground: the mixed
# deployment in examples/mixed on 127.0.0.1:8000 — a Django project (WSGI) at / and a FastAPI
# app (ASGI) at /api in one process, sharing one SQLite database — from the repository's .venv,
# with the gateway's own health endpoint at /healthz. Extra arguments go to junction, e.g.
# `bash scripts/run.sh --threads 16`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

# The example's SQLite database (the notes table both halves use) is created on first run.
.venv/bin/python examples/mixed/manage.py migrate --noinput >/dev/null

exec .venv/bin/junction --bind 127.0.0.1:8000 --health-path /healthz \
  --chdir examples/mixed "$@" /api=asgi:api.main:app /=mixedsite.wsgi:application
