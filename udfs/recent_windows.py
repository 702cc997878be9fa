"""A bounded, write-through cache of the sketch operator's window state, in front of Flink's ``MapState``.

An hour is merged from its minutes when it ends, a day from its hours: each is read once, at that
point, from state written up to an hour or a day before. PyFlink's own read cache holds 1,000 entries
per group's map, and it keeps one for every key removed as well, in the order first written; in a
replay, where rows run ahead of the operator's watermark and so of its timers, the minutes an hour needs
had left it, and each read was a round trip to the JVM (0.2 ms each, measured on a 7-day replay: a
fifth of the operator's time). This cache keeps what was last written or read, of any group, up to
``max_bytes`` per operator instance (each entry counted as its value's length plus ``ENTRY_OVERHEAD``,
at least what tracemalloc measured for an entry whose row's group key is its own), least recently
used out, and keeps nothing for a removed key.

It is only correct while every change to the state goes through it: it lives in one operator
instance (made in ``open``, so a restore starts it empty) and ``group`` must be the key the state is
scoped to now, set before each row or timer (``scoped``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from udfs.window_fold import State

ENTRY_OVERHEAD = 800  # bytes besides the value: the key, the group's key decoded for its row, the tuple, the entry


class RecentWindows:
    def __init__(self, state: State, max_bytes: int) -> None:
        self.state, self.max_bytes, self.bytes = state, max_bytes, 0
        self.group: Hashable = None
        self.entries: OrderedDict[tuple[Hashable, str], bytes] = OrderedDict()

    def scoped(self, group: Hashable) -> RecentWindows:
        """This cache, for the state of ``group`` (the key Flink scopes the state to now)."""
        self.group = group
        return self

    def get(self, key: str) -> bytes | None:
        entry = (self.group, key)
        value = self.entries.get(entry)
        if value is not None:
            self.entries.move_to_end(entry)
            return value
        value = self.state.get(key)
        if value is not None:
            self._keep(entry, value)
        return value

    def put(self, key: str, value: bytes) -> None:
        self.state.put(key, value)
        self._keep((self.group, key), value)

    def remove(self, key: str) -> None:
        self.state.remove(key)
        self._drop((self.group, key))

    def _keep(self, entry: tuple[Hashable, str], value: bytes) -> None:
        self._drop(entry)
        size = len(value) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        self.entries[entry] = value
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, old = self.entries.popitem(last=False)
            self.bytes -= len(old) + ENTRY_OVERHEAD

    def _drop(self, entry: tuple[Hashable, str]) -> None:
        old = self.entries.pop(entry, None)
        if old is not None:
            self.bytes -= len(old) + ENTRY_OVERHEAD
