"""Item sequences that are not i.i.d. Zipf, for tests and benchmarks (i.i.d. Zipf over a small
universe makes every sketch exact and hides defects).

Each shape returns ``n`` items in stream (time) order, deterministic for a seed:

* ``zipf``:        i.i.d. Zipf(skew) ranks over ``universe`` (the classic benchmark).
* ``bursty``:      a Zipf background; every ~``burst_every`` of the stream a new item surges to
                   ``burst_share`` of the events for a few stretches, then never appears again.
* ``turnover``:    Zipf popularity over a vocabulary that drifts: every ``1 / phases`` of the stream
                   the ranks move on by ``universe // 4`` ids, so yesterday's top items fade out.
* ``adversarial``: Zipf counts, but each item's events are contiguous and items come rarest
                   first: the heavy items arrive last, when Space-Saving's floor is highest.
* ``text``:        the words of real English prose (the Python documentation CPython ships:
                   ``pydoc_data.topics`` and the standard library's module docstrings), in order,
                   repeated as needed.

Items are ids (``int``) except for ``text`` (words).
"""

from __future__ import annotations

import ast
import functools
import re
import sysconfig
from pathlib import Path

import numpy as np

SHAPES = ("zipf", "bursty", "turnover", "adversarial", "text")


def zipf_ranks(rng: np.random.Generator, n: int, universe: int, skew: float) -> np.ndarray:
    """``n`` ranks in ``1..universe`` with P(rank = i) proportional to ``i ** -skew``."""
    weights = np.arange(1, universe + 1, dtype=np.float64) ** -skew
    cdf = np.cumsum(weights)
    return np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right") + 1


def items(shape: str, rng: np.random.Generator, n: int, universe: int, skew: float) -> list[int] | list[str]:
    if shape == "zipf":
        return zipf_ranks(rng, n, universe, skew).tolist()
    if shape == "bursty":
        return bursty(rng, n, universe, skew)
    if shape == "turnover":
        return turnover(rng, n, universe, skew)
    if shape == "adversarial":
        return adversarial(rng, n, universe, skew)
    if shape == "text":
        words = prose_words()
        return [words[i % len(words)] for i in range(n)]
    raise ValueError(f"unknown stream shape {shape!r}: one of {', '.join(SHAPES)}")


def bursty(
    rng: np.random.Generator, n: int, universe: int, skew: float, burst_every: float = 0.05, burst_share: float = 0.04
) -> list[int]:
    """Zipf background; a burst item (ids above ``universe``) takes ``burst_share`` of the events
    in 3 stretches of ``burst_every / 2`` each, starting every ``burst_every`` of the stream."""
    ranks = zipf_ranks(rng, n, universe, skew)
    stretch = max(1, int(n * burst_every / 2))
    for b, start in enumerate(range(0, n, max(1, int(n * burst_every)))):
        end = min(n, start + 3 * stretch)
        hits = np.flatnonzero(rng.random(end - start) < burst_share) + start
        ranks[hits] = universe + 1 + b
    return ranks.tolist()


def turnover(rng: np.random.Generator, n: int, universe: int, skew: float, phases: int = 12) -> list[int]:
    """Zipf ranks whose ids shift by ``universe // 4`` at each of ``phases`` equal parts of the stream."""
    ranks = zipf_ranks(rng, n, universe, skew)
    phase = np.arange(n) * phases // max(1, n)
    return (ranks + phase * max(1, universe // 4)).tolist()


def adversarial(rng: np.random.Generator, n: int, universe: int, skew: float) -> list[int]:
    """Zipf counts, each item's events together, rarest items first (ties by id)."""
    ranks = zipf_ranks(rng, n, universe, skew)
    ids, counts = np.unique(ranks, return_counts=True)
    order = np.lexsort((ids, counts))  # by count ascending, then id
    return np.repeat(ids[order], counts[order]).tolist()


@functools.cache
def prose_words() -> tuple[str, ...]:
    """Lower-cased words of the documentation shipped with CPython, in reading order (~200k words)."""
    from pydoc_data.topics import topics

    texts = [topics[k] for k in sorted(topics)]
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                texts.append(ast.get_docstring(node, clean=False) or "")
    return tuple(re.findall(r"[a-z][a-z'\-]*", "\n".join(texts).lower()))
