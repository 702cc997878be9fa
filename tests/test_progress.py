from jobs.progress import line


def test_a_progress_line_has_a_bar_when_the_total_is_known():
    sample = {"records": 250_000.0, "bytes": 48_500_000.0, "windows": 120.0}
    assert line(sample, 1_000_000, 41_234.5) == (
        "[#####...............]  25% 250,000 of 1,000,000 records, 48.5 MB, 41,234 records/s, 120 windows emitted"
    )
    assert line(sample, None, 0) == "250,000 records, 48.5 MB, 0 records/s, 120 windows emitted"
    assert line({**sample, "records": 2e6}, 1_000_000, 0).startswith("[####################] 100% ")
