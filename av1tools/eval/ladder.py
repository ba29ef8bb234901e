"""libaom's preset ladder as a curve, and the verdict on a model's operating point against it.

The ladder runs through the baseline (time saving 0, BD-rate 0) and each faster preset's
(time saving, BD-rate), sorted by time saving and joined by straight lines. A model point is
judged at its own time saving: the ladder's BD-rate there is what a user gets from libaom
alone for the same saving; the model wins where its BD-rate is lower. Beyond the fastest
preset the last segment is extended, and the verdict says so. A point slower than the
baseline is judged against the baseline itself (time saving 0, BD-rate 0): the slower presets
were not measured, so the ladder is not extended below it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class LadderComparison:
    time_saving: float  # the model point's
    bd_rate: float  # the model point's (%)
    ladder_bd_rate: float  # the ladder's at that time saving (%)
    difference: float  # model - ladder, BD-rate points (negative: the model is better)
    extrapolated: bool  # beyond the fastest preset (or below 0 time saving)
    ladder_time_saving_at_bd: float | None  # the ladder's time saving at the model's BD-rate
    verdict: str

    def to_dict(self) -> dict:
        return asdict(self)


def ladder_points(presets: list[tuple[float, float]]) -> np.ndarray:
    """(time saving, BD-rate) of the baseline and the presets, sorted by time saving."""
    pts = np.array(sorted([(0.0, 0.0)] + [(float(t), float(b)) for t, b in presets]))
    return pts


def _interp(x: float, xs: np.ndarray, ys: np.ndarray) -> tuple[float, bool]:
    if x < xs[0]:
        return float(ys[0]), True
    if x <= xs[-1]:
        return float(np.interp(x, xs, ys)), False
    if xs[-1] == xs[-2]:
        return float(ys[-1]), True
    slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
    return float(ys[-1] + slope * (x - xs[-1])), True


def compare(
    time_saving: float,
    bd_rate: float,
    ladder: np.ndarray,
    label: str = "model",
    against: tuple[str, str, str] = ("libaom's presets", "the ladder", "the fastest preset"),
) -> LadderComparison:
    """The model point against the ladder at the same time saving. ``against`` names the
    curve in the verdict: what it is, how it is called, its fastest point (another
    predictor's curve is judged the same way)."""
    who, curve, fastest = against
    xs, ys = ladder[:, 0], ladder[:, 1]
    at, extrapolated = _interp(time_saving, xs, ys)
    diff = bd_rate - at
    monotone = bool(np.all(np.diff(ys) >= 0))
    inverse = None
    if monotone and ys[0] <= bd_rate <= ys[-1]:
        inverse = float(np.interp(bd_rate, ys, xs))
    slower = time_saving < xs[0]
    where = f" (extended beyond {fastest})" if extrapolated and not slower else ""
    word = "beats" if diff < 0 else "loses to"
    if slower:
        word = "loses to" if diff >= 0 else "cannot be judged against"
        where = f" (the point is slower than the baseline; {curve} ends at the baseline's 0%)"
    verdict = (
        f"{label} {word} {who}: at {100 * time_saving:.1f}% time saved {curve}{where} costs "
        f"{at:+.2f}% BD-rate, the model {bd_rate:+.2f}% ({diff:+.2f} points)"
    )
    return LadderComparison(time_saving, bd_rate, at, diff, extrapolated, inverse, verdict)
