"""Keyed by (dimension, value): folds per-window exact counts into one heavy-hitters sketch
per configured window, and emits a ``WindowResult`` when the watermark passes the window.

State is ``MapState[window id -> serialized sketch]`` (our versioned format, not pickle), so
savepoints survive code upgrades. Each batch is applied in (count desc, item) order, so the
sketches, and what is written, are the same on every replay of the same input.
"""

from __future__ import annotations

import json
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
        self.batches = group.counter("countBatches")
        self.windows_emitted = group.counter("windowsEmitted")

    def _new_sketch(self) -> HeavyHittersSketch:
        s = self.settings
        return HeavyHittersSketch(s.capacity, s.cms_width, s.cms_depth)

    def process_element(self, row: Row, ctx: KeyedProcessFunction.Context) -> Iterator[WindowResult]:
        base_start = ctx.timestamp() + 1 - self.base.size_ms  # row time is the base window's last ms
        ranked = sorted(json.loads(row.counts).items(), key=lambda p: (-p[1], p[0]))
        items, counts = [p[0] for p in ranked], [p[1] for p in ranked]
        for w in self.windows.values():
            wid = f"{w.label}:{w.start_of(base_start)}"
            blob = self.sketches.get(wid)
            sketch = HeavyHittersSketch.deserialize(blob) if blob is not None else self._new_sketch()
            sketch.update_batch(items, counts)
            self.sketches.put(wid, sketch.serialize())
            end = base_start + self.base.size_ms if w.is_all_time else w.start_of(base_start) + w.size_ms
            ctx.timer_service().register_event_time_timer(end - 1)
        self.batches.inc()
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
