"""Keyed by (dimension, value): folds per-window exact counts into one heavy-hitters sketch
per configured window, and emits a ``WindowResult`` when the watermark passes the window.

With allowed lateness, a window's sketch is kept that much longer after it is emitted; a late
event (a ``late`` row) updates it and emits it again, replacing the earlier result downstream.

State is ``MapState[window id -> serialized sketch]`` (our versioned format, not pickle), so
savepoints survive code upgrades. Each batch is applied in (count desc, item) order, so the
sketches, and what is written, are the same on every replay of the same input.

Metrics (group ``topk``): ``eventsCounted`` and ``eventsCountedPerSecond`` (valid events, from the
``all`` rows), ``countBatches``, ``sketchUpdateMicros`` (per batch, all windows), ``windowsEmitted``,
``errorBound`` (per emitted window), ``windowEmitLagMs`` (wall clock minus window end, last emit),
``lateEventsCounted`` (late events within allowed lateness; later ones are dead letters).
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
from sketches.accuracy import ranked
from udfs.route import LATE
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
        self.late_events = group.counter("lateEventsCounted")
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
        late = row.kind == LATE
        # a counts row's time is its base window's last ms; a late row's is the event's time
        base_start = self.base.start_of(ctx.timestamp()) if late else ctx.timestamp() + 1 - self.base.size_ms
        batch = ranked(json.loads(row.counts))
        items, counts = [p[0] for p in batch], [p[1] for p in batch]
        watermark = ctx.timer_service().current_watermark()
        started = time.perf_counter()
        for w in self.windows.values():
            start = w.start_of(base_start)
            wid = f"{w.label}:{start}"
            blob = self.sketches.get(wid)
            sketch = HeavyHittersSketch.deserialize(blob) if blob is not None else self._new_sketch()
            sketch.update_batch(items, counts)
            self.sketches.put(wid, sketch.serialize())
            end = base_start + self.base.size_ms if w.is_all_time else start + w.size_ms
            if not (late and end - 1 <= watermark):
                ctx.timer_service().register_event_time_timer(end - 1)
            elif w.is_all_time:  # emitted up to the watermark's base window: emit that again
                yield self._result(w, *ctx.get_current_key(), start, self.base.start_of(watermark + 1), sketch)
            else:  # already emitted: emit again (and make sure it is dropped after its allowed lateness)
                yield self._result(w, *ctx.get_current_key(), start, end, sketch)
                ctx.timer_service().register_event_time_timer(end - 1 + self.settings.allowed_lateness_ms)
        self.update_micros.update(int((time.perf_counter() - started) * 1e6))
        self.batches.inc()
        if row.dim == "all":
            events = sum(counts)
            (self.late_events if late else self.events).inc(events)
            self.events_rate.mark_event(events)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[WindowResult]:
        """Emits the windows ending at ``timestamp + 1``; drops those past their allowed lateness."""
        dimension, value = ctx.get_current_key()
        end, lateness = timestamp + 1, self.settings.allowed_lateness_ms
        for wid in list(self.sketches.keys()):
            label, start_text = wid.split(":")
            w, start = self.windows.get(label), int(start_text)
            if w is None:  # window size removed from the configuration since the savepoint
                self.sketches.remove(wid)
                continue
            if (w.is_all_time and end % self.base.size_ms == 0) or start + w.size_ms == end:
                blob = self.sketches.get(wid)
                yield self._result(w, dimension, value, start, end, HeavyHittersSketch.deserialize(blob))
                if not w.is_all_time and lateness:
                    ctx.timer_service().register_event_time_timer(timestamp + lateness)  # keep it until then
            if not w.is_all_time and start + w.size_ms + lateness == end:
                self.sketches.remove(wid)

    def _result(
        self, w: WindowSpec, dimension: str, value: str, start: int, end: int, sketch: HeavyHittersSketch
    ) -> WindowResult:
        self.windows_emitted.inc()
        self.error_bounds.update(sketch.maximum_error)
        self.emit_lag_ms = int(time.time() * 1000) - end
        top = sketch.top_k(self.settings.k)
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
            items=top.items,
            unlisted_bound=top.unlisted_bound,
            summary=sketch.serialize(),
        )
