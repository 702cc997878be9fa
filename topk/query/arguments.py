"""Command-line options the query commands share."""

from __future__ import annotations

import argparse


def add_range_arguments(p: argparse.ArgumentParser) -> None:
    """What to answer: ``--start``, ``--end``, ``--k``, ``--dimension``, ``--value``."""
    p.add_argument("--start", required=True, help="epoch ms or ISO-8601 (UTC when no offset)")
    p.add_argument("--end", required=True)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--dimension", default="all")
    p.add_argument("--value", default="all")


def add_archive_arguments(p: argparse.ArgumentParser, default_url: str = "s3://topk-archive") -> None:
    p.add_argument("--archive-url", default=default_url, help="the archive job's --archive-url (empty: none)")
    p.add_argument("--s3-endpoint-url", default="", help="S3-compatible server, e.g. http://127.0.0.1:8333")
