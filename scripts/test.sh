#!/usr/bin/env bash
# The test suite: installs what is missing, lints, runs the JUnit tests, then unit and integration tests.
# Integration tests start their own servers (scripts/servers.sh, test ports) and stop them by PID.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not integration".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
VENV=${TOPK_VENV:-$ROOT/.venv}
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
bash scripts/junit.sh  # the JVM functions against the golden files the Python tests read too
"$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
