"""precision@K / recall@K and the audit report, on hand-made answers."""

from __future__ import annotations

from topk.query.audit import report, trend_report
from topk.query.engine import APPROXIMATE, Answer
from topk.sketches import ItemCount
from topk.sketches.accuracy import precision_at_k, recall_at_k, wrongly_guaranteed
from topk.sketches.trend import Change, Changes

EXACT = {"a": 10, "b": 8, "c": 5, "d": 5, "e": 1}


def test_ties_at_the_kth_count_are_correct_answers():
    assert precision_at_k(["a", "b", "d"], EXACT, 3) == 1.0  # d ties with c
    assert precision_at_k(["a", "e", "b"], EXACT, 3) == 2 / 3
    assert recall_at_k(["a", "b", "c"], EXACT, 3) == 1.0
    assert recall_at_k(["a", "e"], EXACT, 3) == 1 / 3
    assert precision_at_k([], {}, 10) == recall_at_k([], {}, 10) == 1.0


def test_report_flags_a_count_outside_its_bounds():
    items = [ItemCount("a", 11, 9, 11, True), ItemCount("b", 9, 9, 9)]
    lines, ok = report(Answer(items, 0, 1, 29, 2, APPROXIMATE), EXACT, 2)
    assert not ok and lines[0].startswith("precision@2 1.000   recall@2 1.000")
    assert "guaranteed 1 (0 wrongly)" in lines[0]
    assert lines[2].split()[-2:] == ["yes", "yes"] and lines[3].split()[-2:] == ["NO", "no"]


def test_a_wrong_guarantee_fails_the_audit():
    items = [ItemCount("a", 10, 10, 10, True), ItemCount("e", 6, 1, 6, True)]  # e is not in the top 2
    assert wrongly_guaranteed(items, EXACT, 2) == ["e"]
    assert wrongly_guaranteed(items, EXACT, 5) == []  # ties at the 5th count: everything is in
    lines, ok = report(Answer(items, 0, 1, 29, 0, APPROXIMATE), EXACT, 2)
    assert not ok and lines[3].endswith("WRONG")


def test_the_growth_audit_fails_a_guarantee_for_an_item_counted_less_than_min_count():
    now, before = {"a": 30, "b": 12, "c": 4}, {"a": 10, "b": 2}  # growth over 2 periods: a 6x, b 12x, c 4x
    late = Change("b", 12, 10, 14, (12, 10, 14), (1, 1, 1), True)
    lines, ok = trend_report(Changes((late,), 6), now, before, 2, 1, False, min_count=20)  # b does not compete
    assert not ok and lines[1].endswith("WRONG")
    right = Change("a", 6, 6, 6, (30, 30, 30), (5, 5, 5), True)
    lines, ok = trend_report(Changes((right,), 4), now, before, 2, 1, False, min_count=20)
    assert ok and "0 unlisted past it" in lines[0]
    lines, ok = trend_report(
        Changes((right,), 4), now, before, 2, 1, False, min_count=3
    )  # b (12x) competes, past the bound
    assert not ok and "1 unlisted past it" in lines[0] and lines[1].endswith("WRONG")
