"""RecentWindows: a write-through cache in front of a group-scoped state, checked against the state alone."""

from __future__ import annotations

import random
from collections import Counter

from tests.test_window_fold import MINUTE, Harness
from udfs.recent_windows import ENTRY_OVERHEAD, RecentWindows


class ScopedState:
    """Flink's keyed MapState: one map per group, the current one set from outside; counts reads."""

    def __init__(self) -> None:
        self.maps: dict[object, dict[str, bytes]] = {}
        self.group: object = None
        self.reads = 0

    def get(self, key: str) -> bytes | None:
        self.reads += 1
        return self.maps.get(self.group, {}).get(key)

    def put(self, key: str, value: bytes) -> None:
        self.maps.setdefault(self.group, {})[key] = value

    def remove(self, key: str) -> None:
        self.maps.get(self.group, {}).pop(key, None)


def test_reads_what_was_written_without_the_state_and_keeps_groups_apart():
    state = ScopedState()
    cache = RecentWindows(state, 10_000)
    for group in ("a", "b"):
        state.group = group
        cache.scoped(group).put("1m:0", group.encode())
    state.group = "a"
    assert cache.scoped("a").get("1m:0") == b"a" and state.reads == 0
    cache.remove("1m:0")
    assert cache.get("1m:0") is None and state.reads == 1  # removed: asked of the state, which has none
    state.group = "b"
    assert cache.scoped("b").get("1m:0") == b"b"


def test_holds_at_most_its_bytes_least_recently_used_out():
    state = ScopedState()
    cache = RecentWindows(state, 3 * (100 + ENTRY_OVERHEAD))
    for i in range(3):
        cache.put(f"k{i}", bytes(100))
    cache.get("k0")  # now the most recently used
    cache.put("k3", bytes(100))  # k1 out
    assert cache.bytes <= cache.max_bytes and [k for _, k in cache.entries] == ["k2", "k0", "k3"]
    assert cache.get("k1") == bytes(100) and state.reads == 1
    cache.put("big", bytes(cache.max_bytes))  # larger than the whole cache: written, not kept
    assert ("big", None) not in cache.entries and cache.get("big") == bytes(cache.max_bytes)


def test_random_use_answers_as_the_state_alone():
    rng = random.Random(3)
    for max_bytes in (0, 700, 5_000, 10**9):
        state = ScopedState()
        cache = RecentWindows(state, max_bytes)
        for _ in range(5_000):
            group, key = rng.choice("abc"), f"w{rng.randrange(12)}"
            state.group = group
            cache.scoped(group)
            action = rng.random()
            if action < 0.4:
                cache.put(key, bytes(rng.randrange(1, 900)))
            elif action < 0.6:
                cache.remove(key)
            else:
                assert cache.get(key) == state.maps.get(group, {}).get(key), (max_bytes, group, key)
            assert 0 <= cache.bytes <= max_bytes


def test_the_fold_through_it_gives_what_it_gives_on_the_state_and_reads_less():
    """An hour's minutes come from the cache when it ends: the same windows and state, fewer reads."""
    runs = []
    for cached in (False, True):
        h = Harness("1m,1h,1d,all")
        h.windows = list  # what it counts is of a dict state: not counted here
        state = ScopedState()
        state.group = "g"
        h.state = RecentWindows(state, 1 << 20).scoped("g") if cached else state
        for m in range(3 * 60):
            h.row(m * MINUTE, Counter({f"i{m % 7}": 1 + m % 3}))
            h.advance(m * MINUTE + MINUTE - 1)
        h.advance(2 * 24 * 60 * MINUTE)
        runs.append((h.emits, state.maps, state.reads))
    assert runs[0][:2] == runs[1][:2] and runs[1][2] < runs[0][2] / 10
