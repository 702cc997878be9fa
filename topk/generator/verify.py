"""Compare the top-K stored in Redis with the exact counts of a generated stream.

    python -m topk.generator.verify --start-ms S --events N ... --window 1h --k 10

Takes the same stream arguments as ``topk.generator.produce`` (the stream is regenerated, not read
back). Exits 1 if any stored item's true count falls outside its bounds, an item flagged
guaranteed is not in the true top-K, or the stored top-K misses an item whose true count is
above every count it keeps (ties aside).
"""

from __future__ import annotations

import argparse
import sys

from topk.events import DEFAULT_TENANT
from topk.generator.events import StreamSpec, exact_counts, generate
from topk.settings import add_settings, settings_of
from topk.sketches.accuracy import ranked, wrongly_guaranteed
from topk.stores.redis_store import RedisSettings, connect, read_topk, tenant_prefix
from topk.times import utc_minute
from topk.windows import parse_window


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_settings(p, RedisSettings)
    add_settings(p, StreamSpec, start_ms=None)
    p.add_argument("--window", default="1h")
    p.add_argument("--k", type=int, default=10)
    a = p.parse_args(argv)
    if a.start_ms is None:
        p.error("--start-ms is required: the produced stream's")
    spec, redis = settings_of(StreamSpec, a, p), settings_of(RedisSettings, a, p)
    window = parse_window(a.window)
    client, prefix = connect(redis.url), tenant_prefix(redis.prefix, spec.tenant or DEFAULT_TENANT)
    ok = True
    for start, truth in sorted(exact_counts(generate(spec), window.size_ms).items()):
        stored = read_topk(client, window.label, "all", "all", start, a.k, prefix)
        exact = ranked(truth, a.k)
        if stored is None:
            print(f"window {utc_minute(start)}: nothing stored")
            ok = False
            continue
        print(
            f"\n{window.label} window {utc_minute(start)} UTC: {stored.total_events} events stored "
            f"({sum(truth.values())} sent), error bound +{stored.error_bound}"
        )
        header = ("rank", "stored item", "estimate", "bounds", "true", "sure", "exact top-K", "count")
        print("  {:>4}  {:<16} {:>8} {:>13} {:>6} {:>4}   {:<16} {:>6}".format(*header))
        for rank, (got, (item, count)) in enumerate(zip(stored.items, exact, strict=False), 1):
            true = truth[got.item]
            inside = got.lower_bound <= true <= got.upper_bound
            ok &= inside
            bounds = f"[{got.lower_bound},{got.upper_bound}]"
            print(
                f"  {rank:>4}  {got.item:<16} {got.estimate:>8} {bounds:>13} {true:>6}{'' if inside else '!'}"
                f" {'yes' if got.guaranteed else '':>4}   {item:<16} {count:>6}"
            )
        kept_min = min((truth[i.item] for i in stored.items), default=0)
        missed = [item for item, count in exact if count > kept_min and item not in {i.item for i in stored.items}]
        wrong = wrongly_guaranteed(stored.items, truth, a.k)
        ok &= not missed and not wrong
        print(f"  same top-{a.k} as exact counts: {'yes' if not missed else 'no, missed ' + ', '.join(missed)}")
        if wrong:
            print(f"  flagged guaranteed but not in the true top-{a.k}: {', '.join(wrong)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
