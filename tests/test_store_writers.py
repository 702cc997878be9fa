"""The job's store writers defer a bundle's writes to its end (connectors/bundle_end.py): unit
tests of that logic over stub stores; tests/integration/test_store_writes.py writes for real."""

from __future__ import annotations

from cassandra import OperationTimedOut

from connectors import cassandra_sink, redis_sink
from connectors.bundle_end import MAX_DEFERRED
from connectors.cassandra_sink import CassandraWriter
from connectors.redis_sink import RedisWriter
from topk.sketches import HeavyHittersSketch
from topk.window_result import WindowResult
from topk.windows import parse_windows


class Group:
    def __init__(self) -> None:
        self.gauges = {}

    def gauge(self, name, fn) -> None:
        self.gauges[name] = fn


class Context:
    def __init__(self, group: Group | None) -> None:
        self.group = group

    def get_metrics_group(self) -> Group | None:
        return self.group


def results(n: int) -> list[WindowResult]:
    sketch = HeavyHittersSketch(capacity=4, cms_width=16, cms_depth=2)
    sketch.update("a", 1)
    return [
        WindowResult.of(sketch, window="1m", dimension="all", value="all", start=60_000 * i, end=60_000 * (i + 1), k=2)
        for i in range(n)
    ]


class Client:
    def close(self) -> None:
        pass


def redis_writer(monkeypatch, group: Group | None) -> tuple[RedisWriter, list[list[WindowResult]]]:
    writes: list[list[WindowResult]] = []
    monkeypatch.setattr(redis_sink, "connect", lambda url, retries: Client())
    monkeypatch.setattr(redis_sink, "write_results", lambda client, rs, windows, prefix: writes.append(list(rs)))
    writer = RedisWriter("redis://x", parse_windows("1m"), "p")
    writer.open(Context(group))
    return writer, writes


def test_redis_writes_a_bundle_at_its_end_in_one_call_and_passes_each_result_on(monkeypatch):
    group = Group()
    writer, writes = redis_writer(monkeypatch, group)
    batch = results(3)
    assert [next(writer.flat_map(r)) for r in batch] == batch
    assert writes == []
    assert group.gauges["redisWritesPerBundle"]() == 3  # the bundle ends
    assert writes == [batch]
    assert group.gauges["redisWritesPerBundle"]() == 0 and len(writes) == 1


def test_redis_holds_at_most_max_deferred_results(monkeypatch):
    writer, writes = redis_writer(monkeypatch, Group())
    for r in results(MAX_DEFERRED + 1):
        next(writer.flat_map(r))
    assert [len(w) for w in writes] == [MAX_DEFERRED]
    writer.close()
    assert [len(w) for w in writes] == [MAX_DEFERRED, 1]


def test_without_a_metric_group_each_result_is_written_as_it_comes(monkeypatch):
    writer, writes = redis_writer(monkeypatch, None)
    for r in results(2):
        next(writer.flat_map(r))
    assert [len(w) for w in writes] == [1, 1]


class Future:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def result(self) -> None:
        if self.error:
            raise self.error


class Store:
    """A CassandraStore stand-in: ``fail`` results' first writes time out."""

    def __init__(self, fail: set[int]) -> None:
        self.fail, self.started, self.written = fail, [], []

    def write_async(self, r: WindowResult) -> list[Future]:
        self.started.append(r.window_start)
        return [Future(), Future(OperationTimedOut() if r.window_start in self.fail else None)]

    def write(self, r: WindowResult) -> None:
        self.written.append(r.window_start)

    def close(self) -> None:
        pass


def test_cassandra_waits_for_a_bundle_at_its_end_and_rewrites_what_failed(monkeypatch):
    monkeypatch.setattr(cassandra_sink.time, "sleep", lambda s: None)
    group, store = Group(), Store(fail={60_000})
    writer = CassandraWriter(store)
    writer.open(Context(group))
    for r in results(3):
        assert list(writer.flat_map(r)) == [r]  # passed on, for the alerts after it
    assert store.started == [0, 60_000, 120_000] and store.written == []
    assert group.gauges["cassandraWritesPerBundle"]() == 3
    assert store.written == [60_000]  # the timed-out one, written again (synchronously, with retries)
    assert group.gauges["cassandraWritesPerBundle"]() == 0


def test_cassandra_without_a_metric_group_writes_each_result_as_it_comes():
    store = Store(fail=set())
    writer = CassandraWriter(store)
    writer.open(Context(None))
    for r in results(2):
        list(writer.flat_map(r))
    assert store.started == [] and store.written == [0, 60_000]
