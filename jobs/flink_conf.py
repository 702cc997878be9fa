"""Render ``conf/flink-conf.yaml`` into the ``config.yaml`` Flink 2.x reads, failing fast on bad YAML.

python -m jobs.flink_conf conf/flink-conf.yaml OUT_DIR/config.yaml   (env TOPK_ROOT, TOPK_PYTHON, TOPK_S3_ENDPOINT)

``FLINK_PROPERTIES`` (YAML ``key: value`` lines, as in Flink's Docker image) overrides settings of the
file for one cluster, e.g. a smaller TaskManager.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

PLACEHOLDERS = ("TOPK_ROOT", "TOPK_PYTHON", "TOPK_S3_ENDPOINT")


def load(text: str) -> dict[str, object]:
    """The settings as a flat mapping; ``ValueError`` if the text is not a YAML mapping of settings."""
    try:
        settings = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"not valid YAML: {err}") from None
    if not isinstance(settings, dict):
        raise ValueError("expected a mapping of Flink settings (key: value)")
    return settings


def render(text: str, values: dict[str, str], overrides: str = "") -> str:
    for name in PLACEHOLDERS:
        text = text.replace(f"${{{name}}}", values[name])
    settings = load(text)
    if not overrides.strip():
        return text
    return yaml.safe_dump({**settings, **load(overrides)}, sort_keys=False, width=1 << 16)


if __name__ == "__main__":
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    try:
        values = {n: os.environ[n] for n in PLACEHOLDERS}
        dst.write_text(render(src.read_text(), values, os.environ.get("FLINK_PROPERTIES", "")))
    except ValueError as err:
        sys.exit(f"{src}: {err}")
