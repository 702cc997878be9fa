"""One command for all benchmarks; prints tables and writes bench/results/bench.json and .png.

python -m bench [--sections core,jvm,ranges,e2e,rows,state,hot,scale] [--events 1000000] [--universe 1000000]
    [--core-events 5000000] [--repeats 3] [--streams sparse,dense,dense-10m]

Figures are medians over repeats and ratios against peers measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench import e2e, hot, jvm_core, ranges, scale, sketch_core, state
from bench.stream import make_stream
from topk.generator.events import StreamSpec, encode, event_time_ms, generate
from topk.generator.produce import send
from topk.settings import EventSettings
from topk.stores.config_topic import ensure_config_topic, write
from topk.stores.kafka_client import KafkaSettings, ensure_topic
from topk.tenant_config import encode as tenant_config

RESULTS = Path(__file__).resolve().parent / "results"


# (stream shape, universe, skew, Count-Min width): i.i.d. Zipf for speed, the rest for accuracy
CORE_STREAMS = [("zipf", 1.1, 2048), ("zipf", 0.8, 2048)]
SHAPE_STREAMS = [
    ("bursty", 1.1, 2048),
    ("turnover", 1.1, 2048),
    ("turnover", 1.1, 8192),
    ("zipf", 0.6, 2048),
    ("adversarial", 1.1, 2048),
    ("text", 0.0, 2048),
]


def core_section(events: int, universe: int, capacity: int, repeats: int) -> list[dict]:
    rows = []
    for (shape, skew, width), timed in [(s, True) for s in CORE_STREAMS] + [(s, False) for s in SHAPE_STREAMS]:
        stream = make_stream(events, universe, skew, windows=60, shape=shape)
        runs = repeats if timed else 1
        found = [sketch_core.ours(stream, capacity, runs, width)]
        lg_k = sketch_core.datasketches_lg_k(found[0].bytes, stream)
        found.append(sketch_core.datasketches(stream, lg_k, runs))
        if timed:
            found.append(sketch_core.counter(stream, runs))
        base = found[-1].updates_per_s
        for r in found:
            acc = sketch_core.accuracy(r, stream.exact)
            speed = (r.updates_per_s, r.updates_per_s / base) if timed else (None, None)
            rows.append(
                {
                    "stream": f"{shape} {skew}" if shape != "text" else "text",
                    "sketch": r.name,
                    "updates_per_s": speed[0],
                    "vs_counter": speed[1],
                    "bytes": r.bytes,
                    "precision@10": acc.precision[10],
                    "precision@100": acc.precision[100],
                    "recall@10": acc.recall[10],
                    "recall@100": acc.recall[100],
                    "max_abs_error": acc.max_error,
                    "mean_abs_error": acc.mean_error,
                    "bound_violations": acc.bound_violations,
                    "guaranteed@100": acc.guaranteed,
                    "wrongly_guaranteed": acc.wrongly_guaranteed,
                    "stated_bound": sketch_core.stated_bound(len(stream.items), capacity) if r is found[0] else None,
                }
            )
    return rows


def jvm_section(events: int, universe: int, capacity: int, repeats: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="topk-jvm-build-") as build:
        classpath = jvm_core.compile_bench(Path(build))
        for shape, skew, width in CORE_STREAMS + SHAPE_STREAMS:
            stream = make_stream(events, universe, skew, windows=60, shape=shape)
            name = f"{shape} {skew}" if shape != "text" else "text"
            for row in jvm_core.run(stream, capacity, width, repeats, classpath):
                rows.append({"stream": name + (f", width {width}" if width != 2048 else ""), **row})
    return rows


def ranges_section(redis_url: str, cassandra_port: int) -> tuple[list[dict], dict, list[dict]]:
    latencies, absurd, sizes = ranges.run(redis_url, cassandra_port)
    # per dimension value, default retention: minutes 2 days, hours 90 days, days forever
    kept = {"1m": 2 * 1440, "1h": 90 * 24}
    storage = []
    for density, events in [("dense (Zipf 1.1, 1M items)", ranges.EVENTS), ("sparse (400 events/h)", SPARSE)]:
        bytes_of = sizes if density.startswith("dense") else {w: ranges.summary_bytes(w, n) for w, n in events.items()}
        steady = sum(bytes_of[w] * kept[w] for w in kept)
        storage.append(
            {
                "stream": density,
                "minute_window_bytes": bytes_of["1m"],
                "hour_window_bytes": bytes_of["1h"],
                "day_window_bytes": bytes_of["1d"],
                "cassandra_steady_state_mb": steady / 1e6,
                "cassandra_growth_per_year_mb": 365 * bytes_of["1d"] / 1e6,
            }
        )
    return [asdict(r) for r in latencies], absurd, storage


SPARSE = {"1m": 7, "1h": 400, "1d": 9_600}


# (stream, universe, event-time span, parallelisms, with peers, JVM heap cap in MB): the last runs the whole
# local cluster (JobManager and TaskManager) in 512 MB of heap (the state per universe: the state section)
E2E_STREAMS = [  # (--streams key, name, universe (None: --universe), span ms, parallelisms, peers, JVM heap MB)
    ("sparse", "sparse: 1 h of event time", None, 3_600_000, (1, 2), True, None),
    ("dense", "dense: 2 min of event time", None, 120_000, (1,), True, None),
    ("dense-10m", "dense, 10M-item universe, JVM heap 512 MB", 10_000_000, 120_000, (1,), False, 512),
]


def e2e_section(events: int, universe: int, repeats: int, tmp: Path, streams: set[str]) -> list[dict]:
    rows, out = [], []
    run = f"bench{int(time.time())}"
    start = int(time.time() * 1000) - 2 * 3_600_000
    ensure_topic(e2e.KAFKA, f"{run}-empty", partitions=2)
    # the job's default windows (1m,1h,1d,all) and dimensions, as users run it; the peer has no all-time view
    flags = ["--windows", "1m,1h,1d", "--k", "100"]
    for i, (key, stream, size, span, parallelisms, peers, heap_mb) in enumerate(E2E_STREAMS):
        if key not in streams:
            continue
        spec = StreamSpec(events, size or universe, 1.1, start - start % 3_600_000, span, seed=1)
        topic = f"{run}-s{i}"
        e2e.produce(topic, spec, partitions=2)
        for _ in range(repeats):
            for p in parallelisms:
                ours = ["--k", "100", "--capacity", "1024"]
                rows.append(e2e.ours(stream, topic, f"{run}-empty", events, p, ours, tmp, heap_mb))
                if peers and p == 1:  # what the tenant gate (TenantGate.java) costs
                    ungated = [*ours, "--config-topic", ""]
                    rows.append(e2e.ours(stream, topic, f"{run}-empty", events, p, ungated, tmp, name=e2e.OURS_UNGATED))
                if peers:
                    rows.append(e2e.peer(stream, topic, f"{run}-empty", events, p, flags))
                    rows.append(e2e.peer(stream, topic, f"{run}-empty", events, p, flags, read_only=True))
        for p in parallelisms:
            medians = {}
            for name in dict.fromkeys(r.name for r in rows):
                runs = sorted(
                    (r for r in rows if (r.name, r.stream, r.parallelism) == (name, stream, p)),
                    key=lambda r: r.events_per_s,
                )
                if runs:
                    medians[name] = runs[len(runs) // 2]
            base, ceiling = medians.get(e2e.PEER), medians.get(e2e.READ_ONLY)
            for r in medians.values():
                rates = {"events_per_s": r.events_per_s, "events_per_s_with_start": r.events_per_s_with_start}
                rates |= {"vs_peer": r.events_per_s / base.events_per_s if base else None}
                rates |= {"cpu_s_per_million": r.cpu_s_per_million}
                if ceiling:
                    rates |= {"cpu_vs_ceiling": r.cpu_s_per_million / max(1e-9, ceiling.cpu_s_per_million)}
                    if r.start_s and ceiling.start_s:
                        rates |= {"start_vs_ceiling_s": r.start_s - ceiling.start_s}
                out.append({**asdict(r), **rates})
    return out


def scale_section(events: int, universe: int, tmp: Path) -> list[dict]:
    """The end-to-end section's dense stream on two TaskManagers (``bench.scale``)."""
    run = f"scale{int(time.time())}"
    start = int(time.time() * 1000) - 2 * 3_600_000
    ensure_topic(e2e.KAFKA, f"{run}-empty", partitions=2)
    span = next(s[3] for s in E2E_STREAMS if s[0] == "dense")
    e2e.produce(run, StreamSpec(events, universe, 1.1, start - start % 3_600_000, span, seed=1), partitions=2)
    return scale.run(tmp, run, f"{run}-empty", events)


