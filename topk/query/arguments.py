"""Command-line options the query commands share."""

from __future__ import annotations

import argparse

from topk.events import DEFAULT_TENANT, check_tenant


def add_range_arguments(p: argparse.ArgumentParser) -> None:
    """What to answer: ``--start``, ``--end``, ``--k``, ``--dimension``, ``--value``, ``--tenant``."""
    p.add_argument("--start", required=True, help="epoch ms or ISO-8601 (UTC when no offset)")
    p.add_argument("--end", required=True)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--dimension", default="all")
    p.add_argument("--value", default="all")
    add_tenant_argument(p)


def add_tenant_argument(p: argparse.ArgumentParser) -> None:
    """``--tenant``: whose results to read."""
    p.add_argument("--tenant", type=check_tenant, default=DEFAULT_TENANT, help="whose results (default: default)")
