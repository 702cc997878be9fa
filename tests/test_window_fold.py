"""WindowFold: finest-window summaries folded into every window, with Flink's timer rules played by
a small harness (a timer fires once the watermark reaches it, in time order)."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np

from topk.settings import WindowSettings
from topk.sketches import HeavyHittersSketch
from topk.sketches.accuracy import ranked
from topk.windows import HOUR_MS, parse_windows
from udfs.topk_window import TopKWindowFunction, states_per_group
from udfs.window_fold import Emit, WindowFold

MINUTE = 60_000
DAY = 24 * HOUR_MS
CAPACITY = 64


class DictState(dict):
    """PyFlink's MapState as the fold uses it; counts reads of absent keys (each a JVM round trip)."""

    absent_reads = 0

    def get(self, key: str) -> bytes | None:
        self.absent_reads += key not in self
        return super().get(key)

    def put(self, key: str, value: bytes) -> None:
        self[key] = value

    def remove(self, key: str) -> None:
        self.pop(key, None)  # as Flink's MapState: removing an absent key is no error


class Harness:
    def __init__(self, windows: str, lateness_ms: int = 0) -> None:
        self.fold = WindowFold(parse_windows(windows), lateness_ms)
        self.state, self.timers, self.watermark, self.emits = DictState(), set(), -(2**63), []
        self.most_keys = self.overdue = 0
        self.dropped = False

    def row(self, base_start: int, counts: Counter, late: bool = False) -> None:
        out = self.fold.add(self.state, base_start, sketch_of(counts).serialize(), late, self.watermark)
        self.timers |= out.timers
        self.emits += out.emits
        self.overdue += out.overdue
        self.most_keys = max(self.most_keys, len(self.windows()))

    def windows(self) -> list[str]:
        """The window ids in state (without the fold's index entry)."""
        return [k for k in self.state if k != "index"]

    def advance(self, watermark: int) -> None:
        """Fires every timer up to ``watermark`` in time order, those registered on the way too."""
        self.watermark = watermark
        while due := [t for t in self.timers if t <= watermark]:
            t = min(due)
            self.timers.discard(t)
            out = self.fold.fire(self.state, t + 1)
            self.timers |= out.timers
            self.emits += out.emits
            self.overdue += out.overdue
            self.dropped = out.dropped

    def lose_timers(self) -> None:
        """Every pending timer gone, the state kept: what a restore whose timers went missing leaves."""
        self.timers.clear()

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
    assert h.windows() == [] and h.dropped  # the rest dropped once folded, all-time after its retention


def test_each_window_leaves_state_once_past_its_lateness_and_folded():
    """Three days of minutes with some late rows: after every watermark step the state holds exactly
    the windows not yet past their lateness and not yet folded into the next size."""
    lateness, rng = 5 * MINUTE, np.random.default_rng(2)
    h = Harness("1m,1h,1d,all", lateness_ms=lateness)
    sizes = {"1m": MINUTE, "1h": HOUR_MS, "1d": 24 * HOUR_MS}
    coarser = {"1m": HOUR_MS, "1h": 24 * HOUR_MS, "1d": None}
    for m in range(3 * 24 * 60):
        start = m * MINUTE
        h.advance(start + MINUTE - 2)
        h.row(start, Counter({f"i{rng.integers(50)}": 1}))
        if m % 7 == 0 and m >= 3:
            h.row(start - 3 * MINUTE + 1, Counter({"late": 1}), late=True)
        for key in h.windows():
            label, _, s = key.partition(":")
            if label == "all":
                continue
            s, size = int(s), sizes[label]
            kept = max(s + size + lateness, s - s % coarser[label] + coarser[label] if coarser[label] else 0)
            assert kept - 1 > h.watermark, (key, h.watermark)
        assert len(h.windows()) <= 60 + 5 + 24 + 2 + 2
    h.advance(30 * DAY)  # everything closed, all-time kept (400 days by default)
    assert h.windows() == ["all:0"]


def test_coarser_windows_read_only_the_finer_windows_that_exist():
    """A sparse group (a row every 7 minutes): computing its hours and days never reads an absent
    window."""
    h = Harness("1m,1h,1d,all")
    for m in range(0, 2 * 24 * 60, 7):
        h.advance(m * MINUTE + MINUTE - 2)
        h.row(m * MINUTE, Counter({"a": 1}))
    h.advance(3 * DAY)
    assert h.state.absent_reads == 1  # the index of the new group
    assert HeavyHittersSketch.deserialize(h.emitted("all")[2 * 24 * HOUR_MS].summary).total_weight == len(
        range(0, 2 * 24 * 60, 7)
    )


