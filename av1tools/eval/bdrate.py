"""Bjøntegaard delta rate: the average bitrate difference at equal quality.

``cubic`` is Bjøntegaard's VCEG-M33 method: a cubic polynomial of log-rate as a function
of quality, fitted to each curve (4 or more points), integrated over the overlapping quality
interval. ``pchip`` replaces the fit by piecewise cubic Hermite interpolation through the
points (as later JVET/AOM tools do), which does not overshoot between points.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

METHODS = ("cubic", "pchip")


def _log_rate_integral(quality: np.ndarray, log_rate: np.ndarray, lo: float, hi: float, method: str) -> float:
    order = np.argsort(quality)
    q, r = quality[order], log_rate[order]
    if method == "cubic":
        poly = np.polyint(np.polyfit(q, r, 3))
        return float(np.polyval(poly, hi) - np.polyval(poly, lo))
    if method == "pchip":
        return float(PchipInterpolator(q, r).integrate(lo, hi))
    raise ValueError(f"method must be one of {METHODS}, not {method!r}")


def bd_rate(rate_anchor, quality_anchor, rate_test, quality_test, method: str = "cubic") -> float:
    """Percent rate change of the test curve against the anchor at equal quality (negative:
    the test needs fewer bits). NaN when the quality ranges do not overlap."""
    ra, qa = np.log(np.asarray(rate_anchor, float)), np.asarray(quality_anchor, float)
    rt, qt = np.log(np.asarray(rate_test, float)), np.asarray(quality_test, float)
    if min(len(qa), len(qt)) < 4 and method == "cubic":
        raise ValueError("the cubic Bjøntegaard fit needs at least 4 points per curve")
    if len(np.unique(qa)) != len(qa) or len(np.unique(qt)) != len(qt):
        raise ValueError("quality values of a curve must be distinct")
    lo, hi = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    if hi <= lo:
        return float("nan")
    diff = (_log_rate_integral(qt, rt, lo, hi, method) - _log_rate_integral(qa, ra, lo, hi, method)) / (hi - lo)
    return float((np.exp(diff) - 1.0) * 100.0)
