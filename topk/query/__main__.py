"""Print stored top-K windows from Redis.

python -m topk.query --window 1h --dimension region --value eu-west --k 10 [--windows 3] [--tenant acme]
"""

from __future__ import annotations

import argparse

from topk.query.arguments import add_tenant_argument
from topk.settings import add_settings, settings_of
from topk.stores.redis_store import RedisSettings, connect, read_topk, tenant_prefix, window_starts
from topk.times import utc_minute


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_settings(p, RedisSettings)
    p.add_argument("--window", default="1h")
    p.add_argument("--dimension", default="all")
    p.add_argument("--value", default="all")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--windows", type=int, default=1, help="how many of the newest windows")
    add_tenant_argument(p)
    a = p.parse_args(argv)
    redis = settings_of(RedisSettings, a, p)
    client, prefix = connect(redis.url), tenant_prefix(redis.prefix, a.tenant)
    starts = window_starts(client, a.window, a.dimension, a.value, prefix)[: a.windows] or [0]
    for start in starts:
        top = read_topk(client, a.window, a.dimension, a.value, start, a.k, prefix)
        if top is None:
            print(f"no {a.window} window stored for {a.dimension}={a.value}")
            continue
        span = f"[{utc_minute(top.window_start)}, {utc_minute(top.window_end)}) UTC"
        print(
            f"top-{a.k} {a.window} {a.dimension}={a.value} {span}: "
            f"{top.total_events} events, every count within +{top.error_bound}"
        )
        for rank, i in enumerate(top.items, 1):
            print(f"  {rank:>3}. {i.item:<24} {i.estimate:>9}   true count in [{i.lower_bound}, {i.upper_bound}]")


if __name__ == "__main__":
    main()