def test_a_finest_window_that_all_time_takes_in_is_emitted_with_it():
    """``1m,all``: a minute is emitted at its end together with the all-time view holding it, so no
    reader sees a minute written before all-time has it (as soon as its summary arrives otherwise)."""
    h = Harness("1m,all")
    for m in range(3):
        h.advance(m * MINUTE + MINUTE - 2)
        h.emits.clear()
        h.row(m * MINUTE, Counter({"a": 2}))
        assert h.emits == []
        h.advance(m * MINUTE + MINUTE - 1)
        assert [e.window.label for e in h.emits] == ["1m", "all"]
        assert HeavyHittersSketch.deserialize(h.emits[1].summary).total_weight == 2 * (m + 1)
    h = Harness("1m,1h,all")
    h.row(0, Counter({"a": 2}))
    assert [e.window.label for e in h.emits] == ["1m"]


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
    h.advance(30 * DAY)  # everything closed, all-time kept (400 days by default)
    assert h.windows() == ["all:0"]


def test_a_late_event_in_an_open_hour_reaches_the_hour_once():
    h = Harness("1m,1h,all", lateness_ms=10 * MINUTE)
    h.row(0, Counter({"a": 5}))
    h.advance(2 * MINUTE)
    h.row(30_000, Counter({"a": 1}), late=True)
    assert {e.window.label for e in h.emits} == {"1m"}  # the hour is still open: it will take it in
    h.advance(2**62)
    assert HeavyHittersSketch.deserialize(h.emitted("1h")[0].summary).total_weight == 6
    assert HeavyHittersSketch.deserialize(h.emitted("all")[HOUR_MS].summary).total_weight == 6


def test_an_index_entry_in_the_form_written_before_is_read_and_rewritten():
    """An entry listing window ids (``"1m:0,1h:0;..."``, as written before the by-label form) gives
    the same windows, state and all-time as the same rows on an entry in the current form."""
    rng = np.random.default_rng(7)
    rows = minutes(rng, 3 * 24 * 60)
    runs = []
    for old_form in (False, True):
        h = Harness("1m,1h,1d,all", lateness_ms=20 * MINUTE)
        for i, (start, counts) in enumerate(rows):
            if old_form and i % 500 == 250:
                text, _, tail = h.state["index"].decode().partition(";")
                by_label = [part.partition("=") for part in text.split(" ")]
                ids = [f"{label}:{s}" for label, _, starts in by_label for s in starts.split(",")]
                h.state["index"] = (",".join(ids) + (f";{tail}" if tail else "")).encode()
            h.row(start, counts)
            assert "=" in h.state["index"].decode().partition(";")[0]  # written back in the current form
            h.advance(start + MINUTE - 1)
        h.advance(9 * DAY)
        runs.append((h.emits, dict(h.state)))
    assert runs[0] == runs[1]


def test_windows_no_longer_configured_are_dropped_from_state():
    h = Harness("1m,all")
    h.state.put("1h:0", sketch_of(Counter({"x": 1})).serialize())  # from a savepoint of a job with 1h
    h.state.put("index", b"1h:0")
    h.row(0, Counter({"a": 1}))
    h.advance(30 * DAY)  # everything closed, all-time kept (400 days by default)
    assert h.windows() == ["all:0"]
    assert sorted(h.emitted("all")) == [MINUTE]  # one finite size: all-time folds every minute


def test_a_group_without_events_for_the_all_time_retention_leaves_no_state():
    h = Harness("1m,1h,all")
    h.fold = WindowFold(parse_windows("1m,1h,all", "all=2d"), 0)
    h.row(0, Counter({"a": 1}))
    h.advance(DAY)
    h.row(DAY, Counter({"b": 1}))  # a day later: the all-time view is kept 2 days from this hour on
    h.advance(2 * DAY + HOUR_MS)
    assert h.windows() == ["all:0"] and not h.dropped
    assert len([t for t in h.timers if t > h.watermark]) == 1  # one expiry timer pending, moved on
    h.advance(3 * DAY + HOUR_MS)
    assert h.state == {} and h.dropped
    h.row(4 * DAY, Counter({"c": 2}))  # back: a new all-time view, from zero
    h.advance(4 * DAY + HOUR_MS)
    assert HeavyHittersSketch.deserialize(h.emitted("all")[4 * DAY + HOUR_MS].summary).total_weight == 2


def test_an_all_time_view_kept_forever_is_never_dropped():
    h = Harness("1m,1h,all")
    h.fold = WindowFold(parse_windows("1m,1h,all", "all=forever"), 0)
    h.row(0, Counter({"a": 1}))
    h.advance(2**62)
    assert h.windows() == ["all:0"] and not h.dropped


