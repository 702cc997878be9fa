"""The job's Cassandra sink: a thin Flink shell over ``topk.stores.cassandra_store.CassandraStore``."""

from __future__ import annotations

import time
from collections.abc import Iterator

from cassandra.cluster import ResponseFuture
from pyflink.datastream import FlatMapFunction, RuntimeContext

from connectors.bundle_end import MAX_DEFERRED, flush_at_bundle_end
from topk.stores.cassandra_store import UNREACHABLE, CassandraStore
from topk.window_result import WindowResult

RETRY_FOR_S = 300


class CassandraWriter(FlatMapFunction):
    """Writes each ``WindowResult`` (creating the schema on first connect) and passes it on.

    A bundle's writes are all in flight together and awaited at its end (``connectors.bundle_end``),
    so every write is done before the checkpoint that follows it. A write that fails because
    Cassandra is unreachable is retried, with the connection, with backoff for up to
    ``RETRY_FOR_S``, so an outage delays results instead of failing the job; past that the error
    fails the task and Flink restarts it from the last checkpoint."""

    def __init__(self, store: CassandraStore) -> None:
        self.store = store  # not connected yet: it connects in the task, on the first write
        self.in_flight: list[tuple[WindowResult, list[ResponseFuture]]] = []
        self.deferred = False

    def open(self, runtime_context: RuntimeContext) -> None:
        self.store.close()  # connect on the first write: open() must not fail while Cassandra is down
        self.deferred = flush_at_bundle_end(runtime_context, "cassandraWritesPerBundle", self.flush)

    def flat_map(self, value: WindowResult) -> Iterator[WindowResult]:
        if self.deferred and len(self.in_flight) < MAX_DEFERRED:
            try:
                self.in_flight.append((value, self.store.write_async(value)))
                return iter((value,))
            except UNREACHABLE:
                pass  # written below, with retries
        self.flush()
        self._write(value)
        return iter((value,))

    def flush(self) -> int:
        """Wait for the writes in flight, retrying those that failed; how many there were."""
        in_flight, self.in_flight = self.in_flight, []
        for value, futures in in_flight:
            try:
                for future in futures:
                    future.result()
            except UNREACHABLE:
                self._write(value)
        return len(in_flight)

    def _write(self, value: WindowResult) -> None:
        deadline, pause = time.monotonic() + RETRY_FOR_S, 0.2
        while True:
            try:
                self.store.write(value)
                return
            except UNREACHABLE as err:
                if time.monotonic() + pause > deadline:
                    raise RuntimeError(f"Cassandra unreachable for {RETRY_FOR_S} s") from err
                self.store.close()
                time.sleep(pause)
                pause = min(2 * pause, 10.0)

    def close(self) -> None:
        self.flush()
        self.store.close()
