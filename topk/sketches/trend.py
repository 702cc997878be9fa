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

``ratios`` ranks by relative growth instead: an item's count now over its baseline mean per period,
a mean below one event counting as one (so an item new in this period grows by its count), among
the items whose count now reaches ``min_count``. Its bounds follow from the same sides' bounds::

    growth(x) >= lower_now(x) / max(upper_base(x) / periods, 1)
    growth(x) <= upper_now(x) / max(lower_base(x) / periods, 1)

An item neither summary monitors grows by at most the current floor, and competes only if that
floor reaches ``min_count``; a listed item is ``guaranteed`` when it certainly reaches ``min_count``
and its growth's lower bound reaches every competing item left out.
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
    items, (now_lo, now_up), (base_lo, base_up) = _sides(current, baseline, periods, k)
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


def ratios(current: HeavyHittersSketch, baseline: HeavyHittersSketch, periods: int, k: int, min_count: int) -> Changes:
    """The ``k`` items whose estimated count now is the largest multiple of their baseline mean per
    period (a mean below one counting as one), among those that grew and whose count may reach
    ``min_count``; ``Change.change`` and its bounds are that multiple."""
    if min_count < 1:
        raise ValueError("min_count must be positive")
    items, (now_lo, now_up), (base_lo, base_up) = _sides(current, baseline, periods, k)
    n = periods

    def growth(now: int, base: int) -> Fraction:  # now / max(base / n, 1)
        return Fraction(now * n, max(base, n))

    floor = current.space_saving.floor
    unseen = Fraction(floor if floor >= min_count else 0)
    competing = sorted(  # (-estimate, item, i): every item whose count now may reach min_count
        (-growth(int(now_up[i]), int(base_up[i])), x, i) for i, x in enumerate(items) if now_up[i] >= min_count
    )
    listed = [c for c in competing[:k] if c[0] < -1]  # grew
    left_out = (growth(int(now_up[i]), int(base_lo[i])) for _, _, i in competing[len(listed) :])
    unlisted = max([unseen, *left_out])
    found = []
    for minus, x, i in listed:
        lo, up, b_lo, b_up = int(now_lo[i]), int(now_up[i]), int(base_lo[i]), int(base_up[i])
        lower, upper = growth(lo, b_up), growth(up, b_lo)
        base = (per(b_up, n), per(b_lo, n, -1), per(b_up, n, 1))
        sure = lo >= min_count and lower >= unlisted
        found.append(Change(x, _rounded(-minus), _rounded(lower, -1), _rounded(upper, 1), (up, lo, up), base, sure))
    return Changes(tuple(found), _rounded(unlisted, 1))


def _sides(current: HeavyHittersSketch, baseline: HeavyHittersSketch, periods: int, k: int) -> tuple:
    """The candidates (the items either summary monitors), sorted, and each side's bounds on them."""
    if periods < 1 or k < 1:
        raise ValueError("periods and k must be positive")
    items = sorted(set(current.space_saving.arrays()[0]).union(baseline.space_saving.arrays()[0]))
    return items, current.bounds_of(items), baseline.bounds_of(items)


def per(scaled: int, periods: int, rounding: int = 0) -> float:
    """``scaled / periods``: an int where it divides (JSON shows ``5``, not ``5.0``), else to three
    decimals, rounded down (``rounding < 0``), up (``> 0``) or to the nearest; a bound rounded
    outward stays a bound, also as a binary float."""
    return _rounded(Fraction(scaled, periods), rounding)


def _rounded(exact: Fraction, rounding: int = 0) -> float:
    """``exact`` as ``per`` shows it."""
    if exact.denominator == 1:
        return exact.numerator
    thousandths = {-1: math.floor, 1: math.ceil}.get(rounding, round)(exact * 1000)
    value = thousandths / 1000
    if rounding and (Fraction(value) - exact) * rounding < 0:  # the float fell on the wrong side
        value = math.nextafter(value, rounding * math.inf)
    return value
