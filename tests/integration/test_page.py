"""What a person sees: the leaderboard page in a real browser (Debian's Chromium, driven by
Playwright) and the GraphQL API, both over the windows the real job stored (conftest's ``stored``),
compared with the REST API's answers to the same questions."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from fastapi.testclient import TestClient
from graphql import get_introspection_query
from playwright.sync_api import Page, expect, sync_playwright

from tests.integration.helpers import CAPACITY, TENANT, WINDOWS, K, serving, wait_for
from topk.alerts import Alert
from topk.generator.events import exact_counts
from topk.query.api import ApiConfig, create_app
from topk.sketches import HeavyHittersSketch
from topk.stores.alerts_topic import AlertFeed
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import write_result
from topk.window_result import WindowResult

pytestmark = pytest.mark.integration
M, H = 60_000, 3_600_000
TOKEN = "page-test-token"
CHROMIUM = "/usr/bin/chromium"  # apt's (scripts/setup.sh); Playwright's own download cannot be reached


def rest_items(api: TestClient, **params: str) -> list[str]:
    return [x["item"] for x in rest_answer(api, "/api/v1/topk", **params)["results"]]


def rest_answer(api: TestClient, path: str, **params: str) -> dict:
    r = api.get(path, params=params, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()


GRAPHQL = """query ($start: String!, $end: String!) {
  hour: topK(window: "1h", k: 5) { ...answer }
  eu: topK(window: "1m", dimension: "region", value: "eu-west", k: 4) { ...answer }
  range: topK(k: 8, start: $start, end: $end) { ...answer }
  one: count(item: "item-1", start: $start, end: $end) { item count lowerBound upperBound guaranteed }
}
fragment answer on TopK {
  start end totalEvents errorBound guaranteed accuracy windowsMerged
  results { rank item count lowerBound upperBound guaranteed }
}"""


def camel(row: dict) -> dict:
    return {"".join(w.title() if i else w for i, w in enumerate(k.split("_"))): v for k, v in row.items()}


def test_graphql_answers_equal_rest_answers(stored, queries):
    spec = stored[0]
    api = TestClient(create_app(queries, ApiConfig(WINDOWS, max_k=CAPACITY, api_token=TOKEN)))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    start, end = str(spec.start_ms + 17 * M), str(spec.start_ms + 2 * H + 3 * M)
    r = api.post("/graphql", json={"query": GRAPHQL, "variables": {"start": start, "end": end}}, headers=auth)
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    data = r.json()["data"]
    rest = {
        "hour": api.get("/api/v1/topk", params={"window": "1h", "k": 5}, headers=auth),
        "eu": api.get(
            "/api/v1/topk", params={"window": "1m", "dimension": "region", "value": "eu-west", "k": 4}, headers=auth
        ),
        "range": api.get("/api/v1/topk/historical", params={"k": 8, "start": start, "end": end}, headers=auth),
    }
    for name, response in rest.items():
        body = response.json()
        assert [camel(x) for x in body["results"]] == data[name]["results"], name
        for field in ("start", "end", "total_events", "error_bound", "guaranteed", "accuracy", "windows_merged"):
            assert data[name][camel({field: 0}).popitem()[0]] == body["metadata"][field], (name, field)
    count = api.get("/api/v1/count/item-1", params={"start": start, "end": end}, headers=auth).json()
    one = count["results"][0]
    assert data["one"] == {
        "item": "item-1",
        "count": one["count"],
        "lowerBound": one["lower_bound"],
        "upperBound": one["upper_bound"],
        "guaranteed": one["guaranteed"],
    }


def test_graphql_refuses_deep_fanned_out_bad_and_anonymous_queries(queries):
    api = TestClient(create_app(queries, ApiConfig(WINDOWS, max_k=CAPACITY, api_token=TOKEN)))
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def errors(query: str, headers: dict = auth) -> list[str]:
        r = api.post("/graphql", json={"query": query}, headers=headers)
        assert r.status_code < 500, r.text
        return [e["message"] for e in r.json().get("errors", [])]

    assert errors(get_introspection_query()) == []  # a client may fetch the schema
    too_deep = "{ __schema { types { fields { type { " + "ofType { " * 12 + "name" + " }" * 16 + " }"
    assert errors(too_deep) == ["query depth 17 exceeds the maximum of 15"]
    fan_out = "{ " + " ".join(f'a{i}: topK(window: "1m", value: "v{i}") {{ start }}' for i in range(40)) + " }"
    assert any("aliases" in e for e in errors(fan_out))
    assert errors("{ topK(k: 0) { start } }") == [f"k: from 1 to {CAPACITY}"]
    assert errors('{ topK(window: "2h") { start } }') == ["unknown window '2h'; stored windows: 1m, 1h, all"]
    assert errors('{ topK(dimension: "a b") { start } }') == [
        "dimension: all, a name (letters, digits, _) or up to 8 names joined by +"
    ]
    assert errors('{ count(item: "x", start: "soon", end: "later") { count } }') == [
        "start: not epoch ms or ISO-8601: 'soon'"
    ]
    assert api.post("/graphql", json={"query": "{ windows { label } }"}).status_code == 401


def test_series_gives_one_items_bounds_per_stored_window(stored, queries):
    spec, _, events = stored
    api = TestClient(create_app(queries, ApiConfig(WINDOWS, max_k=CAPACITY)))
    start, end = spec.start_ms, spec.start_ms + 2 * H
    r = api.get("/api/v1/series/item-1", params={"window": "1m", "start": start, "end": end})
    assert r.status_code == 200, r.text
    points = r.json()["points"]
    truth = {s: c.get("item-1", 0) for s, c in exact_counts(iter(events), M).items() if start <= s < end}
    assert len(points) == len(truth) == 120
    for p, (s, true) in zip(points, sorted(truth.items()), strict=True):
        assert p["window_start"].startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(s / 1000)))
        assert p["lower_bound"] <= true <= p["upper_bound"]
    hour = api.get("/api/v1/series/item-1", params={"window": "1h", "start": start, "end": end}).json()
    assert [p["count"] for p in hour["points"]] == [
        queries.count("item-1", s, s + H, "all", "all").items[0].estimate for s in (start, start + H)
    ]


PAGE_ALERTS = [  # what the job writes to its alerts topic (tests/integration/test_recovery.py runs that)
    Alert("default", "1m", 5 * M, 6 * M, "region", "eu-west", "burst-item", 620, 640, 1000, 0.5),
    Alert(TENANT, "1h", 0, H, "all", "all", "acme-burst", 90, 95, 100, 0.8),
]


@pytest.fixture
def served_page(queries, servers, run_id) -> Iterator[str]:
    """The API (and page) over the stored windows, on a real port, in a thread of this process, with an alerts
    topic holding ``PAGE_ALERTS``."""
    topic = f"page_alerts_{run_id}"
    producer = Producer({"bootstrap.servers": servers.bootstrap})
    for a in PAGE_ALERTS:
        producer.produce(topic, a.encode()[1], a.key)
    assert producer.flush(30) == 0
    feed = AlertFeed(servers.kafka, topic).start()
    try:
        with serving(create_app(queries, ApiConfig(WINDOWS, max_k=CAPACITY, api_token=TOKEN), alerts=feed)) as url:
            yield url
    finally:
        feed.close()


ODD_ITEMS = ["/page/1?x=1#top", "..", "50% off", "a/../b", "naïve ☃ 🚀"]


def table_items(page: Page) -> list[str]:
    return page.locator("#table tbody tr td:nth-child(2)").all_inner_texts()


def test_the_page_shows_the_apis_top_k_switches_views_and_picks_up_new_windows(
    served_page, stored, queries, servers, tmp_path
):
    spec, run_id, _ = stored
    api = TestClient(create_app(queries, ApiConfig(WINDOWS, max_k=CAPACITY, api_token=TOKEN)))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 1200})
        page.goto(served_page)
        expect(page.get_by_test_id("status")).to_contain_text("401")  # same auth as the API
        page.get_by_test_id("token").fill(TOKEN)
        page.get_by_test_id("show").click()
        expect(page.get_by_test_id("status")).to_contain_text("updated")
        assert page.get_by_test_id("window").input_value() == "1m"  # the finest first
        expect(page.locator("#table tbody tr")).to_have_count(K)  # the job stored the top-K of each window
        assert table_items(page) == rest_items(api, window="1m", k="10")
        assert page.locator("#chart rect.bar").count() == K and page.locator("#chart line.whisker").count() == 3 * K

        page.get_by_test_id("window").select_option("1h")
        expect(page.locator("#table tbody tr").first).to_contain_text(rest_items(api, window="1h", k="10")[0])
        wait_for(lambda: table_items(page) == rest_items(api, window="1h", k="10"), 10)
        assert table_items(page) == rest_items(api, window="1h", k="10")
        page.get_by_test_id("dimension").fill("region")
        page.get_by_test_id("value").fill("eu-west")
        page.get_by_test_id("value").dispatch_event("change")
        eu = rest_items(api, window="1h", k="10", dimension="region", value="eu-west")
        assert wait_for(lambda: table_items(page) == eu, 10), (table_items(page), eu)
        expect(page.get_by_test_id("meta")).to_contain_text("region=eu-west")
        expect(page.locator("#alerts-table tbody tr")).to_have_count(1)  # the default tenant's, not acme's
        expect(page.locator("#alerts-table tbody tr").first).to_contain_text("region = eu-west")
        expect(page.locator("#alerts-table tbody tr").first).to_contain_text("burst-item")
        expect(page.locator("#alerts-table tbody tr").first).to_contain_text("[620, 640] of 1000")

        page.locator("#table tbody tr").first.click()  # the item's count per minute, from the stored summaries
        expect(page.get_by_test_id("detail")).to_be_visible()
        expect(page.get_by_test_id("detail-meta")).to_contain_text("stored window")
        screenshots = Path(os.environ.get("TOPK_SCREENSHOTS", tmp_path))
        page.screenshot(path=screenshots / "leaderboard.png", full_page=True)

        # what rose most in the last hour against the two before it, and what is above 2 %: as REST answers
        eu_west = {"dimension": "region", "value": "eu-west", "last": "1h"}
        rising = rest_answer(api, "/api/v1/trending", **eu_west, baseline="2", k="10", direction="rising")
        page.get_by_test_id("baseline").fill("2")
        page.get_by_test_id("view").select_option("rising")
        rows = [r["item"] for r in rising["results"]]
        assert rows and wait_for(lambda: table_items(page) == rows, 10), (table_items(page), rows)
        first = rising["results"][0]
        expect(page.locator("#table tbody tr").first).to_contain_text(
            f"[{first['change_lower_bound']}, {first['change_upper_bound']}]"
        )
        expect(page.get_by_test_id("meta")).to_contain_text("rising against the mean of 2 range(s)")
        page.screenshot(path=screenshots / "rising.png", full_page=True)
        grew = rest_answer(api, "/api/v1/trending", **eu_west, baseline="2", k="10", min_count="5")
        page.get_by_test_id("min-count").fill("5")
        page.get_by_test_id("view").select_option("growing")
        rows = [r["item"] for r in grew["results"]]
        assert rows and wait_for(lambda: table_items(page) == rows, 10), (table_items(page), rows)
        expect(page.get_by_test_id("meta")).to_contain_text("among items counted 5+ times")
        above = rest_answer(api, "/api/v1/frequent", **eu_west, phi="0.02")
        page.get_by_test_id("share").fill("2")
        page.get_by_test_id("view").select_option("frequent")
        rows = [r["item"] for r in above["results"]]
        assert rows and wait_for(lambda: table_items(page) == rows, 10), (table_items(page), rows)
        expect(page.get_by_test_id("meta")).to_contain_text(f"threshold {above['metadata']['threshold']}")
        page.get_by_test_id("view").select_option("top")

        # live refresh: a newer 1h window lands in Redis, and the page shows it without a click
        newest = spec.start_ms + 3 * H
        sketch = HeavyHittersSketch(CAPACITY, 64, 2)
        sketch.update("fresh-item", 999)
        for n, item in enumerate(ODD_ITEMS):
            sketch.update(item, 10 + n)
        result = WindowResult.of(
            sketch, window="1h", dimension="region", value="eu-west", start=newest, end=newest + H, k=8
        )
        write_result(redis_connect(servers.redis_url), result, WINDOWS[1], run_id)
        expect(page.locator("#table tbody tr").first).to_contain_text("fresh-item", timeout=15_000)
        for item in ODD_ITEMS:  # their history: items a URL path cannot hold as they are
            with page.expect_response(lambda r: "/api/v1/series" in r.url) as asked:
                page.locator("#table tbody tr").nth(table_items(page).index(item)).click()
            assert asked.value.status == 200 and asked.value.json()["metadata"]["item"] == item, asked.value.text()
            expect(page.get_by_test_id("detail-title")).to_contain_text(item)

        page.get_by_test_id("tenant").fill(TENANT)  # an admin token reads any tenant
        page.get_by_test_id("tenant").dispatch_event("change")
        acme = rest_items(api, window="1h", k="10", dimension="region", value="eu-west", tenant=TENANT)
        assert wait_for(lambda: table_items(page) == acme, 10), (table_items(page), acme)
        expect(page.locator("#alerts-table tbody tr").first).to_contain_text("acme-burst")
        expect(page.get_by_test_id("alerts-meta")).to_contain_text(f"1 latest alert(s) of tenant {TENANT}")
        browser.close()
