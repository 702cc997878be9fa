"""Items with bounds, ranked, and which of them are certainly in the true top-K.

The rule, for items ranked by their reported ``estimate`` (highest first, ties by item) of
which the first ``k`` are returned:

* ``unlisted_bound`` = the largest upper bound of any item *not* returned: the upper bounds of
  the ranked items after the first ``k``, and ``unseen_bound`` for every item not ranked at all
  (for Space-Saving its ``floor``);
* a returned item is ``guaranteed`` iff ``lower_bound >= unlisted_bound``. Its true count is then
  at least every left-out item's true count, so at most ``k - 1`` items can count more: it belongs
  to the true top-K (an item tied with a left-out one counts as in, as ``accuracy.precision_at_k``
  does).

Nothing left out has a larger estimate than anything returned, by construction of the order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ItemCount:
    """Bounds on one item's count: ``lower_bound <= true count <= upper_bound``."""

    item: str
    estimate: int
    lower_bound: int
    upper_bound: int
    guaranteed: bool = False  # certainly in the true top-K of the answer it belongs to


@dataclass(frozen=True)
class TopK:
    """The first ``k`` ranked items and the largest upper bound of any item left out."""

    items: tuple[ItemCount, ...]
    unlisted_bound: int

    @property
    def guaranteed(self) -> int:
        """How many of ``items`` are certainly in the true top-K."""
        return sum(i.guaranteed for i in self.items)


def top_k(candidates: Iterable[ItemCount], k: int, unseen_bound: int) -> TopK:
    """The ``k`` candidates with the largest estimates (ties by item), flagged by the rule above.
    ``unseen_bound``: an upper bound on the count of every item that is not a candidate."""
    c = list(candidates)
    columns = ([x.estimate for x in c], [x.lower_bound for x in c], [x.upper_bound for x in c])
    return top_k_of([x.item for x in c], *(np.array(v, np.int64) for v in columns), k, unseen_bound)


def top_k_of(
    items: Sequence[str], estimate: np.ndarray, lower: np.ndarray, upper: np.ndarray, k: int, unseen_bound: int
) -> TopK:
    """``top_k`` over columns (one entry per candidate): only the first ``k`` become objects."""
    n = len(items)
    chosen = np.arange(n) if n <= k else np.flatnonzero(estimate >= np.partition(estimate, n - k)[n - k])
    values = estimate.tolist()
    first = sorted(chosen.tolist(), key=lambda i: (-values[i], items[i]))[:k]
    left_out = np.ones(n, bool)
    left_out[first] = False
    unlisted = max(unseen_bound, int(upper[left_out].max()) if n > len(first) else 0)
    lo, up = lower.tolist(), upper.tolist()
    found = tuple(ItemCount(items[i], values[i], lo[i], up[i], lo[i] >= unlisted) for i in first)
    return TopK(found, unlisted)
