"""The API's request layer (REST and GraphQL) over a stand-in for the engine that echoes what it was
asked: which items and times reach the engine, which are refused and how, and the numbers an answer
can carry. The engine itself is tested against real stores in tests/integration/."""

from __future__ import annotations

import argparse
import json
from fractions import Fraction
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from redis.exceptions import RedisError

from topk.alerts import Alert
from topk.events import EVENT_TIME_RANGE_MS
from topk.query.access import token_hash
from topk.query.api import ApiConfig, ApiSettings, create_app
from topk.query.engine import APPROXIMATE, Answer, Progress
from topk.settings import add_settings, settings_of
from topk.sketches import HeavyHittersSketch, ItemCount
from topk.sketches.heavy_hitters import Frequent
from topk.sketches.trend import Changes, changes, ratios
from topk.stores.alerts_topic import AlertFeed
from topk.times import iso
from topk.windows import WindowSpec, parse_windows

WINDOWS = parse_windows("1m,1h,1d,all")  # the job's default windows and retention
BIG = 3 * 2**31  # counts past 32 bits


NEWEST_END = 1_767_225_600_000  # 2026-01-01: the end of the newest finest window Echo has written
NEWEST = Progress(NEWEST_END, NEWEST_END + 5_000)


class Echo:
    """Answers every question with the item and range it was asked, counts past 32 bits."""

    def __init__(self, progress: Progress | None = NEWEST) -> None:
        self.reached = progress

    def for_tenant(self, tenant: str) -> Echo:
        return self

    def progress(self) -> Progress | None:
        return self.reached

    def ready(self) -> dict[str, bool]:
        return {"redis": True, "cassandra": True}

    def answer(self, item: str, start: int, end: int, mode: str = APPROXIMATE) -> Answer:
        return Answer([ItemCount(item, BIG, BIG - 7, BIG + 7)], start, end, 2 * BIG, 7, mode)

    def latest(self, k: int, window: str, dimension: str, value: str) -> Answer:
        return self.answer("x", 0, 60_000)

    def range_topk(self, k: int, start: int, end: int, dimension: str, value: str, mode: str = APPROXIMATE) -> Answer:
        return self.answer("x", start, end, mode)

    def count(self, item: str, start: int, end: int, dimension: str, value: str, mode: str = APPROXIMATE) -> Answer:
        return self.answer(item, start, end, mode)

    def frequent(self, phi: Fraction, start: int, end: int, dimension: str, value: str) -> tuple[Frequent, Answer]:
        found = Frequent((ItemCount("x", BIG, BIG - 7, BIG + 7, True),), int(phi * 2 * BIG), 7)
        return found, self.answer("x", start, end)

    def trending(
        self,
        k: int,
        start: int,
        end: int,
        periods: int,
        dimension: str,
        value: str,
        falling: bool = False,
        min_count: int | None = None,
    ) -> tuple[Changes, Answer, Answer]:
        now = HeavyHittersSketch(8, 16, 2)
        now.update("x", BIG)
        before = HeavyHittersSketch(8, 16, 2)
        if min_count is None:
            found = changes(now, before, periods, k, falling=falling)
        else:
            found = ratios(now, before, periods, k, min_count)
        return found, self.answer("x", start, end), self.answer("x", start - periods * (end - start), start)

    def series(
        self, item: str, window: WindowSpec, start: int, end: int, dimension: str, value: str
    ) -> list[tuple[int, ItemCount]]:
        return [(start, self.answer(item, start, end).items[0])]


def client(queries: Echo | None = None, **config: object) -> TestClient:
    return TestClient(create_app(queries or Echo(), ApiConfig(WINDOWS, **config)), raise_server_exceptions=False)