def test_an_all_time_view_made_by_a_late_event_expires_too():
    """A group whose only event is late and reaches all-time after its hour closed: its all-time view
    is kept its retention from then, and dropped after it like any other."""
    h = Harness("1m,1h,all", lateness_ms=5 * MINUTE)
    h.fold = WindowFold(parse_windows("1m,1h,all", "all=2d"), 5 * MINUTE)
    h.advance(HOUR_MS + 2 * MINUTE)
    h.row(HOUR_MS - MINUTE, Counter({"late": 1}), late=True)  # minute 59, read at 01:02
    assert [e.window.label for e in h.emits] == ["1m", "1h", "all"]
    h.advance(2 * DAY)
    assert h.windows() == ["all:0"] and not h.dropped
    h.advance(3 * DAY)
    assert h.state == {} and h.dropped


def test_windows_whose_timers_were_lost_are_computed_once_each_on_the_next_row_or_timer():
    """A group whose pending timers go missing now and then (rows every few minutes, some hours
    without any): every hour, day and all-time view is still emitted once, equal to a run that lost
    none, and the state ends the same; the windows computed late are counted."""
    for seed in range(6):
        rng = np.random.default_rng(seed)
        rows = [
            (m * MINUTE, Counter(f"i{r}" for r in rng.zipf(1.3, 30))) for m in range(3 * 24 * 60) if rng.random() < 0.02
        ]
        runs = []
        for lose in (False, True):
            h = Harness("1m,1h,1d,all", lateness_ms=seed % 2 * 5 * MINUTE)
            for start, counts in rows:
                h.advance(start + MINUTE - 2)
                h.row(start, counts)
                if lose and rng.random() < 0.5:
                    h.lose_timers()
            h.row(4 * DAY, Counter({"last": 1}))  # a row after every window closed settles them all
            h.advance(6 * DAY)
            runs.append(h)
        kept, lost = runs
        for label in ("1h", "1d"):
            windows = [e.start for e in lost.emits if e.window.label == label]
            assert len(windows) == len(set(windows)), label  # none emitted twice
            assert {s: e.summary for s, e in lost.emitted(label).items()} == {
                s: e.summary for s, e in kept.emitted(label).items()
            }, label
        final = max(kept.emitted("all"))
        assert lost.emitted("all")[final].summary == kept.emitted("all")[final].summary
        assert lost.windows() == kept.windows() == ["all:0"]
        assert lost.state == kept.state
        assert kept.overdue == 0 and lost.overdue > 0


def test_every_window_holds_every_event_whatever_timers_are_lost_and_late_events_come():
    """Random watermark jumps, late events up to a lateness beyond the hour, and every pending timer
    lost now and then: each hour, day and quarter, and all-time, ends with its exact total; with none
    lost, every window is computed at its own timer."""
    for windows, lateness in (("1m,1h,1d,all", 90 * MINUTE), ("1m,15m,1h,all", 20 * MINUTE), ("1m,1d,all", 0)):
        for seed, lose in itertools.product(range(4), (0, 0.05)):
            rng, h = np.random.default_rng(seed), Harness(windows, lateness_ms=lateness)
            sizes = h.fold.chain[1:]
            truth, total, m = Counter(), 0, 0
            while m < 2 * 24 * 60:
                if lateness and rng.random() < 0.3 and h.watermark > lateness:
                    t = h.watermark - int(rng.integers(0, lateness - 1))
                    truth.update((w.label, w.start_of(t)) for w in sizes)
                    h.row(t - t % MINUTE, Counter({"late": 1}), late=True)
                    total += 1
                if rng.random() < 0.1:
                    truth.update((w.label, w.start_of(m * MINUTE)) for w in sizes)
                    h.row(m * MINUTE, Counter({"x": 1}))
                    total += 1
                if rng.random() < lose:
                    h.lose_timers()
                m += int(rng.choice([1, 1, 1, 3, 17, 61]))
                h.advance(m * MINUTE - MINUTE + int(rng.integers(0, MINUTE - 1)))
            h.row(5 * DAY, Counter({"z": 1}))
            h.advance(9 * DAY)
            case = (windows, seed, lose)
            for (label, start), n in truth.items():
                assert HeavyHittersSketch.deserialize(h.emitted(label)[start].summary).total_weight == n, (*case, start)
            final = h.emitted("all")[max(h.emitted("all"))]
            assert HeavyHittersSketch.deserialize(final.summary).total_weight == total + 1, case
            assert lose or h.overdue == 0, case


def test_an_hour_whose_timer_was_lost_takes_a_late_event_after_its_minutes():
    """The hour is computed from its minutes before the late event is added to it, not from the late
    event alone; all-time takes both in once."""
    h = Harness("1m,1h,all", lateness_ms=10 * MINUTE)
    h.row(5 * MINUTE, Counter({"a": 5}))
    h.lose_timers()
    h.advance(HOUR_MS + 2 * MINUTE)
    assert h.emitted("1h") == {}
    h.emits.clear()
    h.row(HOUR_MS - MINUTE, Counter({"b": 1}), late=True)
    assert HeavyHittersSketch.deserialize(h.emitted("1h")[0].summary).total_weight == 6
    assert [e.window.label for e in h.emits] == ["1h", "all", "1m", "1h", "all"]
    assert HeavyHittersSketch.deserialize(h.emits[-1].summary).total_weight == 6


