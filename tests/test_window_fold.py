"""WindowFold: finest-window summaries folded into every window, with Flink's timer rules played by
a small harness (a timer fires once the watermark reaches it, in time order)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from jobs.settings import HOUR_MS, parse_windows
from sketches import HeavyHittersSketch
from sketches.accuracy import ranked
from udfs.window_fold import Emit, WindowFold

MINUTE = 60_000
CAPACITY = 64


class DictState(dict):
    def put(self, key: str, value: bytes) -> None:
        self[key] = value

    def remove(self, key: str) -> None:
        del self[key]


class Harness:
    def __init__(self, windows: str, lateness_ms: int = 0) -> None:
        self.fold = WindowFold(parse_windows(windows), lateness_ms)
        self.state, self.timers, self.watermark, self.emits = DictState(), set(), -(2**63), []
        self.most_keys = 0

    def row(self, base_start: int, counts: Counter, late: bool = False) -> None:
        out = self.fold.add(self.state, base_start, sketch_of(counts).serialize(), late, self.watermark)
        self.timers |= out.timers
        self.emits += out.emits
        self.most_keys = max(self.most_keys, len(self.state))

    def advance(self, watermark: int) -> None:
        self.watermark = watermark
        for t in sorted(t for t in self.timers if t <= watermark):
            self.timers.discard(t)
            out = self.fold.fire(self.state, t + 1)
            self.timers |= out.timers
            self.emits += out.emits

    def emitted(self, label: str) -> dict[int, Emit]:
        """The last emission of each window of this size, by start (all-time: by end)."""
        found = {}
        for e in self.emits:
            if e.window.label == label:
                found[e.end if label == "all" else e.start] = e
        return found


def sketch_of(counts: Counter) -> HeavyHittersSketch:
    s = HeavyHittersSketch(CAPACITY, 256, 4)
    pairs = ranked(counts)
    s.update_batch([x for x, _ in pairs], [c for _, c in pairs])
    return s


def minutes(rng: np.random.Generator, n: int, start: int = 0) -> list[tuple[int, Counter]]:
    """``n`` minutes of a stream whose vocabulary shifts every 20 minutes, beyond capacity."""
    out = []
    for m in range(n):
        ranks = rng.zipf(1.2, 400) % 500 + 1000 * (m // 20)
        out.append((start + m * MINUTE, Counter(f"i{r}" for r in ranks)))
    return out


def check(emit: Emit, truth: Counter) -> None:
    sketch = HeavyHittersSketch.deserialize(emit.summary)
    assert sketch.total_weight == sum(truth.values())
    for item, f in truth.items():
        c = sketch.count(item)
        assert c.lower_bound <= f <= c.upper_bound, (emit.window.label, item)


def test_minutes_fold_into_hours_days_and_all_time_once_each():
    rng, h = np.random.default_rng(1), Harness("1m,1h,1d,all")
    stream = minutes(rng, 150)  # 2.5 hours
    for start, counts in stream:
        h.advance(start + MINUTE - 2)  # the row arrives just before its window's last ms
        h.row(start, counts)
    h.advance(2**62)
    assert sorted(h.emitted("1m")) == [s for s, _ in stream]
    assert sorted(h.emitted("1h")) == [0, HOUR_MS, 2 * HOUR_MS]
    assert sorted(h.emitted("1d")) == [0]
    assert sorted(h.emitted("all")) == [HOUR_MS, 2 * HOUR_MS, 3 * HOUR_MS]  # at each hour's end
    for start, counts in stream:
        check(h.emitted("1m")[start], counts)
    for hour in (0, 1, 2):
        truth = sum((c for s, c in stream if s // HOUR_MS == hour), Counter())
        check(h.emitted("1h")[hour * HOUR_MS], truth)
    everything = sum((c for _, c in stream), Counter())
    check(h.emitted("1d")[0], everything)
    check(h.emitted("all")[3 * HOUR_MS], everything)
    assert h.most_keys <= 60 + 24 + 2  # a day's hours, an hour's minutes, the day and all-time
    assert list(h.state) == ["all:0"]  # the rest dropped once folded


def test_a_late_event_updates_every_window_already_emitted_and_nothing_twice():
    h = Harness("1m,1h,all", lateness_ms=10 * MINUTE)
    h.row(0, Counter({"a": 5}))
    h.advance(HOUR_MS - 2)
    h.row(HOUR_MS - MINUTE, Counter({"b": 2}))
    h.advance(HOUR_MS + 3 * MINUTE)  # the hour is emitted; its minutes stay for the lateness
    assert "1m:0" not in h.state and f"1m:{HOUR_MS - MINUTE}" in h.state
    h.emits.clear()
    h.row(HOUR_MS - 30_000, Counter({"b": 1}), late=True)  # in the hour's last minute
    by_window = {e.window.label: HeavyHittersSketch.deserialize(e.summary) for e in h.emits}
    assert set(by_window) == {"1m", "1h", "all"}
    assert by_window["1m"].count("b").upper_bound == 3
    assert by_window["1h"].total_weight == by_window["all"].total_weight == 8
    h.advance(2**62)
    assert list(h.state) == ["all:0"]


def test_a_late_event_in_an_open_hour_reaches_the_hour_once():
    h = Harness("1m,1h,all", lateness_ms=10 * MINUTE)
    h.row(0, Counter({"a": 5}))
    h.advance(2 * MINUTE)
    h.row(30_000, Counter({"a": 1}), late=True)
    assert {e.window.label for e in h.emits} == {"1m"}  # the hour is still open: it will take it in
    h.advance(2**62)
    assert HeavyHittersSketch.deserialize(h.emitted("1h")[0].summary).total_weight == 6
    assert HeavyHittersSketch.deserialize(h.emitted("all")[HOUR_MS].summary).total_weight == 6


def test_windows_no_longer_configured_are_dropped_from_state():
    h = Harness("1m,all")
    h.state.put("1h:0", sketch_of(Counter({"x": 1})).serialize())  # from a savepoint of a job with 1h
    h.row(0, Counter({"a": 1}))
    h.advance(2**62)
    assert list(h.state) == ["all:0"]
    assert sorted(h.emitted("all")) == [MINUTE]  # one finite size: all-time folds every minute
