"""Intervals for results measured over a few seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values, their sample standard deviation, and a two-sided confidence
    interval for the mean (Student's t: honest about how little a few seeds tell)."""

    mean: float
    sd: float
    low: float
    high: float
    n: int
    confidence: float = 0.95

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict:
        return asdict(self)


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """The t-interval of the mean; with one value the interval is unbounded (nan)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        raise ValueError("no values")
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, float("nan"), float("nan"), float("nan"), 1, confidence)
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, sd, mean - half, mean + half, n, confidence)


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Interval:
    """Interval of mean(a - b) over paired runs (same seed, same Stage-1 trunk, same data)."""
    if len(a) != len(b):
        raise ValueError("paired values must come in pairs")
    return mean_interval(np.asarray(a, float) - np.asarray(b, float), confidence)


def verdict(differences: dict[str, Interval]) -> str:
    """'holds' when every difference's interval lies above 0, 'does not hold' when one lies
    below 0, else 'cannot be decided' (an interval spans 0, or a single seed)."""
    if not differences:
        return "cannot be decided"
    if any(d.n > 1 and d.high < 0 for d in differences.values()):
        return "does not hold"
    if all(d.n > 1 and d.low > 0 for d in differences.values()):
        return "holds"
    return "cannot be decided"
