"""Cover a time range with the fewest stored windows: days, then hours, then minutes at the edges."""

from __future__ import annotations

from dataclasses import dataclass

from jobs.settings import WindowSpec


@dataclass(frozen=True)
class Tiling:
    tiles: list[tuple[WindowSpec, int]]  # (window size, window start), in time order
    covered_start: int  # the interval the tiles cover exactly: [covered_start, covered_end)
    covered_end: int


def tile(start_ms: int, end_ms: int, windows: list[WindowSpec]) -> Tiling:
    """Largest windows first, aligned to their own size. Ends not on a boundary of the finest
    window are shrunk to it, and the answer says so through ``covered_start/covered_end``."""
    sized = sorted((w for w in windows if not w.is_all_time), key=lambda w: w.size_ms, reverse=True)
    if not sized:
        raise ValueError("no sized windows to tile with")
    base = sized[-1].size_ms
    lo = -(-start_ms // base) * base
    hi = end_ms - end_ms % base
    tiles: list[tuple[WindowSpec, int]] = []
    t = lo
    while t < hi:
        w = next(w for w in sized if t % w.size_ms == 0 and t + w.size_ms <= hi)
        tiles.append((w, t))
        t += w.size_ms
    return Tiling(tiles, lo, max(lo, hi))
