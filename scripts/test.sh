#!/usr/bin/env bash
# The test suite: installs what is missing, lints, then runs unit and integration tests.
# Integration tests start their own servers (scripts/servers.sh, test ports) and stop them by PID.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not integration".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
VENV=${TOPK_VENV:-$ROOT/.venv}
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
