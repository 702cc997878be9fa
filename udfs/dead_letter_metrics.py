"""Counts rejected records by reason, as Flink metrics ``deadLetters.<reason>``."""

from __future__ import annotations

from collections.abc import Iterator

from pyflink.common import Row
from pyflink.datastream import FlatMapFunction, RuntimeContext

from udfs.parse_events import REASONS


class DeadLetterCounter(FlatMapFunction):
    def open(self, runtime_context: RuntimeContext) -> None:
        group = runtime_context.get_metrics_group().add_group("deadLetters")
        self.counters = {reason: group.counter(reason) for reason in REASONS}

    def flat_map(self, row: Row) -> Iterator[None]:
        self.counters[row.reason].inc()
        return iter(())
