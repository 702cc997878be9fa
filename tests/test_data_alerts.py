"""Data alerts (topk.alerts): certain crossings against exact counts on streams that are not i.i.d.
Zipf, their record format, the once-per-window rule, and the API's per-tenant feed bound."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from topk.alerts import Alert, crossings, take_new, threshold
from topk.generator.shapes import adversarial, bursty, prose_words, turnover
from topk.sketches import HeavyHittersSketch
from topk.stores.alerts_topic import AlertFeed
from topk.window_result import WindowResult
from topk.windows import parse_windows
from udfs.window_fold import WindowFold

MINUTE = 60_000


def streams() -> dict[str, list[str]]:
    rng = np.random.default_rng(7)
    words = prose_words()
    return {
        "bursty": [f"i{r}" for r in bursty(rng, 40_000, 5_000, 0.9, burst_share=0.3)],
        "turnover": [f"i{r}" for r in turnover(rng, 40_000, 3_000, 1.2)],
        "adversarial": [f"i{r}" for r in adversarial(rng, 40_000, 5_000, 1.0)],
        "prose": [words[i % len(words)] for i in range(40_000)],
    }


def result_of(sketch: HeavyHittersSketch, window: str = "1m", start: int = 5 * MINUTE) -> WindowResult:
    return WindowResult.of(
        sketch, window=window, dimension="region", value="eu-west", start=start, end=start + MINUTE, k=10, tenant="acme"
    )


@pytest.mark.parametrize("name", ["bursty", "turnover", "adversarial", "prose"])
@pytest.mark.parametrize("phi", [0.001, 0.01, 0.05])
def test_every_alert_is_a_true_crossing_and_none_beyond_the_error_is_missed(name, phi):
    items = streams()[name]
    sketch = HeavyHittersSketch(capacity=256, cms_width=1024, cms_depth=4)  # far fewer counters than items
    sketch.update_batch(items, np.ones(len(items), np.int64))
    exact, total = Counter(items), len(items)
    alerts = list(crossings(result_of(sketch), sketch, phi))
    for a in alerts:
        assert a.lower_bound <= exact[a.item] <= a.upper_bound, a
        assert exact[a.item] > phi * total and a.lower_bound > phi * total, a
    surely = {x for x, c in exact.items() if c > phi * total + sketch.maximum_error}
    assert surely <= {a.item for a in alerts}
    assert len(alerts) < 1 / phi
    assert [a.lower_bound for a in alerts] == sorted((a.lower_bound for a in alerts), reverse=True)


def test_threshold_is_the_least_count_above_the_share_as_written():
    assert threshold(0.01, 1000) == 11 and threshold(0.3, 10) == 4 and threshold(0.5, 3) == 2
    assert threshold(0.29, 100) == 30 and threshold(0.57, 100) == 58 and threshold(0.58, 50) == 30  # not 0.2899..
    assert threshold(0.001, 2**60 + 1) == (2**60 + 1) // 1000 + 1  # past a double's 53 bits


def test_watched_items_only_and_no_alerts_for_all_time_or_without_a_share():
    sketch = HeavyHittersSketch(capacity=16)
    sketch.update_batch(["a"] * 50 + ["b"] * 40 + ["c"] * 10, np.ones(100, np.int64))
    assert [a.item for a in crossings(result_of(sketch), sketch, 0.3)] == ["a", "b"]
    assert [a.item for a in crossings(result_of(sketch), sketch, 0.3, frozenset({"b", "z"}))] == ["b"]
    assert list(crossings(result_of(sketch, "all", 0), sketch, 0.3)) == []
    assert [a.item for a in crossings(result_of(sketch, "1m", 0), sketch, 0.3)] == ["a", "b"]  # 1970-01-01 00:00
    assert list(crossings(result_of(sketch), sketch, 0.0)) == []
    assert list(crossings(result_of(sketch), sketch, 0.5)) == []  # 50 is not above half of 100


def test_a_record_decodes_to_its_alert_and_nothing_else_does():
    alert = Alert("acme", "1h", 3_600_000, 7_200_000, "region+eventType", 'eu|"x"', "ünï\\code", 41, 44, 100, 0.4)
    key, value = alert.encode()
    assert Alert.decode(key, value) == alert
    assert key == '["acme","1h",3600000,"region+eventType","eu|\\"x\\"","ünï\\\\code"]'.encode()
    for bad_key, bad_value in [
        (key, b"{"),
        (key, b"[]"),
        (key, value.replace(b'"v":1', b'"v":2')),
        (b"other", value),
        (key, value.replace(b'"item"', b'"thing"')),
        (key, b"\xff"),
        (None, None),
        (key, value.replace(b'"lowerBound":41', b'"lowerBound":Infinity')),
        (key, value.replace(b'"lowerBound":41', b'"lowerBound":1e999')),
        (key, value.replace(b'"lowerBound":41', b'"lowerBound":41.5')),
        (key, value.replace(b'"lowerBound":41', b'"lowerBound":true')),
        (key, b"[" * 100_000 + b"]" * 100_000),
    ]:
        with pytest.raises(ValueError):
            Alert.decode(bad_key, bad_value)


def test_a_window_alerts_each_item_once_while_it_may_be_emitted_again():
    sketch = HeavyHittersSketch(capacity=16)
    sketch.update_batch(["a"] * 60 + ["b"] * 40, np.ones(100, np.int64))
    fold = WindowFold(parse_windows("1m,1h"), allowed_lateness_ms=2 * MINUTE)
    first = list(crossings(result_of(sketch), sketch, 0.4))
    alerted: dict[str, list[str]] = {}
    open_at = lambda watermark: lambda w: fold.open_to_late(w, watermark)  # noqa: E731
    assert [a.item for a in take_new(alerted, first, open_at(6 * MINUTE))] == ["a"]
    sketch.update_batch(["b"] * 30, np.ones(30, np.int64))  # late events: b crosses too
    again = list(crossings(result_of(sketch), sketch, 0.4))
    assert [a.item for a in again] == ["b", "a"] and alerted == {"1m:300000": ["a"]}
    assert [a.item for a in take_new(alerted, again, open_at(7 * MINUTE))] == ["b"]
    assert take_new(alerted, again, open_at(8 * MINUTE - 1)) == []  # its lateness has passed: forgotten
    assert alerted == {}
    assert not fold.open_to_late("all:0", 0) and not fold.open_to_late("5m:0", 0)


def test_the_feed_keeps_each_tenants_latest_so_no_tenant_pushes_out_another():
    feed = AlertFeed(client=None, topic="unused", per_tenant=3)  # type: ignore[arg-type]  # never started

    def alert(tenant: str, minute: int, item: str) -> Alert:
        return Alert(tenant, "1m", minute * MINUTE, (minute + 1) * MINUTE, "all", "all", item, 9, 9, 10, 0.5)

    feed.add(alert("quiet", 1, "q"))
    for minute in range(100):
        feed.add(alert("loud", minute, "x"))
        feed.add(alert("loud", minute, "x"))  # the same key again: one alert
    assert [a.window_start // MINUTE for a in feed.latest("loud", 10)] == [99, 98, 97]
    assert [a.item for a in feed.latest("quiet", 10)] == ["q"]
    assert feed.latest("loud", 2, window="1h") == [] and feed.latest("nobody", 5) == []
    feed._take(b"x", b'{"v":1,"lowerBound":1e999}')  # a record no alert: counted, and the next is read
    feed._take(*alert("quiet", 2, "r").encode())
    assert feed.skipped == 1 and [a.item for a in feed.latest("quiet", 10)] == ["r", "q"]


def test_the_feed_keeps_a_bounded_number_of_tenants_dropping_the_stalest():
    feed = AlertFeed(client=None, topic="unused", per_tenant=2, tenants=3)  # type: ignore[arg-type]
    for minute, tenant in enumerate(["a", "b", "c", "a", "d"]):
        feed.add(Alert(tenant, "1m", minute * MINUTE, (minute + 1) * MINUTE, "all", "all", "x", 9, 9, 10, 0.5))
    assert [t for t in "abcd" if feed.latest(t, 5)] == ["a", "c", "d"]  # b's latest alert was the earliest
