"""Keyed by (tenant, dimension, value) (``group_key``): a thin shell over ``udfs.window_fold.WindowFold`` that keeps its
state in Flink (``MapState[window id -> serialized sketch]`` plus an index entry, our versioned format, so savepoints
survive code upgrades), sets its timers and turns what it emits into ``WindowResult`` rows.

Every row carries a serialized sketch built in the JVM (``ItemSummary.java``): a finest window's
summary (``summary`` rows) or one late event's (``late`` rows), and its tenant's parameters in force
(``config``, ``topk.tenant_config``; null when the tenant has none). The versions a group has seen are
kept in state (``params``: the last ``KEPT_VERSIONS``); a window is emitted with the k, and only if in
the windows, of the version in force at its last finest window, and its ``WindowResult.params`` says
which. Its alerts (``topk.alerts``: items certainly above the version's alertPhi of a window) ride on
its result (``WindowResult.alerts``); the items a window still open to late events has alerted are kept
in state (``alerted``, written only when a window has alerts; registered only by a job that alerts: a
job restarted without alerts leaves a group's entry in place until alerts are on again), so a window
emitted again alerts only what is new. The same input gives the same sketches on every replay as
long as each (finest window, dimension value) holds at most 2 x capacity distinct items, or its
events arrive in the same order (one partition); beyond that, replays agree within the stated bounds.

Metrics (group ``topk``): ``eventsCounted`` and ``eventsCountedPerSecond`` (valid events, from the
``all`` rows), ``countBatches`` (rows taken in), ``sketchUpdates`` (rows and timers handled),
``sketchUpdateMicros`` (their time in total, merges, top-K and the chained store writers included: the
two rates' ratio is the time per row) and ``sketchCpuMicros`` (this thread's CPU time of the same,
without its waits for a core, the GIL or the JVM's state calls), ``windowsEmitted``, ``errorBound`` and
``windowEmitLagMs`` (the last emitted window's guaranteed error bound, and the wall clock minus its
end), ``lateEventsCounted`` (late events within allowed lateness; later ones are dead letters),
``windowsOverdue`` (windows computed on a later row or timer because their own timer never fired:
``udfs.window_fold``; above 0 means timers went missing). All of them are counters, meters or numeric
gauges: Flink's Prometheus reporter exports a PyFlink distribution as 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from topk.alerts import crossings, take_new
from topk.events import DEFAULT_TENANT
from topk.settings import WindowSettings
from topk.sketches import HeavyHittersSketch
from topk.sketches.heavy_hitters import total_weight
from topk.tenant_config import Params
from topk.window_result import WindowResult
from udfs.recent_windows import RecentWindows
from udfs.route import LATE
from udfs.window_fold import Output, WindowFold

KEPT_VERSIONS = 16
RECENT_WINDOW_BYTES = 64 << 20  # the window summaries last written or read, of any group (``udfs.recent_windows``)


def group_key(row: Row) -> tuple[str, str]:
    """The key of a summary row's group: ``(dimension, value)`` for the default tenant (its key before
    tenants), ``("<tenant>/<dimension>", value)`` for others (no tenant id or dimension name holds a
    ``/``): the key type is unchanged, two strings."""
    scope = row.dim if row.tenant == DEFAULT_TENANT else f"{row.tenant}/{row.dim}"
    return scope, row.val


def states_per_group(alerting: bool) -> int:
    """The keyed states ``TopKWindowFunction`` registers: its windows, its versions, and what it alerted
    when it alerts."""
    return 3 if alerting else 2


def of_group_key(key: tuple[str, str]) -> tuple[str, str, str]:
    """(tenant, dimension, value) of a ``group_key``."""
    tenant, _, dimension = key[0].rpartition("/")
    return tenant or DEFAULT_TENANT, dimension, key[1]


class TopKWindowFunction(KeyedProcessFunction):
    def __init__(self, windows: WindowSettings, k: int, alert_phi: float | None = None) -> None:
        self.k = k
        self.alerting = alert_phi is not None  # None: no alerts (no alerts topic), whatever a tenant sets
        self.alert_phi = alert_phi or 0.0  # for tenants that set none
        self.fold = WindowFold(windows.specs, windows.allowed_lateness_ms)
        self.state = self.params = self.alerted = None

    def open(self, runtime_context: RuntimeContext) -> None:
        windows = runtime_context.get_map_state(
            MapStateDescriptor("windows", Types.STRING(), Types.PRIMITIVE_ARRAY(Types.BYTE()))
        )
        self.state = RecentWindows(windows, RECENT_WINDOW_BYTES)  # made here: a restore starts it empty
        self.params = runtime_context.get_state(ValueStateDescriptor("params", Types.STRING()))
        if self.alerting:  # the worker caches each group's states one by one: only those in use
            self.alerted = runtime_context.get_state(ValueStateDescriptor("alerted", Types.STRING()))
        group = runtime_context.get_metrics_group().add_group("topk")
        self.events = group.counter("eventsCounted")
        self.late_events = group.counter("lateEventsCounted")
        self.events_rate = group.meter("eventsCountedPerSecond", time_span_in_seconds=60)
        self.batches = group.counter("countBatches")
        self.updates = group.counter("sketchUpdates")
        self.update_micros = group.counter("sketchUpdateMicros")
        self.cpu_micros = group.counter("sketchCpuMicros")
        self.windows_emitted = group.counter("windowsEmitted")
        self.windows_overdue = group.counter("windowsOverdue")
        self.alerts_raised = group.counter("alertsRaised")
        self.error_bound = self.emit_lag_ms = 0
        group.gauge("errorBound", lambda: self.error_bound)
        group.gauge("windowEmitLagMs", lambda: self.emit_lag_ms)

    def process_element(self, row: Row, ctx: KeyedProcessFunction.Context) -> Iterator[WindowResult]:
        started = time.perf_counter(), time.thread_time()
        late = row.kind == LATE
        base = self.fold.base
        # a summary row's time is its finest window's last ms; a late row's is the event's time
        base_start = base.start_of(ctx.timestamp()) if late else ctx.timestamp() + 1 - base.size_ms
        watermark = ctx.timer_service().current_watermark()
        summary = bytes(row.summary)
        versions = self._kept_versions(row.config) if row.config else None
        state = self.state.scoped(ctx.get_current_key())
        yield from self._apply(self.fold.add(state, base_start, summary, late, watermark), ctx, versions)
        self.batches.inc()
        if row.dim == "all":
            events = total_weight(summary)
            (self.late_events if late else self.events).inc(events)
            self.events_rate.mark_event(events)
        self._timed(started)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[WindowResult]:
        started = time.perf_counter(), time.thread_time()
        out = self.fold.fire(self.state.scoped(ctx.get_current_key()), timestamp + 1)
        yield from self._apply(out, ctx)
        if out.dropped:  # nothing of the group is kept: neither are its versions, nor what it alerted
            self.params.clear()
            if self.alerted is not None:
                self.alerted.clear()
        self._timed(started)

    def _timed(self, started: tuple[float, float]) -> None:
        """Counts a row or timer and its time since ``started`` (wall, this thread's CPU); the results it
        yielded went through the chained store writers in between."""
        self.updates.inc()
        self.update_micros.inc(int((time.perf_counter() - started[0]) * 1e6))
        self.cpu_micros.inc(int((time.thread_time() - started[1]) * 1e6))

    def _apply(
        self, out: Output, ctx: KeyedProcessFunction.Context, versions: dict[str, str] | None = None
    ) -> Iterator[WindowResult]:
        """Registers ``out``'s timers and yields its windows' results (``versions``: the group's, when already
        read)."""
        for t in sorted(out.timers):
            ctx.timer_service().register_event_time_timer(t)
        self.windows_overdue.inc(out.overdue)
        if not out.emits:
            return
        tenant, dimension, value = of_group_key(ctx.get_current_key())
        by_time = sorted((int(t), d) for t, d in (self._versions() if versions is None else versions).items())
        for e in out.emits:
            last_finest = e.end - self.fold.base.size_ms
            params = Params(next((d for t, d in reversed(by_time) if t <= last_finest), None), self.k, self.alert_phi)
            if not params.stores(e.window.label):
                continue
            sketch = HeavyHittersSketch.deserialize(e.summary)
            self.windows_emitted.inc()
            self.error_bound = sketch.maximum_error
            self.emit_lag_ms = int(time.time() * 1000) - e.end
            result = WindowResult.of(
                sketch,
                window=e.window.label,
                dimension=dimension,
                value=value,
                start=e.start,
                end=e.end,
                k=params.k,
                summary=e.summary,
                tenant=tenant,
                params=params.described,
            )
            if self.alerting and params.alert_phi:
                watermark = ctx.timer_service().current_watermark()
                result = replace(result, alerts=tuple(self._alerts(result, sketch, params, watermark)))
            yield result

    def _alerts(
        self, result: WindowResult, sketch: HeavyHittersSketch, params: Params, watermark: int
    ) -> Iterator[tuple[str, str]]:
        """The records of the window's new crossings; what it has alerted is kept while it may be emitted
        again (entries of windows past that are dropped whenever the entry is written)."""
        found = list(crossings(result, sketch, params.alert_phi, params.watched))
        if not found:
            return
        stored = self.alerted.value()
        alerted: dict[str, list[str]] = json.loads(stored) if stored else {}
        new = take_new(alerted, found, lambda w: self.fold.open_to_late(w, watermark))
        if alerted:
            self.alerted.update(json.dumps(alerted))
        elif stored:
            self.alerted.clear()
        self.alerts_raised.inc(len(new))
        for a in new:
            key, value = a.encode()
            yield key.decode(), value.decode()

    def _versions(self) -> dict[str, str]:
        """This group's versions: effective epoch ms (text) -> the version as ``TenantGate`` describes it."""
        stored = self.params.value()
        return json.loads(stored) if stored else {}

    def _kept_versions(self, described: str) -> dict[str, str]:
        """This group's versions with ``described`` added (and stored) if new."""
        versions = self._versions()
        effective = str(json.loads(described)["effective"])
        if versions.get(effective) != described:
            versions[effective] = described
            versions = {t: versions[t] for t in sorted(versions, key=int)[-KEPT_VERSIONS:]}
            self.params.update(json.dumps(versions))
        return versions
