"""Bjøntegaard delta rate: the average bitrate difference at equal quality.

``cubic`` is Bjøntegaard's VCEG-M33 method: a cubic polynomial of log-rate as a function
of quality, fitted to each curve (4 or more points), integrated over the overlapping quality
interval. ``pchip`` replaces the fit by piecewise cubic Hermite interpolation through the
points (as later JVET/AOM tools do), which does not overshoot between points.

``avm`` is the AOM CTC's own calculation, AVM's tools/convexhull_framework/src/CalcBDRate.py
(BD_RATE) step for step: see :func:`avm_bd_rate`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.interpolate import PchipInterpolator, pchip_interpolate

METHODS = ("cubic", "pchip", "avm")

# AVM CalcBDRate.VMAF_METRIC_NAMES, in av1tools.eval.metrics' names and AVM's own.
AVM_VMAF_METRICS = frozenset({"vmaf", "vmaf_neg", "VMAF_Y", "VMAF_Y-NEG"})
AVM_SAMPLES = 100  # points of AVM's trapezoidal integration


class BDRateError(ValueError):
    """A curve pair AVM's BD_RATE refuses (it returns -1 with this message)."""


def _log_rate_integral(quality: np.ndarray, log_rate: np.ndarray, lo: float, hi: float, method: str) -> float:
    order = np.argsort(quality)
    q, r = quality[order], log_rate[order]
    if method == "cubic":
        poly = np.polyint(np.polyfit(q, r, 3))
        return float(np.polyval(poly, hi) - np.polyval(poly, lo))
    if method == "pchip":
        return float(PchipInterpolator(q, r).integrate(lo, hi))
    raise ValueError(f"method must be one of {METHODS}, not {method!r}")


def _avm_pairs(rates, qualities) -> list[tuple[float, float]]:
    # AVM skips a point whose rate or quality cell is empty; None or NaN here.
    pairs = []
    for r, q in zip(rates, qualities):
        if (
            r is None
            or q is None
            or (isinstance(r, float) and math.isnan(r))
            or (isinstance(q, float) and math.isnan(q))
        ):
            continue
        pairs.append((float(r), float(q)))
    return pairs


def _avm_vmaf_filter(pairs: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """AVM's filter_vmaf_non_monotonic: in rate order, stop at the first point whose VMAF
    drops below a predecessor that was already at 99.5 or more (saturation)."""
    out: list[tuple[float, float]] = []
    for rate, quality in sorted(pairs):
        if out and rate >= out[-1][0] and quality < out[-1][1] and out[-1][1] >= 99.5:
            break
        out.append((rate, quality))
    return out


def _avm_monotonic(pairs: list[tuple[float, float]], lower_is_better: bool) -> bool:
    rates = [r for r, _ in pairs]
    qualities = [q for _, q in pairs]
    rising = all(a <= b for a, b in zip(rates, rates[1:]))
    falling = all(a >= b for a, b in zip(rates, rates[1:]))
    return (falling if lower_is_better else rising) and all(a <= b for a, b in zip(qualities, qualities[1:]))


def _avm_curve(pairs: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """Quality (inf as 100) and log-rate, one point per distinct quality (the lower rate kept)."""
    quality = [100.0 if q == math.inf else q for _, q in pairs]
    log_rate = [math.log(r) for r, _ in pairs]
    keep = [0] + [i for i in range(1, len(quality)) if quality[i - 1] != quality[i]]
    return [quality[i] for i in keep], [log_rate[i] for i in keep]


def avm_bd_rate(
    rate_anchor, quality_anchor, rate_test, quality_test, metric: str | None = None, lower_is_better: bool = False
) -> float:
    """Percent rate change of the test curve against the anchor exactly as AVM's BD_RATE
    computes it (CTC v9.0 framework):

    1. points with a missing rate or quality are dropped; for a VMAF ``metric`` the points
       past a drop from a value >= 99.5 are dropped too (saturation filter);
    2. each curve is sorted by quality (then rate) and must be monotonic: rate non-decreasing
       (non-increasing when ``lower_is_better``), else BDRateError("Error: Non-monotonic");
    3. rates go to natural log (a rate <= 0 is "Error: Invalid Input Data"), an infinite
       quality counts as 100, and of points with equal quality only the first is kept;
    4. over the overlapping quality range (none: "Error: no overlap ..."), log-rate is
       interpolated by PCHIP (scipy's pchip_interpolate) at 100 evenly spaced qualities and
       integrated by the trapezoid rule;
    5. the result, (exp(mean log-rate difference) - 1) * 100, is rounded to 4 decimals.

    AVM's summary (AV2CTCProgress.CalcBDRate) records 0.0 where BD_RATE reports an error;
    here the error is raised instead, for the caller to decide."""
    curves = []
    for rates, qualities in ((rate_anchor, quality_anchor), (rate_test, quality_test)):
        pairs = _avm_pairs(rates, qualities)
        if metric in AVM_VMAF_METRICS:
            pairs = _avm_vmaf_filter(pairs)
        pairs.sort(key=lambda p: (p[1], p[0]))
        curves.append(pairs)
    if not all(_avm_monotonic(p, lower_is_better) for p in curves):
        raise BDRateError("Error: Non-monotonic")
    try:
        (q1, r1), (q2, r2) = (_avm_curve(p) if p else ([], []) for p in curves)
    except ValueError:
        raise BDRateError("Error: Invalid Input Data") from None
    if not q1 or not q2:
        raise BDRateError("Error: one of input lists is empty!")
    lo, hi = max(min(q1), min(q2)), min(max(q1), max(q2))
    if lo >= hi:
        raise BDRateError("Error: no overlap from input 2 lists of quality metrics!")
    samples, step = np.linspace(lo, hi, num=AVM_SAMPLES, retstep=True)
    v1 = pchip_interpolate(q1, r1, samples)
    v2 = pchip_interpolate(q2, r2, samples)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz
    mean_diff = (trapezoid(v2, dx=step) - trapezoid(v1, dx=step)) / (hi - lo)
    return round((math.exp(mean_diff) - 1) * 100, 4)


def bd_rate(rate_anchor, quality_anchor, rate_test, quality_test, method: str = "cubic") -> float:
    """Percent rate change of the test curve against the anchor at equal quality (negative:
    the test needs fewer bits). NaN when the quality ranges do not overlap. ``avm`` is
    :func:`avm_bd_rate` without a metric name (so without its VMAF filter); its other
    refusals raise BDRateError."""
    if method == "avm":
        try:
            return avm_bd_rate(rate_anchor, quality_anchor, rate_test, quality_test)
        except BDRateError as e:
            if "no overlap" in str(e):
                return float("nan")
            raise
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