DAY_MS, MINUTE_MS = 86_400_000, 60_000


def rows_section(tmp: Path) -> list[dict]:
    """Per-row cost of the sketch operator on streams with many (window, dimension value) rows and few
    events each: a month replayed, and 10,000 dimension values. Ours only (the peer is per event)."""
    run, now = f"rows{int(time.time())}", int(time.time() * 1000)
    month = list(
        generate(StreamSpec(30 * 24 * 400, 10_000, 1.1, now - now % DAY_MS - 31 * DAY_MS, 30 * DAY_MS, seed=3))
    )
    hour = now - now % 3_600_000 - 3_600_000
    tenants = list(generate(StreamSpec(200_000, 10_000, 1.1, hour, 5 * MINUTE_MS, seed=4)))
    for i, event in enumerate(tenants):
        event["payload"]["tenant"] = f"t{i % 10_000}"
    # 1,000 tenants, each with a config of its own (k 10, capacity 256, dimension region) and 3 regions
    many = list(generate(StreamSpec(200_000, 10_000, 1.1, hour, 5 * MINUTE_MS, seed=5)))
    for i, event in enumerate(many):
        event["metadata"]["tenantId"] = f"t{i % 1_000}"
        event["payload"]["region"] = ("eu-west", "us-east", "ap-south")[i // 1_000 % 3]
    configs = KafkaSettings(e2e.KAFKA.bootstrap_servers, config_topic=f"{run}-config")
    ensure_config_topic(configs)
    write(
        configs,
        [(*tenant_config(f"t{t}", {"k": 10, "capacity": 256, "dimensions": ["region"]}), hour) for t in range(1_000)],
    )
    cases = [
        ("30 days at 400 events/h, region (4 values)", month, "region", ["--max-past-ms", str(40 * DAY_MS)]),
        ("10,000 dimension values, 5 min", tenants, "tenant", ["--max-values", "10000"]),  # all of them kept
        ("1,000 tenants x 3 region values, 5 min", many, "region", ["--config-topic", configs.config_topic]),
    ]
    ensure_topic(e2e.KAFKA, f"{run}-empty", partitions=1)
    out = []
    for i, (name, events, dim, extra) in enumerate(cases):
        topic = f"{run}-s{i}"
        ensure_topic(e2e.KAFKA, topic, partitions=1)
        send(e2e.KAFKA, topic, [encode(e) for e in events])
        flags = ["--windows", "1m,1h,1d", "--dimensions", dim, "--k", "100", "--capacity", "1024", *extra]
        r = e2e.ours(name, topic, f"{run}-empty", len(events), 1, flags, tmp)
        groups = {
            (event_time_ms(e) // MINUTE_MS, e["metadata"].get("tenantId"), v)
            for e in events
            for v in ("all", e["payload"][dim])
        }
        seconds = r.seconds - r.fixed_seconds
        out.append(
            {
                "stream": name,
                "events": len(events),
                "minute_rows": len(groups),
                "seconds": r.seconds,
                "fixed_seconds": r.fixed_seconds,
                "rows_per_s": len(groups) / seconds,
                "ms_per_row": 1000 * seconds / len(groups),
                "operator_ms_per_row": r.sketch_ms_per_row,
                "operator_cpu_ms_per_row": r.sketch_cpu_ms_per_row,
                "dimension_values_at_1m_real_time": len(groups) / seconds * 60,
            }
        )
    return out


def print_table(title: str, rows: list[dict], columns: list[str]) -> None:
    print(f"\n{title}")
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths, strict=True)))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 10 else f"{value:,.0f}"
    return "-" if value is None else str(value)


