"""Tenants: ids, the keys and state keys they qualify, and who reads which tenant (``topk.query.access``)."""

from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pyflink.common import Row

from topk.events import DEFAULT_TENANT, check_tenant
from topk.query.access import ADMIN, Guard, main, read_tokens, token_hash
from topk.stores.redis_store import tenant_prefix, window_key
from udfs.topk_window import group_key, of_group_key


def test_tenant_ids_and_keys():
    for good in ("acme", "A1", "team_2.eu-west", "t" * 64):
        assert check_tenant(good) == good
    for bad in ("", "-x", "a b", "a/b", "a:b", "{a}", "t" * 65, "é"):
        with pytest.raises(ValueError):
            check_tenant(bad)
    assert window_key("1h", "all", "all", 0, tenant_prefix("topk", DEFAULT_TENANT)) == "{topk:1h:all:all}:0"
    assert window_key("1h", "all", "all", 0, tenant_prefix("topk", "acme")) == "{topk/acme:1h:all:all}:0"


def test_group_keys_of_the_default_tenant_are_those_before_tenants():
    row = Row(tenant=DEFAULT_TENANT, dim="region", val="eu/west")
    assert group_key(row) == ("region", "eu/west")
    for tenant in (DEFAULT_TENANT, "acme"):
        row = Row(tenant=tenant, dim="region", val="eu/west")
        assert of_group_key(group_key(row)) == (tenant, "region", "eu/west")


def test_tokens_file(tmp_path, capsys):
    path = tmp_path / "tokens"
    main(["add", "--api-tokens-file", str(path), "--tenant", "acme"])
    main(["add", "--api-tokens-file", str(path), "--tenant", ADMIN])
    acme, admin = capsys.readouterr().out.split()
    assert acme not in path.read_text() and oct(path.stat().st_mode)[-3:] == "600"  # hashed at rest
    assert read_tokens(str(path)) == {token_hash(acme): "acme", token_hash(admin): ADMIN}
    path.write_text(f"# comment\nacme {token_hash('x')}\nbad/tenant {token_hash('y')}\n")
    with pytest.raises(ValueError, match=":3:"):
        read_tokens(str(path))
    with pytest.raises(SystemExit):
        main(["add", "--api-tokens-file", str(path), "--tenant", "no/slash"])


def app(guard: Guard) -> TestClient:
    api = FastAPI()

    @api.get("/tenant")
    def tenant(t: str = Depends(guard)) -> str:  # (this module's annotations are strings)
        return t

    return TestClient(api)


def read(client: TestClient, token: str | None = None, **params: str) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = client.get("/tenant", params=params, headers=headers)
    return r.status_code, r.json() if r.status_code == 200 else r.json()["detail"]


def test_who_reads_which_tenant():
    open_api = app(Guard())
    assert read(open_api) == (200, DEFAULT_TENANT) and read(open_api, tenant="acme") == (200, "acme")
    assert read(open_api, tenant="a/b")[0] == 422

    guarded = app(Guard("root", {token_hash("a"): "acme", token_hash("b"): "beta"}))
    assert read(guarded)[0] == read(guarded, "wrong")[0] == 401
    assert read(guarded, "root") == (200, DEFAULT_TENANT) and read(guarded, "root", tenant="beta") == (200, "beta")
    assert read(guarded, "a") == read(guarded, "a", tenant="acme") == (200, "acme")
    assert read(guarded, "a", tenant="beta") == read(guarded, "a", tenant="nobody") == (404, "not found")


def test_rate_limit_counts_per_tenant():
    client = app(Guard("", {token_hash("a1"): "acme", token_hash("a2"): "acme", token_hash("b"): "beta"}, 2))
    assert [read(client, t)[0] for t in ("a1", "a2", "a1", "b")] == [200, 200, 429, 200]
