"""Audit the approximate answers against the exact counts of the same intervals (the archive): the
top-K of a range (merged stored summaries), and with ``--phi`` its threshold answer, with
``--baseline N`` its trend against the N ranges of its length before it.

python -m topk.query.audit --start 2026-11-22T10:00 --end 2026-11-22T13:00 [--k 10] [--dimension region --value eu-west]
    [--phi 0.01] [--baseline 6 [--falling | --min-count 100]]
    --archive-url s3://topk-archive --s3-endpoint-url http://127.0.0.1:8333 [--redis-url ...] [--cassandra-...]

Prints precision@K, recall@K and each reported item's true count against its bounds and whether
it was flagged as certainly in the top-K; for ``--phi``, each listed item's true count against its
bounds and the threshold, and whether an item truly above it is missing; for ``--baseline``, each
listed item's true change (or growth) against its bounds. Exits 1 on any broken guarantee (a true count or
change outside its bounds, a flagged item that does not belong, an item above the threshold missing
from a complete answer, an unlisted item past the unlisted bound), 0 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction

from topk.query.arguments import add_range_arguments
from topk.query.connect import add_storage_arguments, open_queries
from topk.query.engine import Answer, TopKQueries
from topk.sketches.accuracy import precision_at_k, recall_at_k, wrongly_guaranteed
from topk.sketches.heavy_hitters import Frequent
from topk.sketches.trend import Changes
from topk.times import iso, parse_time_ms


def report(approximate: Answer, exact: dict[str, int], k: int) -> tuple[list[str], bool]:
    """The audit's lines, and whether every true count lies within its bounds and every item
    flagged guaranteed is in the true top-``k``."""
    reported = [i.item for i in approximate.items]
    wrong = set(wrongly_guaranteed(approximate.items, exact, k))
    guaranteed = sum(i.guaranteed for i in approximate.items)
    lines = [
        f"precision@{k} {precision_at_k(reported, exact, k):.3f}   recall@{k} {recall_at_k(reported, exact, k):.3f}   "
        f"error bound {approximate.error_bound}   guaranteed {guaranteed} ({len(wrong)} wrongly)",
        f"  {'rank':>4}  {'item':<24} {'estimate':>9}  {'bounds':<21} {'true':>9}  within  guaranteed",
    ]
    ok = not wrong
    for rank, i in enumerate(approximate.items, 1):
        true = exact.get(i.item, 0)
        within = i.lower_bound <= true <= i.upper_bound
        ok &= within
        bounds = f"[{i.lower_bound}, {i.upper_bound}]"
        flag = ("WRONG" if i.item in wrong else "yes") if i.guaranteed else "no"
        lines.append(
            f"  {rank:>4}  {i.item:<24} {i.estimate:>9}  {bounds:<21} {true:>9}  {'yes' if within else 'NO':<6}  {flag}"
        )
    return lines, ok


def threshold_report(found: Frequent, exact: dict[str, int]) -> tuple[list[str], bool]:
    """The threshold audit's lines, and whether every listed item's true count lies within its bounds,
    every one flagged guaranteed truly reaches the threshold and, the answer being complete, no item
    that truly reaches it is missing."""
    listed = {i.item for i in found.items}
    missing = [x for x, c in exact.items() if c >= found.threshold and x not in listed] if found.complete else []
    lines = [
        f"threshold {found.threshold}: {len(found.items)} listed, complete {found.complete}, "
        f"{sum(c >= found.threshold for c in exact.values())} truly reach it, {len(missing)} of them missing"
    ]
    ok = not missing
    for i in found.items:
        true = exact.get(i.item, 0)
        within, wrong = i.lower_bound <= true <= i.upper_bound, i.guaranteed and true < found.threshold
        ok &= within and not wrong
        flag = ("WRONG" if wrong else "yes") if i.guaranteed else "no"
        lines.append(
            f"  {i.item:<24} [{i.lower_bound}, {i.upper_bound}] {true:>9}  {'yes' if within else 'NO':<6} {flag}"
        )
    return lines, ok


def trend_report(
    found: Changes,
    now: dict[str, int],
    before: dict[str, int],
    periods: int,
    k: int,
    falling: bool,
    min_count: int | None = None,
) -> tuple[list[str], bool]:
    """The trend audit's lines, and whether every listed item's true change (with ``min_count``: its
    growth) lies within its bounds, every one flagged guaranteed competes and is among the true ``k``
    largest and no competing item left out moved past the unlisted bound."""
    seen = now.keys() | before.keys()
    if min_count is None:
        sign = -1 if falling else 1
        true = {x: sign * (now.get(x, 0) - Fraction(before.get(x, 0), periods)) for x in seen}
        competing = seen
    else:
        true = {x: now.get(x, 0) / max(Fraction(before.get(x, 0), periods), 1) for x in seen}
        competing = {x for x in seen if now.get(x, 0) >= min_count}
    listed = {c.item for c in found.items}
    past = [x for x in competing - listed if true[x] > found.unlisted_bound]
    moves = "growth" if min_count is not None else "falls" if falling else "rises"
    lines = [f"{moves}: {len(found.items)} listed, unlisted bound {found.unlisted_bound}, {len(past)} unlisted past it"]
    ok = not past
    for c in found.items:
        change = true.get(c.item, 0)
        within = c.lower_bound <= change <= c.upper_bound
        wrong = c.guaranteed and (c.item not in competing or sum(true[x] > change for x in competing) >= k)
        ok &= within and not wrong
        flag = ("WRONG" if wrong else "yes") if c.guaranteed else "no"
        bounds = f"[{c.lower_bound:g}, {c.upper_bound:g}]"
        lines.append(f"  {c.item:<24} {bounds:<21} {float(change):>11g}  {'yes' if within else 'NO':<6} {flag}")
    return lines, ok


def exact_counts(queries: TopKQueries, approximate: Answer, dimension: str, value: str) -> dict[str, int]:
    """The archive's counts of the interval an answer's stored windows cover (so both answer the same
    question), its scan printed."""
    exact, answer = queries.exact(approximate.start, approximate.end, dimension, value)
    scan = answer.scan
    print(
        f"[{iso(approximate.start)}, {iso(approximate.end)}): {approximate.total_events} events in "
        f"{len(approximate.windows)} stored windows, {answer.total_events} in the archive ({scan.files} files, "
        f"{scan.bytes:,} bytes, {scan.seconds:.2f} s)"
    )
    return exact


def positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_range_arguments(p)
    p.add_argument("--phi", type=float, help="also audit the items above this share of the range's events")
    p.add_argument("--baseline", type=int, help="also audit the trend against this many ranges before it")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--falling", action="store_true", help="the trend's falls, not its rises")
    how.add_argument("--min-count", type=positive, help="the trend by growth, among items counted this often")
    add_storage_arguments(p)
    a = p.parse_args(argv)
    queries = open_queries(a, p).for_tenant(a.tenant)
    start, end = parse_time_ms(a.start), parse_time_ms(a.end)
    approximate = queries.range_topk(a.k, start, end, a.dimension, a.value)
    print(f"audit top-{a.k} of tenant {a.tenant}, {a.dimension}={a.value}")
    exact = exact_counts(queries, approximate, a.dimension, a.value)
    lines, ok = report(approximate, exact, a.k)
    if a.phi is not None:
        found, _ = queries.frequent(Fraction(repr(a.phi)), start, end, a.dimension, a.value)
        more, fine = threshold_report(found, exact)
        lines, ok = [*lines, f"above phi {a.phi}:", *more], ok and fine
    if a.baseline is not None:
        found, _, before = queries.trending(a.k, start, end, a.baseline, a.dimension, a.value, a.falling, a.min_count)
        before_exact = exact_counts(queries, before, a.dimension, a.value)
        more, fine = trend_report(found, exact, before_exact, a.baseline, a.k, a.falling, a.min_count)
        lines, ok = [*lines, f"trend against {a.baseline} ranges before:", *more], ok and fine
    print("\n".join(lines))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
