from jobs.progress import line


def test_a_progress_line_has_a_bar_when_the_total_is_known():
    sample = {"records": 250_000.0, "bytes": 48_500_000.0, "windows": 120.0}
    assert line(sample, 1_000_000, 41_234.5) == (
        "[#####...............]  25% 250,000 of 1,000,000 records, 48.5 MB, 41,234 records/s, 120 windows emitted"
    )
    assert line(sample, None, 0) == "250,000 records, 48.5 MB, 0 records/s, 120 windows emitted"
    assert line({**sample, "records": 2e6}, 1_000_000, 0).startswith("[####################] 100% ")


def test_a_progress_line_says_how_large_and_slow_the_checkpoints_were():
    sample = {"records": 10.0, "bytes": 0.0, "windows": 0.0, "checkpoints": 3.0, "checkpoint_bytes": 1_234_567.0,
              "checkpoint_ms": 412.0, "checkpoint_median_ms": 250.4}  # fmt: skip
    assert line(sample, None, 0).endswith(", 3 checkpoints (largest state 1.23 MB, slowest 412 ms, median 250 ms)")
