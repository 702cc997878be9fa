import pytest

from jobs.settings import parse_args
from topk.windows import parse_window, sql_interval


def test_defaults_are_valid():
    s = parse_args([])
    assert [w.label for w in s.windows] == ["1m", "1h", "1d", "all"]
    assert s.base_window.size_ms == 60_000


def test_window_parsing():
    assert parse_window("15m").size_ms == 900_000
    assert parse_window("all").is_all_time
    assert parse_window("1h").start_of(3_600_000 * 5 + 17) == 3_600_000 * 5
    for bad in ("30s", "0m", "1w", "h"):
        with pytest.raises(ValueError, match="unknown window size"):
            parse_window(bad)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--k", "2000", "--capacity", "1000"], "k <= capacity"),
        (["--windows", "all"], "sized window"),
        (["--windows", "2m,3m"], "not a multiple"),
        (["--windows", "1m,15m,1h,10m"], "15m is not a multiple of the next finer window 10m"),
        (["--windows", "1m,1m"], "distinct"),
        (["--dimensions", "region,bad-name"], "bad dimension"),
    ],
)
def test_bad_settings_fail_fast(args, message):
    with pytest.raises(ValueError, match=message):
        parse_args(args)


def test_sql_interval_literal():
    assert sql_interval(5_000) == "INTERVAL '0 00:00:05.000' DAY TO SECOND(3)"
    assert sql_interval(7 * 86_400_000 + 3_723_004) == "INTERVAL '7 01:02:03.004' DAY TO SECOND(3)"
