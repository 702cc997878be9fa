"""The job's Cassandra sink: a thin Flink shell over ``connectors.cassandra_store.CassandraStore``."""

from __future__ import annotations

import time
from collections.abc import Iterator

from pyflink.datastream import FlatMapFunction, RuntimeContext

from connectors.cassandra_store import UNREACHABLE, CassandraStore
from udfs.window_result import WindowResult

RETRY_FOR_S = 300


class CassandraWriter(FlatMapFunction):
    """Writes each ``WindowResult`` (creating the schema on first connect); emits nothing.

    While Cassandra is unreachable, connecting and writing are retried with backoff for up to
    ``RETRY_FOR_S``, so an outage delays results instead of failing the job; past that the error
    fails the task and Flink restarts it from the last checkpoint."""

    def __init__(self, store: CassandraStore) -> None:
        self.store = store  # not connected yet: it connects in the task, on the first write

    def open(self, runtime_context: RuntimeContext) -> None:
        self.store.close()  # connect on the first write: open() must not fail while Cassandra is down

    def flat_map(self, value: WindowResult) -> Iterator[None]:
        deadline, pause = time.monotonic() + RETRY_FOR_S, 0.2
        while True:
            try:
                self.store.write(value)
                return iter(())
            except UNREACHABLE as err:
                if time.monotonic() + pause > deadline:
                    raise RuntimeError(f"Cassandra unreachable for {RETRY_FOR_S} s") from err
                self.store.close()
                time.sleep(pause)
                pause = min(2 * pause, 10.0)

    def close(self) -> None:
        self.store.close()
