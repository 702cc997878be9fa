"""The job's Redis sink: a thin Flink shell over ``topk.stores.redis_store.write_results``."""

from __future__ import annotations

from collections.abc import Iterator

import redis
from pyflink.datastream import FlatMapFunction, RuntimeContext

from connectors.bundle_end import MAX_DEFERRED, flush_at_bundle_end
from topk.stores.redis_store import connect, write_results
from topk.window_result import WindowResult
from topk.windows import WindowSpec

WRITE_RETRIES = 36  # about 5 minutes of outage before the write fails the task (and Flink restarts it)


class RedisWriter(FlatMapFunction):
    """Writes each ``WindowResult`` and passes it on (so the next store's writer chains to this one
    and the result never leaves the Python worker). A bundle's results are written together at its
    end, in one round trip (``connectors.bundle_end``): before the checkpoint that follows them."""

    def __init__(self, url: str, windows: tuple[WindowSpec, ...], prefix: str) -> None:
        self.url, self.windows, self.prefix = url, {w.label: w for w in windows}, prefix
        self.client: redis.Redis | None = None
        self.pending: list[WindowResult] = []
        self.deferred = False

    def open(self, runtime_context: RuntimeContext) -> None:
        self.client = connect(self.url, retries=WRITE_RETRIES)
        self.deferred = flush_at_bundle_end(runtime_context, "redisWritesPerBundle", self.flush)

    def flat_map(self, value: WindowResult) -> Iterator[WindowResult]:
        self.pending.append(value)
        if not self.deferred or len(self.pending) >= MAX_DEFERRED:
            self.flush()
        yield value

    def flush(self) -> int:
        """Write the pending results; how many there were."""
        pending, self.pending = self.pending, []
        if pending:
            write_results(self.client, pending, self.windows, self.prefix)
        return len(pending)

    def close(self) -> None:
        if self.client is not None:
            self.flush()
            self.client.close()
