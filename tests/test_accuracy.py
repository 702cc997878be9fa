"""precision@K / recall@K and the audit report, on hand-made answers."""

from __future__ import annotations

from topk.query.audit import report
from topk.query.engine import APPROXIMATE, Answer
from topk.sketches import ItemCount
from topk.sketches.accuracy import precision_at_k, recall_at_k, wrongly_guaranteed

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
