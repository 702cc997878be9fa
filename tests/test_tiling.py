from jobs.settings import parse_window
from query.tiling import tile

M, H, D = 60_000, 3_600_000, 86_400_000
WINDOWS = [parse_window(w) for w in ("1m", "1h", "1d", "all")]


def test_uses_days_hours_and_minutes_at_the_edges():
    start, end = 2 * D - H - 5 * M, 3 * D + H + 2 * M
    t = tile(start, end, WINDOWS)
    labels = [w.label for w, _ in t.tiles]
    assert labels == ["1m"] * 5 + ["1h"] + ["1d"] + ["1h"] + ["1m"] * 2
    assert (t.covered_start, t.covered_end) == (start, end)
    # contiguous and in order
    pos = start
    for w, s in t.tiles:
        assert s == pos
        pos += w.size_ms
    assert pos == end


def test_unaligned_ends_shrink_to_the_finest_window():
    t = tile(10 * M + 30_000, 13 * M + 59_999, WINDOWS)
    assert (t.covered_start, t.covered_end) == (11 * M, 13 * M)
    assert [s for _, s in t.tiles] == [11 * M, 12 * M]


def test_empty_when_shorter_than_the_finest_window():
    t = tile(10 * M + 1, 10 * M + 50_000, WINDOWS)
    assert t.tiles == [] and t.covered_start == t.covered_end