def graphql(api: TestClient, query: str, **variables: object) -> dict:
    sent = json.dumps({"query": query, "variables": variables})  # (ASCII: escapes a lone surrogate, as JSON may)
    r = api.post("/graphql", content=sent, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()


LOW, HIGH = EVENT_TIME_RANGE_MS
TIMES_OUT_OF_RANGE = [
    ("999999999000000", "999999999999999"),  # year 33658: within --max-range-days, past what a time can be
    (str(HIGH - 60_000), str(HIGH + 1)),
    ("9999-06-01T00:00:00Z", "9999-06-02T00:00:00Z"),
    ("0001-01-01T00:00:00Z", "0001-01-02T00:00:00Z"),
    ("1969-12-31T23:00:00Z", "1970-01-01T01:00:00Z"),
]


@pytest.mark.parametrize(("start", "end"), TIMES_OUT_OF_RANGE)
def test_times_past_what_the_job_holds_are_refused_naming_the_range(start, end):
    api = client()
    span = {"start": start, "end": end}
    for path, params in [
        ("/api/v1/topk/historical", span),
        ("/api/v1/topk/historical", {**span, "mode": "exact"}),
        ("/api/v1/count/x", span),
        ("/api/v1/count/x", {**span, "mode": "exact"}),
        ("/api/v1/series/x", {**span, "window": "1d"}),
    ]:
        r = api.get(path, params=params)
        assert r.status_code == 400, (path, params, r.text)
        assert "1970-01-01T00:00:00.000Z to 9999-01-01T00:00:00.000Z" in r.json()["detail"], r.json()
    for mode in ("APPROXIMATE", "EXACT"):
        for lookup in ("topK(k: 5, start: $s, end: $e) { start }", 'count(item: "x", start: $s, end: $e) { count }'):
            query = f"query($s: String!, $e: String!) {{ {lookup.replace('$e)', f'$e, mode: {mode})')} }}"
            errors = graphql(api, query, s=start, e=end)["errors"]
            assert "to 9999-01-01T00:00:00.000Z" in errors[0]["message"], errors


def test_every_time_the_job_holds_is_answered():
    api = client()
    for start, end in [(str(LOW), "60000"), (str(HIGH - 86_400_000), str(HIGH)), ("9998-12-31", "9999-01-01")]:
        r = api.get("/api/v1/topk/historical", params={"start": start, "end": end, "mode": "exact"})
        assert r.status_code == 200, r.text
        r = api.get("/api/v1/series/x", params={"start": start, "end": end, "window": "1m"})
        assert r.status_code == 200, r.text


ITEMS = [
    "/page/1",
    "/",
    "//",
    "a/",
    "/page/1?utm=x&y=z#top",
    "50%",
    "100%25",
    "%2F",
    "%",
    "a b",
    " a",
    "a ",
    "+1+",
    ".",
    "..",
    "a/../b",
    "./x",
    "naïve café",
    "漢字",
    "☃",
    "🚀🚀",
    "\t\n\r",
    "\u200b",
    "\ufeffx",
    "\\x\\",
    '"q"',
    "<b>",
    "x" * 1024,
    "🚀" * 1024,
]
SPAN = {"start": "2026-01-01T00:00Z", "end": "2026-01-01T01:00Z"}
COUNT = "count(item: $i, start: $s, end: $e) { item }"
TIMES = {"s": SPAN["start"], "e": SPAN["end"]}


def asked(r) -> str:
    assert r.status_code == 200, r.text
    body = r.json()
    return body["results"][0]["item"] if "results" in body else body["metadata"]["item"]


def test_every_item_a_stream_can_carry_can_be_asked_about():
    api = client()
    for item in ITEMS:
        assert asked(api.get("/api/v1/count", params={**SPAN, "item": item})) == item
        assert asked(api.get("/api/v1/series", params={**SPAN, "item": item, "window": "1m"})) == item
        # a path cannot carry the segments . and .. (clients resolve them); TestClient decodes %XX twice
        if item not in (".", "..") and "%2" not in item:
            for route in ("count", "series"):
                r = api.get(f"/api/v1/{route}/{quote(item, safe='')}", params={**SPAN, "window": "1m"})
                assert asked(r) == item, (route, item)
        for mode in ("APPROXIMATE", "EXACT"):
            query = f"query($i: String!, $s: String!, $e: String!) {{ {COUNT.replace('$e)', f'$e, mode: {mode})')} }}"
            assert graphql(api, query, i=item, **TIMES)["data"]["count"]["item"] == item
        literal = COUNT.replace("$i", json.dumps(item)).replace("$s", '"0"').replace("$e", '"1"')
        assert graphql(api, f"{{ {literal} }}")["data"]["count"]["item"] == item


def test_items_no_stream_can_carry_are_refused():
    api = client()
    for item in ("", "x" * 1025):
        assert api.get("/api/v1/count", params={**SPAN, "item": item}).status_code == 422
        if item:
            assert api.get(f"/api/v1/count/{item}", params=SPAN).status_code == 422
    query = f"query($i: String!, $s: String!, $e: String!) {{ {COUNT} }}"
    for item, reason in [("", "1 to 1024 characters"), ("x" * 1025, "1 to 1024 characters"), ("a\ud800", "Unicode")]:
        errors = graphql(api, query, i=item, **TIMES)["errors"]
        assert reason in errors[0]["message"], (item[:5], errors)


def test_graphql_numbers_are_64_bit():
    api = client()
    windows = graphql(api, "{ windows { label sizeMs retentionMs } }")
    assert "errors" not in windows, windows
    assert {w["label"]: w["retentionMs"] for w in windows["data"]["windows"]}["1h"] == 7_776_000_000
    answer = "totalEvents errorBound results { count lowerBound upperBound }"
    data = graphql(api, f'{{ latest: topK {{ {answer} }} range: topK(start: "0", end: "1") {{ {answer} }} }}')
    assert "errors" not in data, data
    for name in ("latest", "range"):
        assert data["data"][name] == {
            "totalEvents": 2 * BIG,
            "errorBound": 7,
            "results": [{"count": BIG, "lowerBound": BIG - 7, "upperBound": BIG + 7}],
        }
    count = graphql(api, '{ count(item: "x", start: "0", end: "1") { count lowerBound upperBound } }')
    assert count["data"]["count"] == {"count": BIG, "lowerBound": BIG - 7, "upperBound": BIG + 7}
    schema = api.post("/graphql", json={"query": '{ __type(name: "Long") { kind description } }'}).json()
    assert schema["data"]["__type"]["kind"] == "SCALAR" and "64-bit" in schema["data"]["__type"]["description"]


def test_each_graphql_lookup_counts_against_the_rate_limit():
    api = client(rate_limit_per_minute=5)
    lookups = [f'a{n}: topK(window: "1m") {{ start }}' for n in range(3)]
    lookups += [f'b{n}: count(item: "x", start: "0", end: "1") {{ count }}' for n in range(4)]
    body = graphql(api, "{ " + " ".join(lookups) + " windows { label } }")
    answered = [name for name, value in body["data"].items() if value is not None and name != "windows"]
    refused = [e["message"] for e in body["errors"]]
    assert len(answered) == 5 and refused == ["more than 5 requests this minute (each lookup counts one)"] * 2
    assert api.get("/api/v1/windows").status_code == 429


def test_a_graphql_body_past_its_size_is_refused():
    api = client(max_graphql_bytes=1_000)
    query = "{ windows { label } }"
    fits = json.dumps({"query": query + " " * (1_000 - len(query) - 13)})
    as_json = {"content-type": "application/json"}
    assert len(fits) == 1_000 and api.post("/graphql", content=fits, headers=as_json).status_code == 200
    over = fits[:-1] + " }"
    for sent in (over.encode(), iter([over[:600].encode(), over[600:].encode()])):  # declared, then chunked
        r = api.post("/graphql", content=sent, headers=as_json)
        assert r.status_code == 413 and "more than 1,000 bytes (--max-graphql-bytes)" in r.json()["detail"], r.text


def metrics(api: TestClient, token: str | None = None) -> tuple[int, str]:
    r = api.get("/metrics", headers={"Authorization": f"Bearer {token}"} if token else {})
    return r.status_code, r.text


def test_metrics_need_the_admin_token_and_label_only_known_tenants():
    open_api = client()
    for n in range(3):
        assert open_api.get("/api/v1/windows", params={"tenant": f"made-up-{n}"}).status_code == 200
    status, text = metrics(open_api)  # open: only on 127.0.0.1 unless --insecure-open (ApiSettings)
    assert status == 200 and "made-up" not in text
    assert 'path="/api/v1/windows",status="200",tenant="other"' in text

    api = client(api_token="root", tenant_tokens={token_hash("a"): "acme"})
    assert metrics(api)[0] == metrics(api, "wrong")[0] == 401 and metrics(api, "a")[0] == 403
    for token, tenant in [("a", None), ("root", "acme"), ("root", "made-up"), ("root", None), ("wrong", "acme")]:
        api.get(
            "/api/v1/windows", params={"tenant": tenant} if tenant else {}, headers={"Authorization": f"Bearer {token}"}
        )
    status, text = metrics(api, "root")
    assert status == 200 and "made-up" not in text
    for label in (
        'status="200",tenant="acme"} 2.0',
        'status="200",tenant="other"} 1.0',
        'status="200",tenant="default"} 1.0',
        'status="401",tenant=""} 1.0',
    ):
        assert label in text, label


def api_settings(*argv: str) -> ApiSettings:
    parser = argparse.ArgumentParser()
    add_settings(parser, ApiSettings)
    return settings_of(ApiSettings, parser.parse_args(argv), parser)


def test_with_no_token_the_api_listens_on_loopback_only_unless_told(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("TOPK_API_TOKEN", raising=False)
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert "open to anyone who can reach" in api_settings("--host", host).notice()
    for host in ("0.0.0.0", "::", "", "10.1.2.3", "api.example.com"):
        with pytest.raises(SystemExit):
            api_settings("--host", host)
        assert "--insecure-open" in capsys.readouterr().err
    opened = api_settings("--host", "0.0.0.0", "--insecure-open")
    assert "--insecure-open" in opened.notice() and "0.0.0.0:8080" in opened.notice()
    (tmp_path / "token").write_text("s3cret\n")
    assert api_settings("--host", "0.0.0.0", "--api-token-file", str(tmp_path / "token")).notice() == ""
    monkeypatch.setenv("TOPK_API_TOKEN", "s3cret")
    assert api_settings("--host", "0.0.0.0").notice() == ""


def test_trending_and_frequent_answer_alike_in_rest_and_graphql_with_64_bit_counts():
    api = client()
    span = {"start": "0", "end": "3600000"}
    rest = api.get("/api/v1/trending", params={**span, "baseline": 3}).json()
    assert rest["results"][0]["change"] == BIG and rest["metadata"]["baseline"]["periods"] == 3
    assert api.get("/api/v1/trending", params={**span, "direction": "falling"}).json()["results"] == []
    query = """query ($s: String!, $e: String!) {
      trending(start: $s, end: $e, baseline: 3) { direction results { item change count guaranteed } }
      frequent(start: $s, end: $e, phi: 0.5) { threshold complete results { item count } } }"""
    data = graphql(api, query, s="0", e="3600000")["data"]
    assert data["trending"] == {
        "direction": "rising",
        "results": [{"item": "x", "change": BIG, "count": BIG, "guaranteed": True}],
    }
    frequent = api.get("/api/v1/frequent", params={**span, "phi": 0.5}).json()
    assert frequent["metadata"]["threshold"] == data["frequent"]["threshold"] == BIG
    assert data["frequent"]["complete"] and data["frequent"]["results"] == [{"item": "x", "count": BIG}]
    for bad in ({"phi": 0}, {"phi": 1.5}, {"phi": "nan"}):
        assert api.get("/api/v1/frequent", params={**span, **bad}).status_code == 422
    errors = graphql(api, '{ frequent(start: "0", end: "60000", phi: 0) { threshold } }')["errors"]
    assert "phi" in errors[0]["message"], errors
    growth = api.get("/api/v1/trending", params={**span, "min_count": BIG}).json()  # new: grew by its count
    assert growth["metadata"]["measure"] == "growth" and growth["metadata"]["min_count"] == BIG
    assert growth["results"][0]["change"] == BIG and growth["results"][0]["guaranteed"]
    query = 'query ($m: Long!) { trending(start: "0", end: "9", minCount: $m) { measure minCount results { change } } }'
    assert graphql(api, query, m=BIG)["data"]["trending"] == {
        "measure": "growth",
        "minCount": BIG,
        "results": [{"change": BIG}],
    }
    falling = api.get("/api/v1/trending", params={**span, "min_count": 1, "direction": "falling"})
    assert falling.status_code == 400 and "min_count" in falling.json()["detail"]
    assert api.get("/api/v1/trending", params={**span, "min_count": 0}).status_code == 422
    errors = graphql(api, '{ trending(start: "0", end: "60000", minCount: 0) { measure } }')["errors"]
    assert "min_count" in errors[0]["message"], errors
    variable = 'query ($m: Long!) { trending(start: "0", end: "9", minCount: $m) { measure } }'
    for bad in ("30", 2.5, True, 2**63):  # a Long argument is a 64-bit integer, or a GraphQL error (not a 5xx)
        inline = variable.replace("query ($m: Long!) ", "").replace("$m", json.dumps(bad))
        for errors in (graphql(api, inline)["errors"], graphql(api, variable, m=bad)["errors"]):
            assert "Long" in errors[0]["message"], (bad, errors)


def test_last_counts_back_from_the_newest_window_and_every_answer_says_how_fresh_it_is():
    api, three_hours = client(), 3 * 3_600_000
    fresh = {"counted_through": iso(NEWEST_END), "written_at": iso(NEWEST_END + 5_000)}
    for path, extra in [
        ("/api/v1/topk/historical", {}),
        ("/api/v1/frequent", {"phi": 0.1}),
        ("/api/v1/trending", {"baseline": 6}),
        ("/api/v1/count/x", {}),
        ("/api/v1/series/x", {"window": "1h"}),
    ]:
        meta = api.get(path, params={"last": "3h", **extra}).json()["metadata"]
        assert (meta["start"], meta["end"]) == (iso(NEWEST_END - three_hours), iso(NEWEST_END)), path
        assert meta["freshness"] == fresh, path
        for bad in ({"last": "3h", "start": "0"}, {"last": "3 hours"}, {"end": "0"}):
            r = api.get(path, params={**extra, **bad})
            assert r.status_code == 400 and "last" in r.json()["detail"], (path, bad, r.text)
    assert api.get("/api/v1/topk", params={"window": "1m"}).json()["metadata"]["freshness"] == fresh
    query = """{ topK(last: "3h") { start end freshness { countedThrough writtenAt } }
                 frequent(last: "90m", phi: 0.5) { start freshness { countedThrough } } }"""
    data = graphql(api, query)["data"]
    written = {"countedThrough": fresh["counted_through"], "writtenAt": fresh["written_at"]}
    assert data["topK"] == {"start": iso(NEWEST_END - three_hours), "end": iso(NEWEST_END), "freshness": written}
    assert data["frequent"]["start"] == iso(NEWEST_END - 90 * 60_000)
    empty = client(Echo(progress=None))
    r = empty.get("/api/v1/topk/historical", params={"last": "3h"})
    assert r.status_code == 404 and "no window is stored yet" in r.json()["detail"]
    assert "no window is stored yet" in graphql(empty, '{ topK(last: "1h") { start } }')["errors"][0]["message"]


class Down(Echo):
    """Answers, but no store can tell how far its results reach."""

    def progress(self) -> Progress | None:
        raise RedisError("down")


def test_freshness_unknown_leaves_the_answer_standing_and_a_lone_surrogate_value_is_refused():
    api = client(Down())
    r = api.get("/api/v1/topk/historical", params={"start": "0", "end": "60000"})
    assert r.status_code == 200 and r.json()["metadata"]["freshness"] == {"counted_through": None, "written_at": None}
    assert api.get("/api/v1/topk/historical", params={"last": "1h"}).status_code == 503  # last= needs to know
    assert graphql(api, '{ topK(start: "0", end: "60000") { freshness { countedThrough } } }')["data"] == {
        "topK": {"freshness": {"countedThrough": None}}
    }
    errors = graphql(client(), 'query ($v: String!) { topK(dimension: "region", value: $v) { start } }', v="a\ud800")
    assert errors["errors"][0]["message"].startswith("value: 1 to 256 characters of Unicode text"), errors


def alert(tenant: str, minute: int, item: str, window: str = "1m") -> Alert:
    size = 60_000 if window == "1m" else 3_600_000
    return Alert(tenant, window, minute * size, (minute + 1) * size, "region", "eu-west", item, 60, 64, 100, 0.5)


def test_alerts_list_the_tenants_latest_and_refuse_bad_requests_with_a_4xx():
    feed = AlertFeed(None, "topk-alerts")  # type: ignore[arg-type]  # filled by hand: no reader started
    for a in [alert("acme", 1, "x"), alert("acme", 2, "y"), alert("acme", 0, "z", "1h"), alert("beta", 3, "b")]:
        feed.add(a)
    api = TestClient(
        create_app(Echo(), ApiConfig(WINDOWS, api_token="root", tenant_tokens={token_hash("a"): "acme"}), alerts=feed),
        raise_server_exceptions=False,
    )
    as_acme = {"Authorization": "Bearer a"}
    r = api.get("/api/v1/alerts", headers=as_acme)
    assert r.status_code == 200, r.text
    listed = r.json()["alerts"]
    assert [(a["window"], a["item"]) for a in listed] == [("1h", "z"), ("1m", "y"), ("1m", "x")]
    assert listed[1] | {"start": None, "end": None} == alert("acme", 2, "y").as_json() | {"start": None, "end": None}
    assert listed[1]["start"] == iso(120_000) and r.json()["feed"]["topic"] == "topk-alerts"
    assert r.json()["feed"]["skipped"] == 0
    assert [a["item"] for a in api.get("/api/v1/alerts?window=1m&limit=1", headers=as_acme).json()["alerts"]] == ["y"]
    assert api.get("/api/v1/alerts?tenant=beta", headers=as_acme).status_code == 404  # another tenant's: not found
    assert [
        a["item"]
        for a in api.get("/api/v1/alerts?tenant=beta", headers={"Authorization": "Bearer root"}).json()["alerts"]
    ] == ["b"]
    for bad, status in [
        ("window=all", 400),
        ("window=5m", 400),
        ("limit=0", 422),
        ("limit=201", 422),
        ("window=" + "x" * 17, 422),
    ]:
        assert api.get(f"/api/v1/alerts?{bad}", headers=as_acme).status_code == status, bad
    assert api.get("/api/v1/alerts").status_code == 401
    unconfigured = client().get("/api/v1/alerts")  # no alerts topic: none, and the feed says so
    assert unconfigured.status_code == 200 and unconfigured.json() | {"tenant": None} == {
        "tenant": None,
        "alerts": [],
        "feed": None,
    }


def test_graphql_lists_the_same_alerts_and_refuses_bad_arguments_by_name():
    feed = AlertFeed(None, "topk-alerts")  # type: ignore[arg-type]  # filled by hand: no reader started
    for a in [alert("default", 1, "x"), alert("default", 2, "y"), alert("beta", 3, "b")]:
        feed.add(a)
    api = TestClient(create_app(Echo(), ApiConfig(WINDOWS), alerts=feed), raise_server_exceptions=False)
    query = 'query ($limit: Int!) { alerts(limit: $limit, window: "1m") { item start lowerBound totalEvents phi } }'
    answer = graphql(api, query, limit=5)["data"]["alerts"]
    assert answer == [
        {"item": i, "start": iso(m * 60_000), "lowerBound": 60, "totalEvents": 100, "phi": 0.5}
        for i, m in [("y", 2), ("x", 1)]
    ]
    assert [a["item"] for a in api.get("/api/v1/alerts").json()["alerts"]] == ["y", "x"]  # REST, the same
    for bad in ["alerts(limit: 0) { item }", 'alerts(window: "all") { item }', 'alerts(window: "2m") { item }']:
        errors = graphql(api, "{ " + bad + " }")["errors"]
        assert errors and errors[0]["path"] == ["alerts"], errors
