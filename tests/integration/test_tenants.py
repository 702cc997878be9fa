"""Two tenants in one topic (conftest's ``stored``: the default tenant's skewed stream and tenant
``TENANT``'s): each gets windows of its own in Redis, Cassandra and the archive, counted exactly
where its sketches can be, and an API token reads its own tenant only, through every endpoint."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.integration.helpers import CAPACITY, TENANT, WINDOWS, K, counts_between, stored_top
from topk.events import DEFAULT_TENANT
from topk.query.access import token_hash
from topk.query.api import ApiConfig, create_app
from topk.query.engine import EXACT
from topk.sketches.accuracy import ranked
from topk.stores.redis_store import connect as redis_connect
from topk.stores.redis_store import tenant_prefix, window_key

pytestmark = pytest.mark.integration
H = 3_600_000
TOKENS = {TENANT: "acme-token", DEFAULT_TENANT: "default-token"}
SECOND = "acme-second-token"  # another of the tenant's tokens
ADMIN = "admin-token"


def test_each_tenant_has_windows_of_its_own(servers, stored, tenant_stored, queries):
    spec, run_id, events = stored
    r = redis_connect(servers.redis_url)
    prefix = tenant_prefix(run_id, TENANT)
    for hour in range(3):
        lo = spec.start_ms + hour * H
        for dimension, value in (("all", "all"), ("region", "eu-west")):
            exact = counts_between(tenant_stored, lo, lo + H, dimension, value)
            key = window_key("1h", dimension, value, lo, prefix)
            top = dict(stored_top(r, key))  # 40 items, capacity 64: exact
            assert top and all(exact[item] == count for item, count in top.items()), key
            assert sorted(top.values(), reverse=True) == sorted(exact.values(), reverse=True)[:K]
            meta = r.hgetall(f"{key}:meta")
            assert meta["tenant"] == TENANT and int(meta["totalEvents"]) == exact.total()
        default_meta = r.hgetall(window_key("1h", "all", "all", lo, run_id) + ":meta")
        assert int(default_meta["totalEvents"]) == counts_between(events, lo, lo + H).total()

    lo, hi = spec.start_ms, spec.start_ms + 3 * H
    exact = counts_between(tenant_stored, lo, hi)
    tenant = queries.for_tenant(TENANT)
    merged = tenant.range_topk(K, lo, hi, "all", "all")
    assert merged.total_events == exact.total() and all(exact[i.item] == i.estimate for i in merged.items)
    archived = tenant.range_topk(K, lo, hi, "all", "all", mode=EXACT)
    assert [(i.item, i.estimate) for i in archived.items] == ranked(exact, K)

    hour = next(w for w in WINDOWS if w.label == "1h")
    in_cassandra = queries.cassandra.summaries([(hour, lo)], "all", "all", TENANT)
    binary = redis_connect(servers.redis_url, decode_responses=False)
    in_redis = binary.get(window_key("1h", "all", "all", lo, prefix) + ":summary")
    assert in_cassandra["1h", lo].summary == in_redis
    assert in_cassandra["1h", lo].summary != queries.cassandra.summaries([(hour, lo)], "all", "all")["1h", lo].summary


def api(queries, per_minute: int = 0) -> TestClient:
    grants = {token_hash(token): tenant for tenant, token in [*TOKENS.items(), (TENANT, SECOND)]}
    config = ApiConfig(WINDOWS, max_k=CAPACITY, api_token=ADMIN, tenant_tokens=grants, rate_limit_per_minute=per_minute)
    return TestClient(create_app(queries, config))


def test_a_tenant_token_reads_its_tenant_only(stored, queries):
    spec = stored[0]
    client = api(queries)
    span = {"start": str(spec.start_ms), "end": str(spec.start_ms + 3 * H)}
    graphql = '{ topK(window: "1h", k: 5) { results { item count } } }'
    reads = [
        ("GET", "/api/v1/topk", {"window": "1h"}, "results"),
        ("GET", "/api/v1/topk/historical", span, "results"),
        ("GET", "/api/v1/topk/historical", {**span, "mode": "exact"}, "results"),
        ("GET", "/api/v1/count/product-1", span, "results"),
        ("GET", "/api/v1/series/product-1", {**span, "window": "1h"}, "points"),
        ("POST", "/graphql", {}, "data"),
    ]

    def call(method: str, path: str, params: dict, token: str, **extra: str):
        headers = {"Authorization": f"Bearer {token}"}
        if method == "POST":
            return client.post(path, params={**params, **extra}, json={"query": graphql}, headers=headers)
        return client.get(path, params={**params, **extra}, headers=headers)

    for method, path, params, part in reads:
        own = call(method, path, params, TOKENS[TENANT])
        assert own.status_code == 200, (path, own.text)
        as_admin = call(method, path, params, ADMIN, tenant=TENANT)
        assert own.json()[part] == as_admin.json()[part], path
        other = call(method, path, params, TOKENS[DEFAULT_TENANT])
        assert other.status_code == 200 and other.json()[part] != own.json()[part], path
        assert other.json()[part] == call(method, path, params, ADMIN).json()[part], path
        # another tenant's data, or a tenant that does not exist: the same 404, nothing confirmed
        elsewhere = ((TOKENS[TENANT], DEFAULT_TENANT), (TOKENS[TENANT], "nobody"), (TOKENS[DEFAULT_TENANT], TENANT))
        for token, tenant in elsewhere:
            refused = call(method, path, params, token, tenant=tenant)
            assert (refused.status_code, refused.json()) == (404, {"detail": "not found"}), (path, tenant)
        assert call(method, path, params, "not-a-token").status_code == 401

    event = {"metadata": {"timestamp": spec.start_ms + 3 * H}, "payload": {"itemId": "x"}}
    for tenant_id in (None, DEFAULT_TENANT):  # absent: the default tenant's
        sent = json.loads(json.dumps(event))
        if tenant_id:
            sent["metadata"]["tenantId"] = tenant_id
        posted = client.post("/api/v1/events", json=sent, headers={"Authorization": f"Bearer {TOKENS[TENANT]}"})
        assert posted.status_code == 403, posted.text


def test_rate_limit_per_tenant(queries):
    client = api(queries, per_minute=2)

    def status(token: str) -> int:
        return client.get("/api/v1/windows", headers={"Authorization": f"Bearer {token}"}).status_code

    assert [status(TOKENS[TENANT]), status(TOKENS[TENANT])] == [200, 200]
    assert status(SECOND) == 429  # the tenant's third request this minute, whichever its token
    assert status(TOKENS[DEFAULT_TENANT]) == 200
    assert client.get("/metrics").status_code == 401  # the admin token's only
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKENS[TENANT]}"}).status_code == 403
    assert 'status="200",tenant="acme"' in client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
