"""The one percentile definition every benchmark uses (the command and the pytest benchmarks).

Nearest rank: the p-th percentile of n sorted values is the value at rank ``ceil(p / 100 * n)``
(1-based). It is always a value that was really observed, and with few samples it errs on the
high side (the p95 of 10 values is the largest), which is the honest side for a latency claim.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

PERCENTILE_DEFINITION = "nearest rank: the value at rank ceil(p/100 * n) of the n sorted samples"


def percentile(values: Iterable[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("a percentile of no values is undefined")
    if not 0 < p <= 100:
        raise ValueError(f"p must be in (0, 100], not {p}")
    rank = math.ceil(p * len(ordered) / 100)  # p * n first: 0.07 * 100 is not 7 in floats
    return ordered[max(rank, 1) - 1]
