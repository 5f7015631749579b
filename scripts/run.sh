#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and starts the example server in the foreground.
# Extra arguments are passed to junction, e.g. `bash scripts/run.sh --io-threads 2`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

# Until the Python bridges land, the example is the built-in health endpoint.
exec build/release/junction --bind 127.0.0.1:8000 --health-path /healthz "$@"