def test_a_late_event_finds_its_hour_computed_while_an_earlier_hour_keeps_its_minutes():
    """A lateness beyond the hour keeps hour 0's minutes past hour 1's end, so an on-time row does not
    look further; a late event does, before it reaches hour 1."""
    h = Harness("1m,1h,all", lateness_ms=90 * MINUTE)
    h.row(50 * MINUTE, Counter({"a": 1}))
    h.advance(70 * MINUTE)
    h.row(70 * MINUTE, Counter({"b": 1}))
    h.lose_timers()
    h.advance(122 * MINUTE)
    h.row(100 * MINUTE, Counter({"c": 1}), late=True)
    assert HeavyHittersSketch.deserialize(h.emitted("1h")[HOUR_MS].summary).total_weight == 2
    h.advance(30 * DAY)
    assert HeavyHittersSketch.deserialize(h.emitted("all")[2 * HOUR_MS].summary).total_weight == 3


def test_an_all_time_view_whose_expiry_timer_was_lost_expires_on_the_next_row():
    h = Harness("1m,1h,all")
    h.fold = WindowFold(parse_windows("1m,1h,all", "all=2d"), 0)
    h.row(0, Counter({"a": 1}))
    h.advance(2 * HOUR_MS)
    h.lose_timers()
    h.advance(4 * DAY)
    assert "all:0" in h.state  # nothing fired: kept past its retention
    h.row(4 * DAY, Counter({"b": 2}))
    assert "all:0" not in h.state  # dropped before the new row
    h.advance(4 * DAY + HOUR_MS)
    assert HeavyHittersSketch.deserialize(h.emitted("all")[4 * DAY + HOUR_MS].summary).total_weight == 2


def test_an_all_time_view_whose_expiry_timer_was_lost_still_expires_once_the_group_is_quiet():
    """Every fold sets the expiry check's timer again, so a group that goes quiet after the loss is
    dropped on time."""
    h = Harness("1m,1h,all")
    h.fold = WindowFold(parse_windows("1m,1h,all", "all=2d"), 0)
    h.row(0, Counter({"a": 1}))
    h.advance(2 * HOUR_MS)
    h.lose_timers()
    for m in range(120, 240, 7):
        h.advance(m * MINUTE + MINUTE - 2)
        h.row(m * MINUTE, Counter({"b": 1}))
    h.advance(100 * DAY)
    assert h.state == {} and h.dropped


def test_an_upgrade_to_a_finer_cadence_takes_no_window_into_all_time_twice():
    """``1m,all`` folds each minute into all-time; restored as ``1m,1h,all`` within the lateness after an
    hour, the minutes kept for their lateness are not made into an hour and folded again."""
    h = Harness("1m,all", lateness_ms=10 * MINUTE)
    for m in range(56, 60):
        h.advance(m * MINUTE + MINUTE - 2)
        h.row(m * MINUTE, Counter({"a": 1}))
    h.advance(HOUR_MS + 4 * MINUTE)
    h.fold = WindowFold(parse_windows("1m,1h,all"), 10 * MINUTE)
    h.row(HOUR_MS + 5 * MINUTE, Counter({"b": 1}))
    h.advance(30 * DAY)
    assert h.emitted("1h").keys() == {HOUR_MS}  # hour 0 was all-time's already, minute by minute
    assert HeavyHittersSketch.deserialize(h.emitted("all")[2 * HOUR_MS].summary).total_weight == 5
    assert h.overdue == 0


class Registered:
    """A stand-in for PyFlink's runtime context that records the keyed states a function registers."""

    def __init__(self) -> None:
        self.states: list[str] = []

    def get_state(self, descriptor):
        self.states.append(descriptor.get_name())

    get_map_state = get_state

    def get_metrics_group(self):
        return _Metrics()


class _Metrics:
    def __getattr__(self, name):
        return lambda *args, **kwargs: self


def test_states_per_group_counts_the_states_the_sketch_operator_registers():
    """The worker's state cache is sized by ``states_per_group`` (jobs/environment.py): one per state a
    group holds, so a state added to the operator must be counted there."""
    for alert_phi in (None, 0.1):
        context = Registered()
        TopKWindowFunction(WindowSettings(), 10, alert_phi).open(context)
        assert len(set(context.states)) == len(context.states) == states_per_group(alert_phi is not None)
