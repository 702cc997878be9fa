"""Exact counts ranked, and how well a reported top-K matches them (benchmarks, the audit, exact answers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from topk.sketches.ranking import ItemCount


def ranked(counts: Mapping[str, int], k: int | None = None) -> list[tuple[str, int]]:
    """Items by count, highest first, ties by item (the job's order); the first ``k`` if given."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def _truth(exact: Mapping[str, int], k: int) -> list[str]:
    return [x for x, _ in ranked(exact, k)]


def precision_at_k(reported: Sequence[str], exact: Mapping[str, int], k: int) -> float:
    """Share of the first ``k`` reported items that belong in the true top-``k`` (an item tied
    with the k-th true count counts as correct)."""
    truth = _truth(exact, k)
    if not truth:
        return 1.0
    kth = exact[truth[-1]]
    return sum(1 for x in reported[:k] if exact.get(x, 0) >= kth) / len(truth)


def wrongly_guaranteed(reported: Sequence[ItemCount], exact: Mapping[str, int], k: int) -> list[str]:
    """Items flagged ``guaranteed`` that are not in the true top-``k`` (ties with the k-th count are in)."""
    truth = _truth(exact, k)
    kth = exact[truth[-1]] if len(truth) == k else 0
    return [i.item for i in reported if i.guaranteed and exact.get(i.item, 0) < kth]


def recall_at_k(reported: Sequence[str], exact: Mapping[str, int], k: int) -> float:
    """Share of the true top-``k`` found among the reported items."""
    truth = _truth(exact, k)
    return len(set(truth) & set(reported)) / len(truth) if truth else 1.0
