"""Cover a time range with the fewest stored windows: days, then hours, then minutes at the edges,
using only windows that were written and are still retained.

* Edges: the range is shrunk to the finest window size still retained at each end (minutes
  expire first, then hours), and the answer says which size each end was rounded to.
* Interior: at each point the coarsest window that fits and is retained. With a catalogue (the
  starts of the windows written, per size) a window that was not written is skipped when no finer
  one inside it was either (no events there), and replaced by finer ones when some were (a window
  not closed yet, e.g. today's day); a stretch with nothing written is jumped over. Work is bounded
  by the windows that exist. Without a catalogue it is one step per tile of the calendar (callers
  bound the range).
* A stretch that no retained window can cover (a range that starts before the finer windows'
  retention and ends within less than a coarser window of it) ends the covered interval there.
* Sizes not kept: with a catalogue, a size that a written coarser window has none of inside it,
  or whose closed window is missing above finer ones written, was not kept for the group (a
  tenant's parameters may keep some sizes only; the query side's ``--windows`` or ``--retention``
  may not be the job's). Its windows missing elsewhere are then not "no events": the range is tiled
  without that size, so its ends round to a size that was kept, and the answer says so. (A size a
  tenant began or stopped keeping inside a window of the next coarser size is not seen.)
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from topk.windows import WindowSpec, by_size


@dataclass(frozen=True)
class Tiling:
    tiles: list[tuple[WindowSpec, int]]  # (window size, window start), in time order
    covered_start: int  # the interval the tiles cover exactly: [covered_start, covered_end)
    covered_end: int
    start_rounded_to: WindowSpec  # the window size the start was rounded up to
    end_rounded_to: WindowSpec  # ... and the end down to


def tile(
    start_ms: int,
    end_ms: int,
    windows: Sequence[WindowSpec],
    now_ms: int,
    written: Mapping[str, Sequence[int]] | None = None,
) -> Tiling:
    """``written``: per window label, the sorted starts of the windows stored (the catalogue), of at
    least the range widened to the coarsest size's boundaries (``widened``); ``None`` to tile as if
    every retained window existed."""
    sized = by_size(windows)
    if not sized:
        raise ValueError("no sized windows to tile with")

    def retained(w: WindowSpec, start: int) -> bool:
        since = w.retained_since(now_ms)
        return since is None or start >= since

    if written is not None:
        sized = _kept(sized, written, start_ms, end_ms, now_ms, retained)

    lo, lo_w = next(((s, w) for w in sized if retained(w, s := -(-start_ms // w.size_ms) * w.size_ms)), (None, None))
    if lo is None:  # even the coarsest windows at the start expired: start where they are still kept
        lo_w = sized[-1]
        lo = -(-max(start_ms, lo_w.retained_since(now_ms)) // lo_w.size_ms) * lo_w.size_ms
    hi, hi_w = next(((e, w) for w in sized if retained(w, (e := end_ms - end_ms % w.size_ms) - w.size_ms)), (lo, lo_w))
    existing = {w.label: set(written.get(w.label, ())) for w in sized} if written is not None else None

    def any_written_inside(finer: Sequence[WindowSpec], start: int, end: int) -> bool:
        return any(_any_in(written.get(f.label, ()), start, end) for f in finer)

    def next_written(start: int) -> int:
        """The earliest start >= ``start`` of any window written (``hi`` if none)."""
        found = hi
        for w in sized:
            starts = written.get(w.label, ())
            i = bisect.bisect_left(starts, start)
            if i < len(starts):
                found = min(found, starts[i])
        return found

    tiles: list[tuple[WindowSpec, int]] = []
    t = lo
    while t < hi:
        if written is not None:
            t = next_written(t)  # nothing written in between: no events there
            if t >= hi:
                break
        fits = [w for w in reversed(sized) if t % w.size_ms == 0 and t + w.size_ms <= hi and retained(w, t)]
        if not fits:  # no retained window covers t: the covered interval ends here
            hi = t
            break
        for n, w in enumerate(fits):
            if existing is None or t in existing[w.label]:
                tiles.append((w, t))
                break
            if not any_written_inside(fits[n + 1 :], t, t + w.size_ms):
                break  # nothing was written in [t, t + size): no events there
        t += w.size_ms
    return Tiling(tiles, lo, max(lo, hi), lo_w, hi_w)


def _kept(
    sized: Sequence[WindowSpec],
    written: Mapping[str, Sequence[int]],
    start_ms: int,
    end_ms: int,
    now_ms: int,
    retained: Callable[[WindowSpec, int], bool],
) -> list[WindowSpec]:
    """The sizes of ``sized`` (finest first) the catalogue ``written`` shows kept. A coarser window is
    merged from the finer windows written inside it, so where a size would still be retained, it was
    not kept when a written coarser window overlapping the range has none of it inside, or when one of
    its windows, closed a window's length ago, is not written though finer ones inside it are. All of
    them, if the catalogue contradicts itself."""

    def overlapping(w: WindowSpec, at: int) -> bool:
        return at < end_ms and at + w.size_ms > start_ms

    kept = []
    for n, w in enumerate(sized):
        starts = written.get(w.label, ())
        unmerged = any(
            overlapping(c, at) and retained(w, at) and not _any_in(starts, at, at + c.size_ms)
            for c in sized[n + 1 :]
            for at in written.get(c.label, ())
        )
        closed = {
            at
            for f in sized[:n]
            for s in written.get(f.label, ())
            if overlapping(w, at := s - s % w.size_ms) and at + 2 * w.size_ms <= now_ms and retained(w, at)
        }
        if not unmerged and closed <= set(starts):
            kept.append(w)
    return kept or list(sized)


def _any_in(starts: Sequence[int], lo: int, hi: int) -> bool:
    """Whether the sorted ``starts`` hold one in ``[lo, hi)``."""
    i = bisect.bisect_left(starts, lo)
    return i < len(starts) and starts[i] < hi


def widened(start_ms: int, end_ms: int, windows: Sequence[WindowSpec]) -> tuple[int, int]:
    """``[start_ms, end_ms)`` out to the boundaries of the coarsest sized window: what ``tile``'s
    catalogue covers, so that every window overlapping the range is seen with the finer ones inside it."""
    size = by_size(windows)[-1].size_ms
    return start_ms - start_ms % size, -(-end_ms // size) * size
