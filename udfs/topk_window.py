"""Keyed by (dimension, value): folds per-window exact counts into one heavy-hitters sketch
per configured window, and emits a ``WindowResult`` when the watermark passes the window.

State is ``MapState[window id -> serialized sketch]`` (our versioned format, not pickle), so
savepoints survive code upgrades. Each batch is applied in (count desc, item) order, so the
sketches, and what is written, are the same on every replay of the same input.

Metrics (group ``topk``): ``eventsCounted`` and ``eventsCountedPerSecond`` (valid events, from the
``all`` rows), ``countBatches``, ``sketchUpdateMicros`` (per batch, all windows), ``windowsEmitted``,
``errorBound`` (per emitted window), ``windowEmitLagMs`` (wall clock minus window end, last emit).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor

from jobs.settings import JobSettings, WindowSpec
from sketches import HeavyHittersSketch
from udfs.window_result import WindowResult


class TopKWindowFunction(KeyedProcessFunction):
    def __init__(self, settings: JobSettings) -> None:
        self.settings = settings
        self.base = settings.base_window
        self.windows = {w.label: w for w in settings.windows}
        self.sketches = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.sketches = runtime_context.get_map_state(
            MapStateDescriptor("sketches", Types.STRING(), Types.PRIMITIVE_ARRAY(Types.BYTE()))
        )
        group = runtime_context.get_metrics_group().add_group("topk")
        self.events = group.counter("eventsCounted")
        self.events_rate = group.meter("eventsCountedPerSecond", time_span_in_seconds=60)
        self.batches = group.counter("countBatches")
        self.update_micros = group.distribution("sketchUpdateMicros")
        self.windows_emitted = group.counter("windowsEmitted")
        self.error_bounds = group.distribution("errorBound")
        self.emit_lag_ms = 0
        group.gauge("windowEmitLagMs", lambda: self.emit_lag_ms)

    def _new_sketch(self) -> HeavyHittersSketch:
        s = self.settings
        return HeavyHittersSketch(s.capacity, s.cms_width, s.cms_depth)

    def process_element(self, row: Row, ctx: KeyedProcessFunction.Context) -> Iterator[WindowResult]:
        base_start = ctx.timestamp() + 1 - self.base.size_ms  # row time is the base window's last ms
        ranked = sorted(json.loads(row.counts).items(), key=lambda p: (-p[1], p[0]))
        items, counts = [p[0] for p in ranked], [p[1] for p in ranked]
        started = time.perf_counter()
        for w in self.windows.values():
            wid = f"{w.label}:{w.start_of(base_start)}"
            blob = self.sketches.get(wid)
            sketch = HeavyHittersSketch.deserialize(blob) if blob is not None else self._new_sketch()
            sketch.update_batch(items, counts)
            self.sketches.put(wid, sketch.serialize())
            end = base_start + self.base.size_ms if w.is_all_time else w.start_of(base_start) + w.size_ms
            ctx.timer_service().register_event_time_timer(end - 1)
        self.update_micros.update(int((time.perf_counter() - started) * 1e6))
        self.batches.inc()
        if row.dim == "all":
            self.events.inc(sum(counts))
            self.events_rate.mark_event(sum(counts))
        return iter(())

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[WindowResult]:
        dimension, value = ctx.get_current_key()
        end = timestamp + 1
        for wid in list(self.sketches.keys()):
            label, start_text = wid.split(":")
            w, start = self.windows.get(label), int(start_text)
            if w is None:  # window size removed from the configuration since the savepoint
                self.sketches.remove(wid)
                continue
            if not w.is_all_time and start + w.size_ms != end:
                continue
            yield self._result(w, dimension, value, start, end, HeavyHittersSketch.deserialize(self.sketches.get(wid)))
            if not w.is_all_time:
                self.sketches.remove(wid)

    def _result(
        self, w: WindowSpec, dimension: str, value: str, start: int, end: int, sketch: HeavyHittersSketch
    ) -> WindowResult:
        self.windows_emitted.inc()
        self.error_bounds.update(sketch.maximum_error)
        self.emit_lag_ms = int(time.time() * 1000) - end
        return WindowResult(
            window=w.label,
            dimension=dimension,
            value=value,
            window_start=start,
            window_end=end,
            total_events=sketch.total_weight,
            error_bound=sketch.maximum_error,
            k=self.settings.k,
            capacity=self.settings.capacity,
            items=tuple(sketch.top_k(self.settings.k)),
            summary=sketch.serialize(),
        )
