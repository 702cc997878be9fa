"""Audit the approximate answers: the approximate top-K of a range (merged stored summaries)
against the exact counts of the same interval (the archive).

python -m topk.query.audit --start 2026-11-22T10:00 --end 2026-11-22T13:00 [--k 10] [--dimension region --value eu-west]
    --archive-url s3://topk-archive --s3-endpoint-url http://127.0.0.1:8333 [--redis-url ...] [--cassandra-...]

Prints precision@K, recall@K and each reported item's true count against its bounds and whether
it was flagged as certainly in the top-K. Exits 1 if a true count lies outside its stated bounds
or a flagged item is not in the true top-K (a broken guarantee), 0 otherwise.
"""

from __future__ import annotations

import argparse
import sys

from topk.query.arguments import add_range_arguments
from topk.query.connect import add_storage_arguments, open_queries
from topk.query.engine import Answer
from topk.sketches.accuracy import precision_at_k, recall_at_k, wrongly_guaranteed
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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_range_arguments(p)
    add_storage_arguments(p)
    a = p.parse_args(argv)
    queries = open_queries(a, p).for_tenant(a.tenant)
    approximate = queries.range_topk(a.k, parse_time_ms(a.start), parse_time_ms(a.end), a.dimension, a.value)
    # the exact counts of the interval the stored windows cover, so both answer the same question
    exact, answer = queries.exact(approximate.start, approximate.end, a.dimension, a.value)
    scan = answer.scan
    print(
        f"audit top-{a.k} of tenant {a.tenant}, {a.dimension}={a.value} "
        f"[{iso(approximate.start)}, {iso(approximate.end)}): "
        f"{approximate.total_events} events in {len(approximate.windows)} stored windows, {answer.total_events} in "
        f"the archive ({scan.files} files, {scan.bytes:,} bytes, {scan.seconds:.2f} s)"
    )
    lines, ok = report(approximate, exact, a.k)
    print("\n".join(lines))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
