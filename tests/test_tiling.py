"""Which stored windows answer a range: coarse first, retained only, written only."""

from topk.query.tiling import tile
from topk.windows import parse_windows

M, H, D = 60_000, 3_600_000, 86_400_000
FOREVER = parse_windows("1m,1h,1d,all", "1m=forever,1h=forever,1d=forever")  # nothing expires
KEPT = parse_windows("1m,1h,1d,all", "1m=2d,1h=90d,1d=400d")  # the defaults
NOW = 1000 * D  # far from every range below unless a test says otherwise


def contiguous(t) -> bool:
    pos = t.covered_start
    for w, s in t.tiles:
        if s != pos:
            return False
        pos += w.size_ms
    return pos == t.covered_end


def test_uses_days_hours_and_minutes_at_the_edges():
    start, end = 2 * D - H - 5 * M, 3 * D + H + 2 * M
    t = tile(start, end, FOREVER, NOW)
    assert [w.label for w, _ in t.tiles] == ["1m"] * 5 + ["1h"] + ["1d"] + ["1h"] + ["1m"] * 2
    assert (t.covered_start, t.covered_end) == (start, end) and contiguous(t)
    assert t.start_rounded_to.label == t.end_rounded_to.label == "1m"


def test_unaligned_ends_shrink_to_the_finest_window():
    t = tile(10 * M + 30_000, 13 * M + 59_999, FOREVER, NOW)
    assert (t.covered_start, t.covered_end) == (11 * M, 13 * M)
    assert [s for _, s in t.tiles] == [11 * M, 12 * M]


def test_empty_when_shorter_than_the_finest_window():
    t = tile(10 * M + 1, 10 * M + 50_000, FOREVER, NOW)
    assert t.tiles == [] and t.covered_start == t.covered_end


def test_expired_minutes_round_the_start_to_hours_and_expired_hours_to_days():
    now = 200 * D
    t = tile(100 * D + 5 * H + 7 * M, now - 3 * M, KEPT, now)  # hours kept 90 days, minutes 2 days
    assert t.start_rounded_to.label == "1d" and t.covered_start == 101 * D
    assert t.end_rounded_to.label == "1m" and t.covered_end == now - 3 * M and contiguous(t)
    for w, s in t.tiles:  # nothing expired is used
        assert w.retained_since(now) is None or s >= w.retained_since(now)
    t = tile(now - 10 * D + 5 * H + 7 * M, now, KEPT, now)
    assert t.start_rounded_to.label == "1h" and t.covered_start == now - 10 * D + 6 * H


def test_catalogue_skips_windows_never_written_and_descends_into_unclosed_ones():
    start, end = 2 * D, 5 * D + 3 * H
    written = {"1d": [2 * D, 4 * D], "1h": [4 * D + H, 5 * D, 5 * D + 2 * H], "1m": [5 * D + 2 * H + M]}
    t = tile(start, end, FOREVER, NOW, written)
    # day 3: nothing written in it at all (no events); day 5 is not closed: its hours and a minute
    assert t.tiles == [(FOREVER[2], 2 * D), (FOREVER[2], 4 * D), (FOREVER[1], 5 * D), (FOREVER[1], 5 * D + 2 * H)]
    assert (t.covered_start, t.covered_end) == (start, end)


def test_absurd_range_costs_what_exists():
    written = {"1d": [700 * D], "1h": [], "1m": []}
    t = tile(0, 2**62, KEPT, 1000 * D, written)
    assert t.tiles == [(KEPT[2], 700 * D)]
