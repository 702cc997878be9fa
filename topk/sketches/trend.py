"""Which items rose (or fell) most between a baseline and now, with bounds on each change.

``current`` summarizes one period, ``baseline`` the ``periods`` periods before it; an item's change
is its count now less its mean count per baseline period. From each side's guaranteed bounds
(an item a summary does not monitor: ``0`` to the tightened floor)::

    change(x) >= lower_now(x) - upper_base(x) / periods
    change(x) <= upper_now(x) - lower_base(x) / periods

Candidates are the items either summary monitors. An item monitored by neither rose by at most the
current floor (it fell by at most the baseline floor over ``periods``), which bounds every item
left out with the candidates not listed; a listed item is ``guaranteed`` (certainly among the true
``k`` largest changes) when its change's lower bound reaches that bound, as ``topk.sketches.ranking``
rules for counts. Items are ranked by the change of their estimates; only items whose estimate rose
(fell) are listed. Arithmetic is in integers scaled by ``periods``; a bound that is not whole is rounded outward to
three decimals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from topk.sketches.heavy_hitters import HeavyHittersSketch
from topk.sketches.ranking import top_k_of


@dataclass(frozen=True)
class Change:
    """One item's change (current less the baseline's mean per period), with guaranteed bounds on
    it and on both sides."""

    item: str
    change: float
    lower_bound: float
    upper_bound: float
    current: tuple[int, int, int]  # estimate, lower, upper
    baseline: tuple[float, float, float]  # mean per period: estimate, lower, upper
    guaranteed: bool


@dataclass(frozen=True)
class Changes:
    items: tuple[Change, ...]
    unlisted_bound: float  # the largest change (rise, or fall) any item not listed can have

    @property
    def guaranteed(self) -> int:
        return sum(c.guaranteed for c in self.items)


def changes(
    current: HeavyHittersSketch, baseline: HeavyHittersSketch, periods: int, k: int, *, falling: bool = False
) -> Changes:
    """The ``k`` items whose estimated count rose most (``falling``: fell most) from the baseline's
    mean per period to ``current``, among those that rose (fell) at all."""
    if periods < 1 or k < 1:
        raise ValueError("periods and k must be positive")
    items = sorted(set(current.space_saving.arrays()[0]).union(baseline.space_saving.arrays()[0]))
    now_lo, now_up = current.bounds_of(items)
    base_lo, base_up = baseline.bounds_of(items)
    n = periods
    if falling:  # scaled by n: a fall is base - n * now
        estimate, lower, upper = base_up - n * now_up, base_lo - n * now_up, base_up - n * now_lo
        unseen = baseline.space_saving.floor
    else:
        estimate, lower, upper = n * now_up - base_up, n * now_lo - base_up, n * now_up - base_lo
        unseen = n * current.space_saving.floor
    moved = int((estimate > 0).sum())
    if not moved:
        return Changes((), per(max(unseen, int(upper.max()) if items else 0), n, 1))
    top = top_k_of(items, estimate, lower, upper, min(k, moved), unseen)
    where = {x: i for i, x in enumerate(items)}
    listed = []
    for c in top.items:
        i = where[c.item]
        now = (int(now_up[i]), int(now_lo[i]), int(now_up[i]))
        base = (per(int(base_up[i]), n), per(int(base_lo[i]), n, -1), per(int(base_up[i]), n, 1))
        bounds = (per(c.estimate, n), per(c.lower_bound, n, -1), per(c.upper_bound, n, 1))
        listed.append(Change(c.item, *bounds, now, base, c.guaranteed))
    return Changes(tuple(listed), per(top.unlisted_bound, n, 1))


def per(scaled: int, periods: int, rounding: int = 0) -> float:
    """``scaled / periods``: an int where it divides (JSON shows ``5``, not ``5.0``), else to three
    decimals, rounded down (``rounding < 0``), up (``> 0``) or to the nearest; a bound rounded
    outward stays a bound, also as a binary float."""
    whole, rest = divmod(scaled, periods)
    if not rest:
        return whole
    exact = Fraction(scaled, periods)
    thousandths = {-1: math.floor, 1: math.ceil}.get(rounding, round)(exact * 1000)
    value = thousandths / 1000
    if rounding and (Fraction(value) - exact) * rounding < 0:  # the float fell on the wrong side
        value = math.nextafter(value, rounding * math.inf)
    return value
