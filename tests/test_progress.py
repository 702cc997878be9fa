from jobs.progress import line


def test_a_progress_line_has_a_bar_when_the_total_is_known():
    sample = {"records": 250_000.0, "bytes": 48_500_000.0, "windows": 120.0}
    assert line(sample, 1_000_000, 41_234.5) == (
        "[#####...............]  25% 250,000 of 1,000,000 records, 48.5 MB, 41,234 records/s, 120 windows emitted"
    )
    assert line(sample, None, 0) == "250,000 records, 48.5 MB, 0 records/s, 120 windows emitted"
    assert line({**sample, "records": 2e6}, 1_000_000, 0).startswith("[####################] 100% ")


def test_a_progress_line_says_how_large_and_slow_the_checkpoints_were():
    sample = {
        "records": 10.0,
        "bytes": 0.0,
        "windows": 0.0,
        "checkpoints": 3.0,
        "checkpoint_bytes": 1_234_567.0,
        "checkpoint_ms": 412.0,
        "checkpoint_median_ms": 250.4,
    }
    assert line(sample, None, 0).endswith(", 3 checkpoints (largest state 1.23 MB, slowest 412 ms, median 250 ms)")


def test_a_progress_line_says_the_sketch_operators_time_per_row_and_the_bench_reads_it_back():
    from bench.e2e import _progress

    sample = {
        "records": 10.0,
        "bytes": 0.0,
        "windows": 4.0,
        "sketch_updates": 1_250.0,
        "sketch_micros": 1_062_500.0,
        "sketch_cpu_micros": 500_000.0,
        "checkpoints": 2.0,
        "checkpoint_bytes": 1_500_000.0,
        "checkpoint_ms": 1_234.0,
        "checkpoint_median_ms": 800.0,
    }
    text = line(sample, None, 0)
    assert ", sketch operator 0.85 ms a row (0.40 ms CPU) over 1,250 rows and timers," in text
    assert _progress(f"progress: {line({**sample, 'sketch_updates': 0.0}, None, 0)}\nprogress: {text}\n") == {
        "sketch_ms_per_row": 0.85,
        "sketch_cpu_ms_per_row": 0.4,
        "checkpoints": 2.0,
        "checkpoint_state_mb": 1.5,
        "checkpoint_ms": 1_234.0,
        "checkpoint_median_ms": 800.0,
    }
    figures = ["checkpoints", "checkpoint_state_mb", "checkpoint_ms", "checkpoint_median_ms", "sketch_ms_per_row"]
    assert _progress("no progress lines") == dict.fromkeys([*figures, "sketch_cpu_ms_per_row"], 0.0)
