"""The sketch core in the JVM, where the job runs it: ``ItemSummary.java`` against Apache DataSketches'
Java ``ItemsSketch`` sized to the same serialized bytes and a ``HashMap`` of exact counts, per event on
one thread (``bench/jvm/.../SketchCoreBench.java``), on the streams of the Python sketch core; accuracy
from the same code as that section's."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from bench import sketch_core
from bench.stream import BenchStream
from topk.sketches import HeavyHittersSketch, ItemCount

ROOT = Path(__file__).resolve().parents[1]
JARS = Path(os.environ.get("TOPK_JARS_DIR", ROOT / ".jars"))


def compile_bench(build: Path) -> str:
    """Compiles the JVM functions and the bench into ``build``; the classpath to run it with."""
    import pyflink

    flink = Path(pyflink.__file__).parent / "lib"
    classpath = f"{flink}/*:{JARS / 'datasketches'}/*"
    sources = [str(p) for d in (ROOT / "udfs/jvm", ROOT / "bench/jvm") for p in d.rglob("*.java")]
    subprocess.run(["javac", "-nowarn", "--release", "17", "-cp", classpath, "-d", str(build), *sources], check=True)
    return f"{build}:{classpath}"


def run(stream: BenchStream, capacity: int, width: int, repeats: int, classpath: str) -> list[dict]:
    """Rows for ours (JVM), DataSketches (Java) and exact (Java HashMap) on ``stream``."""
    with tempfile.TemporaryDirectory(prefix="topk-jvm-core-") as tmp:
        out = Path(tmp)
        (out / "items.txt").write_text("\n".join(stream.items) + "\n", encoding="utf-8")
        args = [str(out / "items.txt"), str(capacity), str(width), "5", str(repeats), str(out)]
        done = subprocess.run(
            [
                "java",
                "-Xmx2g",
                "--add-modules",
                "jdk.incubator.foreign",
                "-cp",
                classpath,
                "topk.udfs.SketchCoreBench",
                *args,
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"SketchCoreBench failed:\n{done.stderr[-3000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        sketch = HeavyHittersSketch.deserialize((out / "ours.bin").read_bytes())
        rows = (line.split("\t", 3) for line in (out / "datasketches.tsv").read_text(encoding="utf-8").splitlines())
        found = [ItemCount(item, int(est), int(lo), int(hi)) for est, lo, hi, item in rows]
    ours = sketch_core.CoreResult(
        name="ours in the JVM: ItemSummary (Space-Saving + Count-Min)",
        updates_per_s=figures["ours_updates_per_s"],
        bytes=figures["ours_bytes"],
        top=list(sketch.top_k(capacity).items),
        top_100=list(sketch.top_k(100).items),
    )
    lg = figures["datasketches_lg_max_map_size"]
    peer = sketch_core.CoreResult(
        name=f"DataSketches Java ItemsSketch (lgMaxMapSize {lg})",
        updates_per_s=figures["datasketches_updates_per_s"],
        bytes=figures["datasketches_bytes"],
        top=found,
        top_100=found[:100],
    )
    out_rows = []
    for r in (ours, peer):
        acc = sketch_core.accuracy(r, stream.exact)
        out_rows.append(
            {
                "sketch": r.name,
                "updates_per_s": r.updates_per_s,
                "vs_exact": r.updates_per_s / figures["exact_updates_per_s"],
                "bytes": r.bytes,
                "precision@100": acc.precision[100],
                "recall@100": acc.recall[100],
                "max_abs_error": acc.max_error,
                "bound_violations": acc.bound_violations,
                "guaranteed@100": acc.guaranteed if r is ours else None,
                "wrongly_guaranteed": acc.wrongly_guaranteed if r is ours else None,
            }
        )
    out_rows.append({"sketch": "exact: Java HashMap", "updates_per_s": figures["exact_updates_per_s"], "vs_exact": 1.0})
    return out_rows
