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
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
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
    """``written``: per window label, the sorted starts of the windows stored (the catalogue);
    ``None`` to tile as if every retained window existed."""
    sized = by_size(windows)
    if not sized:
        raise ValueError("no sized windows to tile with")

    def retained(w: WindowSpec, start: int) -> bool:
        since = w.retained_since(now_ms)
        return since is None or start >= since

    lo, lo_w = next(((s, w) for w in sized if retained(w, s := -(-start_ms // w.size_ms) * w.size_ms)), (None, None))
    if lo is None:  # even the coarsest windows at the start expired: start where they are still kept
        lo_w = sized[-1]
        lo = -(-max(start_ms, lo_w.retained_since(now_ms)) // lo_w.size_ms) * lo_w.size_ms
    hi, hi_w = next(((e, w) for w in sized if retained(w, (e := end_ms - end_ms % w.size_ms) - w.size_ms)), (lo, lo_w))
    existing = {w.label: set(written.get(w.label, ())) for w in sized} if written is not None else None

    def any_written_inside(finer: Sequence[WindowSpec], start: int, end: int) -> bool:
        for f in finer:
            starts = written.get(f.label, ())
            i = bisect.bisect_left(starts, start)
            if i < len(starts) and starts[i] < end:
                return True
        return False

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
