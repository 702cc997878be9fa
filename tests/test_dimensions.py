"""What an event counts under: plain dimensions, the built-in eventType, and combinations, whose
joined values never collide (the JVM joins them alike: ``tests/integration/test_parse_event.py``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from topk.events import check_dimension, dimension_value, join_values

parts = st.lists(st.text(alphabet="ab|\\", max_size=4), min_size=2, max_size=3).map(tuple)


@given(parts, parts)
def test_joined_values_of_different_parts_differ(a, b):
    assert (join_values(a) == join_values(b)) == (a == b)


def test_an_event_counts_under_each_dimension_it_has():
    event = {"metadata": {"eventType": "product_view"}, "payload": {"region": "eu|west", "shelf": 7, "x": None}}
    assert dimension_value(event, "region") == "eu|west"
    assert dimension_value(event, "eventType") == "product_view"
    assert dimension_value(event, "region+eventType") == "eu\\|west|product_view"
    assert dimension_value(event, "eventType+shelf") == "product_view|7"
    assert dimension_value(event, "region+category") is None  # a part missing: not counted under it
    assert dimension_value(event, "x") is None
    assert dimension_value({"metadata": {}, "payload": {}}, "eventType") == "generic"
    long = {"metadata": {}, "payload": {"region": "r" * 250, "shelf": "s" * 256}}
    assert dimension_value(long, "shelf") == "s" * 256 and dimension_value(long, "region+shelf") is None


@pytest.mark.parametrize("name", ["region", "eventType", "region+eventType", "a+b+c+d+e+f+g+h", "_x"])
def test_dimension_names(name):
    assert check_dimension(name) == name


@pytest.mark.parametrize("name", ["", "all", "region+", "+region", "a+a", "a-b", "1a", "a+b+c+d+e+f+g+h+i", "x" * 65])
def test_bad_dimension_names(name):
    with pytest.raises(ValueError, match="bad dimension"):
        check_dimension(name)
