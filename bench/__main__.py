"""One command for all benchmarks; prints a table and writes bench/results/bench.json and .png.

python -m bench [--events 1000000] [--universe 1000000] [--core-events 5000000] [--skip-e2e] [--repeats 3]

Figures are medians over repeats and ratios against peers measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench import e2e, sketch_core
from bench.stream import make_stream
from generator.events import StreamSpec
from generator.produce import ensure_topic
from sketches import HeavyHittersSketch

RESULTS = Path(__file__).resolve().parent / "results"


def core_section(events: int, universe: int, capacity: int, repeats: int) -> list[dict]:
    rows = []
    for skew in (1.1, 0.8):
        stream = make_stream(events, universe, skew, windows=60)
        found = [sketch_core.ours(stream, capacity, repeats)]
        found.append(sketch_core.datasketches(stream, sketch_core.datasketches_lg_k(found[0].bytes, stream), repeats))
        found.append(sketch_core.counter(stream, repeats))
        base = found[-1].updates_per_s
        for r in found:
            acc = sketch_core.accuracy(r, stream.exact)
            rows.append({
                "skew": skew, "sketch": r.name, "updates_per_s": r.updates_per_s, "vs_counter": r.updates_per_s / base,
                "bytes": r.bytes, "precision@10": acc.precision[10], "precision@100": acc.precision[100],
                "recall@10": acc.recall[10], "recall@100": acc.recall[100], "max_abs_error": acc.max_error,
                "mean_abs_error": acc.mean_error, "bound_violations": acc.bound_violations,
                "stated_bound": sketch_core.stated_bound(len(stream.items), capacity) if r is found[0] else None,
            })  # fmt: skip
    return rows


def e2e_section(events: int, universe: int, repeats: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="topk-bench-") as tmp, e2e.servers(Path(tmp) / "servers"):
        run = f"bench{int(time.time())}"
        start = int(time.time() * 1000) - 2 * 3_600_000
        spec = StreamSpec(events, universe, 1.1, start - start % 3_600_000, 3_600_000, seed=1)
        e2e.produce(run, spec, partitions=2)
        ensure_topic(e2e.BOOTSTRAP, f"{run}-empty", partitions=2)
        flags = ["--windows", "1m,1h,1d", "--dimensions", "region,category", "--k", "100"]
        for _ in range(repeats):
            for p in (1, 2):
                rows.append(e2e.ours(run, f"{run}-empty", events, p, [*flags, "--capacity", "1024"], Path(tmp)))
                rows.append(e2e.peer(run, f"{run}-empty", events, p, flags))
                rows.append(e2e.peer(run, f"{run}-empty", events, p, flags, read_only=True))
    out = []
    for p in (1, 2):
        medians = {}
        for name in dict.fromkeys(r.name for r in rows):
            runs = sorted((r for r in rows if r.name == name and r.parallelism == p), key=lambda r: r.events_per_s)
            medians[name] = runs[len(runs) // 2]
        peer = medians[e2e.PEER]
        for r in medians.values():
            rates = {"events_per_s": r.events_per_s, "events_per_s_with_start": r.events_per_s_with_start}
            out.append({**asdict(r), **rates, "vs_peer": r.events_per_s / peer.events_per_s})
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

    panels = [("weighted updates/s (skew 1.1)", [r for r in core if r["skew"] == 1.1], "sketch", "updates_per_s")]
    if end_to_end:
        label = [{**r, "who": f"{r['name'].split(' (')[0]} p{r['parallelism']}"} for r in end_to_end]
        panels.append(("end-to-end events/s", label, "who", "events_per_s"))
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 4))
    for ax, (title, rows, name, value) in zip(axes if len(panels) > 1 else [axes], panels, strict=True):
        ax.barh([r[name][:40] for r in rows], [r[value] for r in rows])
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000, help="end-to-end events")
    p.add_argument("--universe", type=int, default=1_000_000, help="distinct items the stream draws from")
    p.add_argument("--core-events", type=int, default=5_000_000, help="events for the sketch-core section")
    p.add_argument("--capacity", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-e2e", action="store_true", help="only the sketch core (no servers, no Flink)")
    a = p.parse_args(argv)
    core = core_section(a.core_events, a.universe, a.capacity, a.repeats)
    print_table(
        f"Sketch core: {a.core_events:,} events, {a.universe:,}-item universe, pre-aggregated into 60 windows, "
        f"capacity {a.capacity} (median of {a.repeats})",
        core,
        ["skew", "sketch", "updates_per_s", "vs_counter", "bytes", "precision@10", "precision@100", "recall@100",
         "max_abs_error", "mean_abs_error", "stated_bound", "bound_violations"],
    )  # fmt: skip
    state = len(HeavyHittersSketch(a.capacity).serialize())
    print(f"\nState per window and dimension value: {state:,} bytes empty; full: see 'bytes' of ours above")
    end_to_end = [] if a.skip_e2e else e2e_section(a.events, a.universe, max(1, a.repeats // 3))
    if end_to_end:
        print_table(
            f"End to end: {a.events:,} events over 1 h of event time, windows 1m,1h,1d, dimensions region,category, "
            "K 100 (events/s excludes the fixed start/stop cost measured on an empty topic)",
            end_to_end,
            ["name", "parallelism", "events_per_s", "vs_peer", "events_per_s_with_start", "seconds",
             "fixed_seconds", "peak_python_rss_mb"],
        )  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench.json").write_text(json.dumps({"core": core, "end_to_end": end_to_end, "args": vars(a)}, indent=2))
    plot(core, end_to_end, RESULTS / "bench.png")
    print(f"\nwrote {RESULTS / 'bench.json'} and {RESULTS / 'bench.png'}")


if __name__ == "__main__":
    main()
