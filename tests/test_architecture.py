"""The architecture, checked by tools: the import contracts in pyproject.toml ([tool.importlinter]),
and a REST API process that loads no Flink."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " 0 broken" in done.stdout


def test_the_rest_api_loads_neither_flink_nor_the_job():
    probe = (
        "import sys, topk.query.api; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyflink', 'apache_beam', 'jobs', 'udfs', 'bench'}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
