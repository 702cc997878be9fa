"""What the sketch operator emits when a window closes, and what the sinks store."""

from __future__ import annotations

from dataclasses import dataclass

from topk.events import DEFAULT_TENANT
from topk.sketches import HeavyHittersSketch, ItemCount


@dataclass(frozen=True)
class WindowResult:
    """Top-K of one (window, tenant, dimension, value). The all-time view has ``window_start == 0``."""

    window: str
    dimension: str
    value: str
    window_start: int  # epoch ms, inclusive
    window_end: int  # epoch ms, exclusive
    total_events: int  # total weight counted
    error_bound: int  # guaranteed: no count is over-estimated by more than this
    k: int
    capacity: int
    items: tuple[ItemCount, ...]  # ranked, each flagged ``guaranteed`` (topk.sketches.ranking)
    unlisted_bound: int  # the largest upper bound of any item not in ``items``
    summary: bytes  # HeavyHittersSketch.serialize(), for merging on the query side
    tenant: str = DEFAULT_TENANT
    params: str = ""  # the tenant's parameters it was made with (topk.tenant_config); empty: the job's
    alerts: tuple[tuple[str, str], ...] = ()  # its new alerts' records, (key, value) (topk.alerts)

    @classmethod
    def of(
        cls,
        sketch: HeavyHittersSketch,
        *,
        window: str,
        dimension: str,
        value: str,
        start: int,
        end: int,
        k: int,
        summary: bytes | None = None,
        tenant: str = DEFAULT_TENANT,
        params: str = "",
    ) -> WindowResult:
        """The result of a window summarized by ``sketch`` (``summary``: its bytes, when at hand)."""
        top = sketch.top_k(k)
        return cls(
            window=window,
            dimension=dimension,
            value=value,
            window_start=start,
            window_end=end,
            total_events=sketch.total_weight,
            error_bound=sketch.maximum_error,
            k=k,
            capacity=sketch.space_saving.capacity,
            items=top.items,
            unlisted_bound=top.unlisted_bound,
            summary=sketch.serialize() if summary is None else summary,
            tenant=tenant,
            params=params,
        )