def plot(core: list[dict], end_to_end: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    zipf = [r for r in core if r["stream"] == "zipf 1.1"]
    panels = [("weighted updates/s (Zipf 1.1)", zipf, "sketch", "updates_per_s")] if zipf else []
    if end_to_end:
        label = [
            {**r, "who": f"{r['name'].split(' (')[0]} {r['stream'].split(':')[0]} p{r['parallelism']}"}
            for r in end_to_end
        ]
        panels.append(("end-to-end events/s", label, "who", "events_per_s"))
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 4))
    for ax, (title, rows, name, value) in zip(axes if len(panels) > 1 else [axes], panels, strict=True):
        ax.barh([r[name][:40] for r in rows], [r[value] for r in rows])
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)


ORDER = ("core", "jvm", "ranges", "e2e", "rows", "state", "hot", "scale")


class Stages:
    """A progress bar on stderr as each section starts (the jobs print their own progress)."""

    def __init__(self, sections: set[str]) -> None:
        self.names = [s for s in ORDER if s in sections]
        self.started = time.monotonic()

    def start(self, name: str) -> None:
        done = self.names.index(name)
        filled = round(20 * done / len(self.names))
        print(
            f"[{'#' * filled}{'.' * (20 - filled)}] stage {done + 1}/{len(self.names)}: {name} "
            f"({time.monotonic() - self.started:,.0f} s in)",
            file=sys.stderr,
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", default=",".join(ORDER), help=f"which of {', '.join(ORDER)}")
    p.add_argument("--events", type=int, default=1_000_000, help="end-to-end events")
    p.add_argument("--universe", type=int, default=1_000_000, help="distinct items the stream draws from")
    p.add_argument("--core-events", type=int, default=5_000_000, help="events for the sketch-core section")
    p.add_argument("--capacity", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--streams", default="sparse,dense,dense-10m", help="end-to-end streams (sparse, dense, dense-10m)")
    a = p.parse_args(argv)
    sections = set(a.sections.split(","))
    unknown = set(a.streams.split(",")) - {s[0] for s in E2E_STREAMS}
    if unknown:
        p.error(f"--streams: no stream {', '.join(sorted(unknown))} (sparse, dense, dense-10m)")
    results: dict[str, object] = {"args": vars(a)}
    stages = Stages(sections)
    if "core" in sections:
        stages.start("core")
        results["core"] = core_section(a.core_events, a.universe, a.capacity, a.repeats)
        print_table(
            f"Sketch core: {a.core_events:,} events, {a.universe:,}-item universe (text: the prose CPython ships), "
            f"pre-aggregated into 60 windows, capacity {a.capacity}; speed: median of {a.repeats}, i.i.d. Zipf only",
            results["core"],
            [
                "stream",
                "sketch",
                "updates_per_s",
                "vs_counter",
                "bytes",
                "precision@10",
                "precision@100",
                "recall@100",
                "guaranteed@100",
                "wrongly_guaranteed",
                "max_abs_error",
                "stated_bound",
                "bound_violations",
            ],
        )
    if "jvm" in sections:
        stages.start("jvm")
        results["jvm"] = jvm_section(a.core_events, a.universe, a.capacity, a.repeats)
        print_table(
            f"Sketch core in the JVM: {a.core_events:,} events one by one on one thread, {a.universe:,}-item "
            f"universe, capacity {a.capacity}, DataSketches Java sized to the same bytes; median of {a.repeats}",
            results["jvm"],
            [
                "stream",
                "sketch",
                "updates_per_s",
                "vs_exact",
                "bytes",
                "precision@100",
                "recall@100",
                "guaranteed@100",
                "wrongly_guaranteed",
                "max_abs_error",
                "bound_violations",
            ],
        )
    if sections & {"ranges", "e2e", "rows", "state", "hot", "scale"}:
        with tempfile.TemporaryDirectory(prefix="topk-bench-") as tmp, e2e.servers(Path(tmp) / "servers"):
            if "ranges" in sections:
                stages.start("ranges")
                latency, absurd, storage = ranges_section(e2e.REDIS_URL, e2e.CASSANDRA_PORT)
                results.update(ranges=latency, absurd_range_ms=absurd, storage=storage)
                print_table(
                    "Range queries: top-100, items above 1 % and trending (against the range before) of random "
                    "ragged ranges ending in the last day, windows 1m,1h,1d (default retention), every stored summary "
                    "full (capacity 1024); tiles: stored windows merged per query; cold: queries that decoded a "
                    "summary the cache lacked",
                    latency,
                    [
                        *("path", "cache", "kind", "days", "queries", "p50_ms", "p95_ms", "p99_ms"),
                        *("tiles", "cold", "warm_p99_ms"),
                    ],
                )
                for label, ms in absurd.items():
                    print(f"  start=0&end=9999999999999, {label}: {ms:.1f} ms")
                print_table(
                    "Stored bytes per window (summary) and per dimension value in Cassandra (default retention)",
                    storage,
                    [
                        "stream",
                        "minute_window_bytes",
                        "hour_window_bytes",
                        "day_window_bytes",
                        "cassandra_steady_state_mb",
                        "cassandra_growth_per_year_mb",
                    ],
                )
            if "e2e" in sections:
                stages.start("e2e")
                results["end_to_end"] = e2e_section(
                    a.events, a.universe, max(1, a.repeats // 3), Path(tmp), set(a.streams.split(","))
                )
                print_table(
                    f"End to end: {a.events:,} events per stream, the job's default windows (1m,1h,1d,all; the peer "
                    f"1m,1h,1d) and dimensions ({','.join(EventSettings().dimensions)}), K 100 (events/s and CPU "
                    "exclude the fixed start/stop cost measured on an empty topic)",
                    results["end_to_end"],
                    [
                        "stream",
                        "name",
                        "parallelism",
                        "events_per_s",
                        "vs_peer",
                        "cpu_s_per_million",
                        "cpu_vs_ceiling",
                        "events_per_s_with_start",
                        "seconds",
                        "fixed_seconds",
                        "start_s",
                        "start_vs_ceiling_s",
                        "all_running_s",
                        "peak_python_rss_mb",
                        "checkpoints",
                        "checkpoint_state_mb",
                        "checkpoint_ms",
                        "checkpoint_median_ms",
                        "sketch_ms_per_row",
                        "sketch_cpu_ms_per_row",
                    ],
                )
            if "rows" in sections:
                stages.start("rows")
                results["rows"] = rows_section(Path(tmp))
                print_table(
                    "Per-row cost: many (minute, dimension value) rows with few events each, windows 1m,1h,1d, K 100, "
                    "capacity 1024 (seconds exclude the fixed start/stop cost; ms_per_row: the whole job's time per "
                    "minute row; operator_ms_per_row: the sketch operator's time per row or timer, store writes "
                    "included, and its CPU time, from its metrics)",
                    results["rows"],
                    [
                        "stream",
                        "events",
                        "minute_rows",
                        "seconds",
                        "fixed_seconds",
                        "rows_per_s",
                        "ms_per_row",
                        "operator_ms_per_row",
                        "operator_cpu_ms_per_row",
                        "dimension_values_at_1m_real_time",
                    ],
                )
            if "state" in sections:
                stages.start("state")
                results["state"] = state.run(Path(tmp), a.events)
                print_table(
                    f"State against the universe: the dense stream ({a.events:,} events, 2 min of event time), windows "
                    "1m,1h,1d, dimensions region,category, capacity 1024: full checkpoints once the whole topic is "
                    f"read (time: the median of {state.CHECKPOINTS}; standalone cluster)",
                    results["state"],
                    [
                        "universe",
                        "state_mb",
                        "state_vs_1m",
                        "checkpoint_ms",
                        "time_vs_1m",
                        "window_aggregate_mb",
                        "sketches_mb",
                    ],
                )
            if "hot" in sections:
                stages.start("hot")
                results["hot"] = hot.run(Path(tmp))
                print_table(
                    "Hot group: 200,000 events, 90% region eu-west, dimensions region,category, windows 1m,1h,1d, "
                    "parallelism 2, standalone cluster: records each keyed operator's subtasks read",
                    results["hot"],
                    ["operator", "records_in_by_subtask", "max_over_min"],
                )
            if "scale" in sections:
                stages.start("scale")
                results["scale"] = scale_section(a.events, a.universe, Path(tmp))
                print_table(
                    f"Scaling out: the dense stream ({a.events:,} events, 2 minutes of event time), parallelism 2 on a "
                    "standalone cluster of 2 TaskManagers with 1 slot each, sharing 2 cores: ratios only (events/s "
                    "from every task running to the end; CPU of the cluster's processes less an empty topic's)",
                    results["scale"],
                    [
                        "name",
                        "events_per_s",
                        "vs_peer",
                        "vs_ceiling",
                        "cpu_s_per_million",
                        "cpu_vs_ceiling",
                        "start_s",
                        "all_running_s",
                    ],
                )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench.json").write_text(json.dumps(results, indent=2))
    plot(results.get("core", []), results.get("end_to_end", []), RESULTS / "bench.png")
    print(f"\nwrote {RESULTS / 'bench.json'} and {RESULTS / 'bench.png'}")


if __name__ == "__main__":
    main()
