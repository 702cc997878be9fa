"""The job's Redis sink: a thin Flink shell over ``connectors.redis_store.write_result``."""

from __future__ import annotations

from collections.abc import Iterator

import redis
from pyflink.datastream import FlatMapFunction, RuntimeContext

from connectors.redis_store import connect, write_result
from jobs.settings import WindowSpec
from udfs.window_result import WindowResult

WRITE_RETRIES = 36  # about 5 minutes of outage before the write fails the task (and Flink restarts it)


class RedisWriter(FlatMapFunction):
    """Writes each ``WindowResult`` and passes it on (so the next store's writer chains to this one
    and the result never leaves the Python worker)."""

    def __init__(self, url: str, windows: tuple[WindowSpec, ...], prefix: str) -> None:
        self.url, self.windows, self.prefix = url, {w.label: w for w in windows}, prefix
        self.client: redis.Redis | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.client = connect(self.url, retries=WRITE_RETRIES)

    def flat_map(self, value: WindowResult) -> Iterator[WindowResult]:
        write_result(self.client, value, self.windows[value.window], self.prefix)
        yield value

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
