"""What one question may cost the query side, and the refusal of one past it.

A request is refused (400, or a GraphQL error, naming the budget) before it reads what it would
cost: a range longer than ``max_range_days`` (its cost would grow with the calendar), an exact
answer whose archive files are larger than ``max_exact_bytes`` in all (sizes known from the listing,
before a byte of them is read), a series of more than ``MAX_SERIES_WINDOWS`` windows, a trend
baseline of more than ``MAX_BASELINE_PERIODS`` periods (each side is also a range within the budget).
"""

from __future__ import annotations

from dataclasses import dataclass

from topk.settings import setting
from topk.windows import DAY_MS

MAX_SERIES_WINDOWS = 1_000  # one item's count per window: a longer series is refused, not truncated
MAX_BASELINE_PERIODS = 24  # trending: the baseline is at most this many ranges as long as the one asked


class OverBudget(ValueError):
    """A question that would cost more than a budget allows (the message names it)."""


@dataclass(frozen=True)
class Budgets:
    """Budgets: the most one question may cost (past one: refused, 400, naming it)."""

    max_range_days: float = setting(400.0, "longer ranges are refused")
    max_exact_bytes: int = setting(
        1 << 30,
        "mode=exact reads at most this many bytes of archive files, their total size (known before reading); "
        "more is refused",
    )

    @property
    def max_range_ms(self) -> int:
        return int(self.max_range_days * DAY_MS)

    def validate(self) -> Budgets:
        if self.max_range_days <= 0 or self.max_exact_bytes < 0:
            raise ValueError("--max-range-days must be > 0 and --max-exact-bytes >= 0")
        return self


def check_exact_bytes(size: int, budget: int | None) -> None:
    """``OverBudget`` if reading ``size`` bytes of archive files is past ``budget`` (None: no budget)."""
    if budget is not None and size > budget:
        raise OverBudget(
            f"mode=exact would read {size:,} bytes of archive files; at most {budget:,} (--max-exact-bytes)"
        )
