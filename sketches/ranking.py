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

from collections.abc import Iterable
from dataclasses import dataclass


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
    ranked = sorted(candidates, key=lambda c: (-c.estimate, c.item))
    first, rest = ranked[:k], ranked[k:]
    unlisted = max([unseen_bound, *(c.upper_bound for c in rest)])
    items = tuple(ItemCount(c.item, c.estimate, c.lower_bound, c.upper_bound, c.lower_bound >= unlisted) for c in first)
    return TopK(items, unlisted)
