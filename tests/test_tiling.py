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
    hours = [2 * D + 5 * H, 4 * D + H, 5 * D, 5 * D + 2 * H]  # a window is written with finer ones inside
    written = {"1d": [2 * D, 4 * D], "1h": hours, "1m": [h + 7 * M for h in hours]}
    t = tile(start, end, FOREVER, end, written)
    # day 3: nothing written in it at all (no events); day 5 is not closed: its hours
    assert t.tiles == [(FOREVER[2], 2 * D), (FOREVER[2], 4 * D), (FOREVER[1], 5 * D), (FOREVER[1], 5 * D + 2 * H)]
    assert (t.covered_start, t.covered_end) == (start, end)


def test_absurd_range_costs_what_exists():
    written = {"1d": [700 * D], "1h": [], "1m": []}
    t = tile(0, 2**62, KEPT, 1000 * D, written)
    assert t.tiles == [(KEPT[2], 700 * D)]


def test_a_size_not_kept_is_not_read_as_no_events_the_ends_round_to_one_that_was():
    """A tenant keeping hours and days only: no minute is written inside its written hours, so the
    minutes at the range's ends are not taken for minutes without events."""
    start, end = 10 * H + 17 * M, 14 * H + 43 * M
    written = {"1d": [], "1h": [10 * H, 11 * H, 12 * H, 13 * H, 14 * H], "1m": []}
    t = tile(start, end, FOREVER, NOW, written)
    assert t.tiles == [(FOREVER[1], h * H) for h in (11, 12, 13)]
    assert (t.covered_start, t.covered_end) == (11 * H, 14 * H)
    assert t.start_rounded_to.label == t.end_rounded_to.label == "1h"
    short = tile(start, 11 * H + 43 * M, FOREVER, NOW, written)  # no whole hour inside: still not no events
    assert (short.tiles, short.covered_start, short.covered_end) == ([], 11 * H, 11 * H)
    assert short.start_rounded_to.label == "1h"
    kept = {**written, "1m": [h + 30 * M for h in written["1h"]]}  # the same hours, minutes kept
    t = tile(start, end, FOREVER, NOW, kept)
    assert (t.covered_start, t.covered_end) == (start, end)
    assert t.start_rounded_to.label == t.end_rounded_to.label == "1m"


def test_minutes_past_their_retention_say_nothing_of_whether_they_were_kept():
    now = 10 * D
    old, recent = 5 * D + 3 * H, now - 2 * H  # the minutes inside the old hour expired (kept 2 days)
    written = {"1d": [], "1h": [old, recent], "1m": [recent + 5 * M]}
    t = tile(5 * D, now - H + 30 * M, KEPT, now, written)  # the last half hour: minutes, none written
    assert (t.tiles[-1], t.covered_end) == ((KEPT[1], recent), now - H + 30 * M)
    assert t.end_rounded_to.label == "1m"


def test_a_coarsest_size_not_kept_ends_the_range_where_the_finer_ones_expired():
    """A tenant keeping minutes and hours, no days: before the hours' retention (90 days) nothing is
    stored, and the days there, never written, are not taken for days without events."""
    now = 1000 * D
    hours = sorted(now - d * D + 5 * H for d in range(80, 90))  # one a day, within the hours' retention
    written = {"1d": [], "1h": hours, "1m": []}  # the minutes expired (kept 2 days)
    t = tile(now - 100 * D, now - 80 * D, KEPT, now, written)
    assert t.covered_start == now - 90 * D and t.start_rounded_to.label == "1h"
    assert t.tiles == [(KEPT[1], h) for h in hours if h < now - 80 * D]
    days = {**written, "1d": [h - 5 * H for h in hours]}  # with the days kept: the range as asked
    assert tile(now - 100 * D, now - 80 * D, KEPT, now, days).covered_start == now - 100 * D
