"""Epoch milliseconds to and from text, always UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime


def utc(epoch_ms: int) -> datetime:
    """Epoch ms as an aware UTC datetime."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def epoch_ms(when: datetime) -> int:
    """A datetime as epoch ms; a naive one (as the Cassandra driver returns) is UTC."""
    return round(_aware(when).timestamp() * 1000)


def iso(epoch_ms: int) -> str:
    """Epoch ms as ISO-8601 in UTC with milliseconds, e.g. ``2026-01-01T10:00:00.123Z``."""
    return utc(epoch_ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_minute(epoch_ms: int) -> str:
    """Epoch ms as ``YYYY-MM-DD HH:MM`` in UTC (for people)."""
    return utc(epoch_ms).strftime("%Y-%m-%d %H:%M")


def parse_time_ms(text: str) -> int:
    """Epoch ms (1 to 15 digits) or ISO-8601 (UTC when no offset is given); ``ValueError`` otherwise."""
    if re.fullmatch(r"[0-9]{1,15}", text):
        return int(text)
    return int(_aware(datetime.fromisoformat(text.replace("Z", "+00:00"))).timestamp() * 1000)  # truncated


def _aware(when: datetime) -> datetime:
    """``when``, read as UTC if it has no offset."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)
