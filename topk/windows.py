"""Window sizes and their retention: ``1m``, ``1h``, ``1d``, ``all`` and how long each is kept; the
SQL interval literal for a duration."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass

_UNITS_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
HOUR_MS, DAY_MS = _UNITS_MS["h"], _UNITS_MS["d"]
ALL_TIME = "all"
FOREVER = "forever"
MAX_RETENTION_MS = 7300 * DAY_MS
MAX_SIZE_MS = 365 * DAY_MS  # so that a window of any event time the job takes (before 9999) ends before 9999-12-31


@dataclass(frozen=True)
class WindowSpec:
    """A tumbling window size; ``size_ms == 0`` is the all-time view. Stored windows are kept for
    ``retention_ms`` after they end (event time), ``None``: forever. The all-time view's end is the
    end of the last window it took in, so it is dropped when nothing was added to it for that long."""

    label: str
    size_ms: int
    retention_ms: int | None = None

    @property
    def is_all_time(self) -> bool:
        return self.size_ms == 0

    def start_of(self, ts_ms: int) -> int:
        return 0 if self.is_all_time else ts_ms - ts_ms % self.size_ms

    def expires_at(self, end_ms: int) -> int | None:
        """When the stored window ending at ``end_ms`` expires (epoch ms), ``None``: never."""
        return None if self.retention_ms is None else end_ms + self.retention_ms

    def seconds_left(self, end_ms: int, now_ms: int) -> int | None:
        """Whole seconds (rounded up) the window ending at ``end_ms`` is still kept at ``now_ms``:
        0 or less once expired, ``None`` if kept forever."""
        expires = self.expires_at(end_ms)
        return None if expires is None else -(-(expires - now_ms) // 1000)

    def retained_since(self, now_ms: int) -> int | None:
        """The earliest start of a window still kept at ``now_ms``; ``None``: every window is."""
        return None if self.retention_ms is None else now_ms - self.retention_ms - self.size_ms + 1


def default_retention_ms(size_ms: int) -> int:
    """Windows under an hour are kept 2 days, under a day 90 days, longer ones 400 days (as long as a
    range query reaches back), and an all-time view 400 days after anything was last added to it."""
    return 2 * DAY_MS if 0 < size_ms < HOUR_MS else 90 * DAY_MS if 0 < size_ms < DAY_MS else 400 * DAY_MS


def parse_window(label: str, retention_ms: int | str | None = "default") -> WindowSpec:
    """``"1m"``, ``"15m"``, ``"1h"``, ``"1d"`` (at most 365 days; whole minutes: Redis keys count minutes) or
    ``"all"``."""
    size = 0 if label == ALL_TIME else duration_ms(label)
    if size is None:
        raise ValueError(f"unknown window size {label!r}: use e.g. 1m, 15m, 1h, 1d or all")
    if size > MAX_SIZE_MS:
        raise ValueError(f"window size {label!r} is over 365 days")
    return WindowSpec(label, size, default_retention_ms(size) if retention_ms == "default" else retention_ms)


def duration_ms(text: str) -> int | None:
    """``"15m"``, ``"2h"``, ``"90d"`` in ms; None if it is not one."""
    match = re.fullmatch(r"([1-9][0-9]{0,6})([mhd])", text)
    return int(match.group(1)) * _UNITS_MS[match.group(2)] if match else None


def parse_windows(text: str, retention: str = "") -> tuple[WindowSpec, ...]:
    """``"1m,1h,1d,all"`` as window specs, kept as ``retention`` says (``"1m=2d,1h=90d,1d=forever,all=forever"``;
    a window not named keeps ``default_retention_ms``). A coarser window is kept at least as long as
    a finer one, so a range can always be answered from the coarser windows once the finer expire."""
    kept: dict[str, int | None] = {}
    for part in split_csv(retention):
        label, _, duration = part.partition("=")
        ms = None if duration.strip() == FOREVER else duration_ms(duration.strip())
        if ms is None and duration.strip() != FOREVER:
            raise ValueError(f"bad retention {part!r}: e.g. 1m=2d, 1h=90d, 1d={FOREVER} or all=400d")
        kept[label.strip()] = ms
    windows = tuple(parse_window(w, kept.get(w, "default")) for w in split_csv(text))
    if any((w.retention_ms or 0) > MAX_RETENTION_MS for w in windows):
        raise ValueError("retention is at most 7300d (Cassandra's longest TTL, 20 years), or forever")
    unknown = set(kept) - {w.label for w in windows}
    if unknown:
        raise ValueError(f"retention for windows not configured: {', '.join(sorted(unknown))}")
    for finer, coarser in itertools.pairwise(by_size(windows)):
        if coarser.retention_ms is not None and (
            finer.retention_ms is None or finer.retention_ms > coarser.retention_ms
        ):
            raise ValueError(f"{coarser.label} windows must be kept at least as long as {finer.label} windows")
    return windows


def by_size(windows: Iterable[WindowSpec]) -> list[WindowSpec]:
    """The windows with a size (not the all-time view), finest first."""
    return sorted((w for w in windows if not w.is_all_time), key=lambda w: w.size_ms)


def window_id(label: str, start: int) -> str:
    """One window of a group, as the sketch operator's state and its alerts name it: ``"<label>:<start>"``."""
    return f"{label}:{start}"


def of_window_id(window_id: str) -> tuple[str, int]:
    """(label, start) of a ``window_id``."""
    label, _, start = window_id.partition(":")
    return label, int(start)


def split_csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def sql_interval(ms: int) -> str:
    """A SQL day-time interval literal of ``ms`` milliseconds (Flink allows under 100 days)."""
    days, rest = divmod(ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{rest / 1000:06.3f}' DAY TO SECOND(3)"
