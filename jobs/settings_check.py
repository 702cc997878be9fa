"""Check job flags before submitting, so a mistake fails at once with a clear message, not as a
restarting job: bad values (``--windows 1m,7m``, ``--k`` above ``--capacity``) and a Kafka
bootstrap list with no reachable broker.

python -m jobs.settings_check [job flags]   ->  exit 2 with the reason, or 0
"""

from __future__ import annotations

import socket
import sys

from jobs.settings import JobSettings, parse_args


def reachable_brokers(bootstrap_servers: str, timeout_s: float = 5.0) -> list[str]:
    """The ``host:port`` entries that accept a TCP connection."""
    up = []
    for entry in bootstrap_servers.split(","):
        host, _, port = entry.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
            up.append(entry.strip())
        except (OSError, ValueError):
            continue
    return up


def check(argv: list[str]) -> JobSettings:
    """The settings, or ``ValueError`` saying what is wrong."""
    settings = parse_args(argv)
    if not reachable_brokers(settings.bootstrap_servers):
        raise ValueError(f"no Kafka broker reachable at {settings.bootstrap_servers}")
    return settings


if __name__ == "__main__":
    try:
        check(sys.argv[1:])
    except ValueError as err:
        print(f"invalid job settings: {err}", file=sys.stderr)
        sys.exit(2)
