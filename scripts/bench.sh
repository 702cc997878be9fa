#!/usr/bin/env bash
# All benchmarks in one run (sketch core and end to end, with their peers); prints a table and
# writes bench/results/bench.json and bench.png. Flags: python -m bench --help.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
"${TOPK_VENV:-$ROOT/.venv}/bin/pip" install -q --disable-pip-version-check -e ".[bench]" 2>&1 | grep -v "^WARNING: Location" || true
exec "${TOPK_VENV:-$ROOT/.venv}/bin/python" -m bench "$@"
