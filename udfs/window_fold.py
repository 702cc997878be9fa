"""Finest-window summaries folded into every configured window, once each, and when to emit them.

The JVM hands over one bounded summary per (finest window, dimension value) (``ItemSummary.java``).
That summary *is* the finest window's sketch: it is stored as it comes. Each coarser window is
merged in one step from the windows of the next finer size when it ends (an hour from its 60
minutes, a day from its 24 hours: ``HeavyHittersSketch.merge_all``), and the all-time sketch takes
in each window of the *cadence* size when that ends (the second-finest size, e.g. 1h for
``1m,1h,1d,all``, or the finest if there is only one). So an item is hashed once, in the JVM, and
Python's work per finest window is one decode for its top-K plus its share of the merges above it.

A late row (an event behind the watermark, within the allowed lateness) is merged into its finest
window and into every coarser window already computed (and into all-time if its cadence window was
folded), and those are emitted again. A window is kept until it is past its allowed lateness and
its next coarser window has been computed from it. The all-time sketch is kept until its retention
has passed since it last took in a window (``all=`` of ``--retention``); then the group's state is
dropped whole (``Output.dropped``), so a group that stops getting events leaves nothing behind.

Timers only say when: every row and timer first does what the timers up to its watermark were for
(``_settle``), so a window whose timer went missing (as one of the archive job's once did after a
restore) is computed, emitted and folded into all-time once, and counted (``Output.overdue``): on
the group's next timer or late row, or on an on-time row once the group's earliest window of some
size is to be dropped or its coarser window is missing (``_owes``). A group that gets none keeps
such a window in state, unemitted.
After an upgrade that adds a window size, the windows of that size already over are computed from
the finer windows still in state (and counted as overdue), which may be only part of them; none that
all-time took in under the old sizes is taken in again.

State is a map from window id (``topk.windows.window_id``) to a serialized sketch, plus one entry
``index`` listing the windows present, by label (and when the all-time sketch expires, and the end of the
last window it took in), so a coarser window reads only the finer windows that exist (a read of an
absent key is a round trip to the JVM like any other) and nothing ever scans the map's keys (a
RocksDB scan per group). ``State`` is the part of PyFlink's ``MapState`` used here, so this class is
tested with a dict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from topk.sketches import HeavyHittersSketch
from topk.windows import WindowSpec, by_size, of_window_id, window_id


class State(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def put(self, key: str, value: bytes) -> None: ...
    def remove(self, key: str) -> None: ...


@dataclass(frozen=True)
class Emit:
    window: WindowSpec
    start: int
    end: int
    summary: bytes


@dataclass
class Output:
    emits: list[Emit] = field(default_factory=list)
    timers: set[int] = field(default_factory=set)  # event times to be called back at (``fire(t + 1)``)
    dropped: bool = False  # the group's state is empty now: nothing of it is kept
    overdue: int = 0  # windows computed after their end's timer should have fired (it did not)


class WindowFold:
    def __init__(self, windows: Sequence[WindowSpec], allowed_lateness_ms: int) -> None:
        self.chain = by_size(windows)
        self.base = self.chain[0]
        self.all_time = next((w for w in windows if w.is_all_time), None)
        self.cadence = self.chain[min(1, len(self.chain) - 1)]
        # the finest window is also the cadence (e.g. ``1m,all``): it is emitted at its end, with the
        # all-time view that takes it in, so a reader never sees a window all-time does not hold yet
        self.finest_at_end = self.base is self.cadence and self.all_time is not None
        self.coarser = dict(zip(self.chain, self.chain[1:], strict=False))
        self.labels = {w.label: w for w in windows}
        self.lateness = allowed_lateness_ms

    def add(self, state: State, base_start: int, summary: bytes, late: bool, watermark: int) -> Output:
        """Takes in one finest window's summary (``late``: one late event's) at ``base_start``. A
        summary row is its finest window complete (the JVM emits it once, when the watermark passes
        the window's end), so that window is emitted at once (unless ``finest_at_end``); coarser
        ones are computed at their end."""
        out, index = Output(), _Index(state)
        # what timers that did not fire left undone; a late row looks at every window it may reach
        self._settle(index, watermark + 1, out, timer=False, thorough=late)
        for w in self.chain:
            start = w.start_of(base_start)
            end, kept_until = start + w.size_ms, self._kept_until(w, start)
            due = (kept_until,) if w is self.base and not self.finest_at_end else (end, kept_until)
            out.timers.update(t - 1 for t in due if t - 1 > watermark)
            closed = end - 1 <= watermark
            if w is self.base or (late and closed):  # coarser windows still open are computed when they end
                # late events (only with allowed lateness) may reach a finest window before its summary
                merged = index.merge(w.label, start, summary)
                emit_now = closed if late else not self.finest_at_end  # late: its closed windows again
                if emit_now:
                    out.emits.append(Emit(w, start, end, merged))
        cadence_end = self.cadence.start_of(base_start) + self.cadence.size_ms
        if late and cadence_end - 1 <= watermark:  # all-time took its window in: it takes the event too
            self._fold_into_all_time(index, summary, self.cadence.start_of(watermark + 1), out)
        index.save()
        return out

    def fire(self, state: State, end: int) -> Output:
        """At event time ``end - 1``: emits the windows ending at ``end`` (computing the coarser ones
        from their finer windows), folds the cadence window into all-time, and drops what is no
        longer needed (and windows whose size is no longer configured); and whatever earlier timers
        left undone (``_settle``)."""
        out, index = Output(), _Index(state)
        finest = end - self.base.size_ms
        if self.finest_at_end and end % self.base.size_ms == 0 and index.has(self.base.label, finest):
            summary = index.get(self.base.label, finest)
            out.emits.append(Emit(self.base, finest, end, summary))
            self._fold_window(index, summary, end, out)
        self._settle(index, end, out, timer=True, thorough=True)
        out.dropped = index.save()
        return out

    def _settle(self, index: _Index, end: int, out: Output, timer: bool, thorough: bool) -> None:
        """Does what every timer up to event time ``end - 1`` is for, whether it fired or not: computes
        each coarser window ending by ``end`` that is not in state yet (finest size first, each in time
        order; the cadence size's folded into all-time), expires all-time when due and drops windows
        past keeping. A window is in state from when it is computed until its finer windows are gone
        (it is kept at least as long as they are), so none is computed twice. Those whose timer did
        not fire (all but the ones ending at ``end`` when called by the ``timer`` at ``end - 1``) are
        counted in ``out.overdue``. Unless ``thorough``, nothing is done when each size's earliest
        window owes nothing (``_owes``). Not covered: a finest-size window that all-time takes in at its
        end (``finest_at_end``), whose fold leaves no trace in state."""
        expiring = index.cleanup is not None and index.cleanup <= end
        owed = (self._owes(index, label, min(starts), end) for label, starts in index.starts.items())
        if not thorough and not expiring and not any(owed):
            return
        for finer, w in self.coarser.items():  # the windows computed at one size are the next one's finer windows
            for start in sorted({w.start_of(s) for s in index.starts.get(finer.label, ())}):
                if start + w.size_ms > end or index.has(w.label, start) or self._held(index, w, start):
                    continue
                summary = self._compute(index, finer, w, start)
                out.emits.append(Emit(w, start, start + w.size_ms, summary))
                if (kept := self._kept_until(w, start)) > end:  # its own timer may be gone as well
                    out.timers.add(kept - 1)
                out.overdue += not timer or start + w.size_ms < end
                if w is self.cadence:
                    self._fold_window(index, summary, start + w.size_ms, out)
        if expiring:  # the all-time sketch's expiry timer
            self._expire_all_time(index, end, out)
        for label, start in index.windows():
            w = self.labels.get(label)
            if w is None or (not w.is_all_time and self._kept_until(w, start) <= end):
                index.remove(label, start)

    def _owes(self, index: _Index, label: str, start: int, end: int) -> bool:
        """Whether the window (``label``, ``start``) is to be dropped by ``end``, or its coarser window
        has ended and is not in state (the earliest window of each size tells whether any is: a coarser
        window found missing this way later is computed when the earliest is dropped at the latest)."""
        w = self.labels.get(label)
        if w is None or w.is_all_time:
            return w is None
        if self._kept_until(w, start) <= end:
            return True
        coarser = self.coarser.get(w)
        if coarser is None:
            return False
        first = coarser.start_of(start)
        return first + coarser.size_ms <= end and not index.has(coarser.label, first)

    def _held(self, index: _Index, w: WindowSpec, start: int) -> bool:
        """Whether all-time took in the window ``w`` at ``start`` (of the cadence size) although it is
        not in state: its finer windows were folded under other window sizes (an upgrade) and are kept
        only for their lateness, so it is not computed from them."""
        return w is self.cadence and index.folded is not None and start + w.size_ms <= index.folded

    def _fold_window(self, index: _Index, summary: bytes, end: int, out: Output) -> None:
        """The cadence size's window ending at ``end`` taken into all-time, unless all-time holds it
        already (``index.folded``: windows are folded in time order)."""
        if self.all_time is not None and (index.folded is None or end > index.folded):
            index.folded, index.changed = end, True
            self._fold_into_all_time(index, summary, end, out)

    def _fold_into_all_time(self, index: _Index, summary: bytes, end: int, out: Output) -> None:
        """``summary`` (a window ending at ``end``, or a late event's) taken into all-time, which is emitted."""
        if self.all_time is not None:
            all_time = index.merge(self.all_time.label, 0, summary)
            out.emits.append(Emit(self.all_time, 0, end, all_time))
            self._keep_all_time(index, end, out)

    def _expire_all_time(self, index: _Index, end: int, out: Output) -> None:
        """The all-time sketch's expiry timer at ``end``: dropped, unless it took in windows since (then
        checked again at its new expiry)."""
        index.changed, index.cleanup = True, None
        if index.expires is not None and index.expires > end:
            index.cleanup = index.expires
            out.timers.add(index.expires - 1)
        elif self.all_time is not None:
            index.expires = None
            index.remove(self.all_time.label, 0)

    def open_to_late(self, key: str, watermark: int) -> bool:
        """Whether the window ``key`` (a ``window_id``) may still take late events (and be emitted again)."""
        label, start = of_window_id(key)
        w = self.labels.get(label)
        return w is not None and not w.is_all_time and start + w.size_ms + self.lateness - 1 > watermark

    def _keep_all_time(self, index: _Index, end: int, out: Output) -> None:
        """The all-time sketch took in a window ending at ``end``: it is kept its retention from there,
        with one expiry check pending at a time (moved on when it fires early), whose timer is set again
        (Flink keeps one a time) in case it went missing."""
        if self.all_time is None or self.all_time.retention_ms is None:
            return
        index.changed, index.expires = True, max(index.expires or 0, end + self.all_time.retention_ms)
        if index.cleanup is None:
            index.cleanup = index.expires
        out.timers.add(index.cleanup - 1)

    def _compute(self, index: _Index, finer: WindowSpec, w: WindowSpec, start: int) -> bytes:
        """The window ``w`` at ``start`` merged from its finer windows in state (at least one is), and stored."""
        present = index.starts[finer.label]
        starts = range(start, start + w.size_ms, finer.size_ms)
        parts = [index.get(finer.label, s) for s in starts if s in present]
        summary = parts[0] if len(parts) == 1 else _merged_all(parts)
        index.put(w.label, start, summary)
        return summary

    def _kept_until(self, w: WindowSpec, start: int) -> int:
        """Past its allowed lateness, and its next coarser window computed from it."""
        end = start + w.size_ms
        coarser = self.coarser.get(w)
        return max(end + self.lateness, coarser.start_of(start) + coarser.size_ms if coarser else end)


class _Index:
    """The windows in ``state`` (``starts``: label -> their starts), when the all-time sketch expires
    (``expires``) and is next checked (``cleanup``: the pending timer's end), and the end of the last
    window it took in (``folded``), kept in its ``index`` entry as
    ``"<label>=<start>,<start>,... <label>=...[;[<expires>,<cleanup>][;<folded>]]"`` (an entry without
    ``folded`` is read as not knowing it; one that lists ``window_id`` s, ``"<id>,<id>,...;..."``, as
    written before, is read and written back in this form); written back by ``save``."""

    KEY = "index"

    def __init__(self, state: State) -> None:
        self.state, stored = state, state.get(self.KEY)
        text, _, tail = (stored or b"").decode().partition(";")
        self.starts: dict[str, set[int]] = {}
        self.changed = bool(text) and "=" not in text  # the form that listed window ids: rewritten
        if self.changed:
            for key in text.split(","):
                label, start = of_window_id(key)
                self.starts.setdefault(label, set()).add(start)
        elif text:
            for part in text.split(" "):
                label, _, starts = part.partition("=")
                self.starts[label] = set(map(int, starts.split(",")))
        expiry, _, folded = tail.partition(";")
        expires, _, cleanup = expiry.partition(",")
        self.expires, self.cleanup = (int(expires) if expires else None), (int(cleanup) if cleanup else None)
        self.folded = int(folded) if folded else None
        self.stored = stored is not None

    def has(self, label: str, start: int) -> bool:
        return start in self.starts.get(label, ())

    def get(self, label: str, start: int) -> bytes | None:
        """The summary of the window (``label``, ``start``) in state."""
        return self.state.get(window_id(label, start))

    def windows(self) -> list[tuple[str, int]]:
        """(label, start) of every window in state."""
        return [(label, start) for label, starts in self.starts.items() for start in starts]

    def merge(self, label: str, start: int, summary: bytes) -> bytes:
        """Stores ``summary`` merged into the window (``label``, ``start``) (read only if present); returns it."""
        merged = _merged(self.get(label, start) if self.has(label, start) else None, summary)
        self.put(label, start, merged)
        return merged

    def put(self, label: str, start: int, summary: bytes) -> None:
        self.state.put(window_id(label, start), summary)
        starts = self.starts.setdefault(label, set())
        self.changed |= start not in starts
        starts.add(start)

    def remove(self, label: str, start: int) -> None:
        self.state.remove(window_id(label, start))
        starts = self.starts.get(label, set())
        starts.discard(start)
        if not starts:
            self.starts.pop(label, None)
        self.changed = True

    def save(self) -> bool:
        """Writes the entry back if it changed, or removes it when nothing is left; whether nothing is."""
        empty = not self.starts and self.cleanup is None
        if empty and self.stored:
            self.state.remove(self.KEY)
        elif not empty and (self.changed or not self.stored):
            tail = "" if self.cleanup is None else f"{self.expires},{self.cleanup}"
            tail += "" if self.folded is None else f";{self.folded}"
            ids = " ".join(f"{label}={','.join(map(str, sorted(s)))}" for label, s in sorted(self.starts.items()))
            self.state.put(self.KEY, (ids + (f";{tail}" if tail else "")).encode())
        return empty


def _merged(summary: bytes | None, other: bytes) -> bytes:
    if summary is None:
        return other
    merged = HeavyHittersSketch.deserialize(summary)
    merged.merge(HeavyHittersSketch.deserialize(other))
    return merged.serialize()


def _merged_all(summaries: Sequence[bytes]) -> bytes:
    return HeavyHittersSketch.merge_all([HeavyHittersSketch.deserialize(s) for s in summaries]).serialize()
