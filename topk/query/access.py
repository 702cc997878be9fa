"""Who may read what: API tokens, the tenant each reads, and the per-tenant rate limit.

Two kinds of token, either or both:

* the admin token (``--api-token-file``, or ``TOPK_API_TOKEN``): reads every tenant, the one a
  request names in ``?tenant=`` (``default`` when it names none);
* tenant tokens (``--api-tokens-file``): one line per token, ``<tenant> sha256:<hex>``, only the
  SHA-256 of each token kept at rest (``*`` as the tenant: another admin token). A tenant token
  reads its own tenant only: a request naming another gets 404, exactly as a tenant with no data,
  so a token never learns whether another tenant exists.

With no token configured the API is open and ``?tenant=`` picks the tenant (the API then listens on
loopback only unless told otherwise, ``topk.query.api.ApiSettings``). ``/metrics`` needs an admin
token when tokens are configured, and labels requests only with tenants that have a token (and
``default``): any other is ``other``, so a client cannot make a series per name. Rate limits count per
tenant for tenant tokens, per token for admins and per address when the API is open; a request
counts one, and each GraphQL lookup past its first one more (``Guard.allow_another``).

python -m topk.query.access add --api-tokens-file tokens.txt --tenant acme
    appends a new token's hash for tenant ``acme`` and prints the token, once.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import time
from collections import defaultdict
from pathlib import Path
from typing import Annotated

from fastapi import HTTPException, Query, Request

from topk.events import DEFAULT_TENANT, TENANT_ID, check_tenant, is_tenant

ADMIN = "*"
HASH = "sha256:"


def token_hash(token: str) -> str:
    return HASH + hashlib.sha256(token.encode()).hexdigest()


def read_tokens(path: str) -> dict[str, str]:
    """Token hash -> tenant (or ``ADMIN``) from a tokens file; ``ValueError`` naming a bad line."""
    grants = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        tenant, _, digest = line.partition(" ")
        digest = digest.strip()
        valid_digest = digest.startswith(HASH) and len(digest) == len(HASH) + 64
        if not valid_digest or (tenant != ADMIN and not is_tenant(tenant)):
            raise ValueError(f"{path}:{number}: expected '<tenant> sha256:<64 hex digits>'")
        grants[digest.lower()] = tenant
    return grants


class RateLimiter:
    """At most ``per_minute`` requests per client and calendar minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.seen: dict[tuple[str, int], int] = defaultdict(int)

    def allow(self, client: str) -> bool:
        minute = int(time.time() // 60)
        if len(self.seen) > 100_000:
            self.seen = defaultdict(int, {k: v for k, v in self.seen.items() if k[1] == minute})
        self.seen[(client, minute)] += 1
        return self.seen[(client, minute)] <= self.per_minute


class Guard:
    """A FastAPI dependency: checks the bearer token and the rate limit, and gives the tenant the
    request reads (its token's, or the one it names in ``?tenant=`` when it may read any)."""

    def __init__(self, admin_token: str = "", grants: dict[str, str] | None = None, per_minute: int = 0) -> None:
        self.grants = dict(grants or {})
        if admin_token:
            self.grants[token_hash(admin_token)] = ADMIN
        self.per_minute, self.limiter = per_minute, RateLimiter(per_minute)
        self.known = {DEFAULT_TENANT, *self.grants.values()} - {ADMIN}

    def __call__(
        self,
        request: Request,
        tenant: Annotated[str | None, Query(pattern=f"^{TENANT_ID.pattern}$", description="default: default")] = None,
    ) -> str:
        client = f"address:{request.client.host if request.client else 'unknown'}"
        if self.grants:
            token = bearer(request)
            request.state.grant = grant = self.granted(token)
            if grant is None:
                raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
            if grant != ADMIN:
                if tenant not in (None, grant):
                    raise HTTPException(404, "not found")  # as for a tenant with no data: nothing confirmed
                tenant = grant
            client = f"tenant:{grant}" if grant != ADMIN else token_hash(token)
        request.state.tenant = tenant = tenant or DEFAULT_TENANT  # for the request metrics
        request.state.client = client
        if self.per_minute and not self.limiter.allow(client):
            raise HTTPException(429, f"more than {self.per_minute} requests this minute")
        return tenant

    def allow_another(self, request: Request) -> bool:
        """Whether the client of ``request``, already guarded, may make one more request this
        minute (a GraphQL lookup past the request's first); counts it."""
        return not self.per_minute or self.limiter.allow(request.state.client)

    def admin(self, request: Request) -> None:
        """A FastAPI dependency: with tokens configured, only an admin token passes (401 without a
        known token, 403 with a tenant's)."""
        if self.grants:
            grant = self.granted(bearer(request))
            if grant is None:
                raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
            if grant != ADMIN:
                raise HTTPException(403, "the admin token only")

    def label(self, tenant: str) -> str:
        """``tenant`` as a metric label: itself if it has a token (or is ``default``), else ``other``."""
        return tenant if tenant in self.known else "other"

    @staticmethod
    def fixes_tenant(request: Request) -> bool:
        """Whether the request, already guarded, came with a tenant token (one tenant only)."""
        return getattr(request.state, "grant", None) not in (None, ADMIN)

    def granted(self, token: str) -> str | None:
        """The tenant ``token`` reads (``ADMIN``: any), or None for none or an unknown token."""
        return self.grants.get(token_hash(token)) if token else None  # by hash: its timing tells nothing of a token


def bearer(request: Request) -> str:
    """The request's bearer token ("" if none)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" else ""


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["add"])
    p.add_argument("--api-tokens-file", required=True)
    p.add_argument("--tenant", required=True, type=lambda t: t if t == ADMIN else check_tenant(t))
    a = p.parse_args(argv)
    path = Path(a.api_tokens_file)
    if path.exists():
        read_tokens(str(path))  # refuse to append to a file the API would refuse
    token = secrets.token_urlsafe(32)
    with path.open("a") as out:
        out.write(f"{a.tenant} {token_hash(token)}\n")
    path.chmod(0o600)
    print(token)


if __name__ == "__main__":
    main()
