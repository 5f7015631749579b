#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and serves the example in the foreground: the Django
# project in examples/django_site on 127.0.0.1:8000, from the repository's .venv, with the
# gateway's own health endpoint at /healthz. Extra arguments go to junction, e.g.
# `bash scripts/run.sh --threads 16`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

# The example's SQLite database (sessions, admin users) is created on first run.
.venv/bin/python examples/django_site/manage.py migrate --noinput >/dev/null

exec build/release/junction --bind 127.0.0.1:8000 --health-path /healthz \
  --venv .venv --chdir examples/django_site "$@" django_site.wsgi:application
