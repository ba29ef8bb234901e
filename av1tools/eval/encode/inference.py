"""Timing a model the way the encoder would pay for it: the nodes an operating point needs,
on the encoder's thread count, its first call (warm-up) timed apart."""

from __future__ import annotations

import time

from av1tools.encoder import MapEntry
from av1tools.eval.config import OperatingPoint
from av1tools.eval.encode.clips import Clip
from av1tools.eval.guided import descends, prediction_entries
from av1tools.extract.y4m import Y4MReader
from av1tools.partition import cq_level_to_qindex


def infer_map(
    predictor, clip: Clip, cq: int, point: OperatingPoint, sb_size: int
) -> tuple[list[MapEntry], float, float]:
    """The map of one operating point, and the CPU and wall seconds it cost (inference of
    the nodes the point needs, and deriving their allowed sets; reading frames and writing
    the file are not charged)."""
    qindex = cq_level_to_qindex(cq)
    with Y4MReader(clip.ref.path) as reader:
        lumas = [reader.read_luma(i) for i in range(clip.frames)]
        max_value = float((1 << reader.bit_depth) - 1)
    expand = None if point.forces else (lambda probs, decision: descends(probs, decision, point))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    preds = [
        predictor.predict_frame(luma, max_value, qindex, sb_size, expand or "split", i) for i, luma in enumerate(lumas)
    ]
    entries = prediction_entries(preds, sb_size, point)
    return entries, time.process_time() - cpu0, time.perf_counter() - wall0


def warm_up(predictor, clip: Clip, sb_size: int) -> float:
    """One frame through the model before anything is timed (allocations, first-call
    dispatch): its time is reported on its own."""
    with Y4MReader(clip.ref.path) as reader:
        luma, max_value = reader.read_luma(0), float((1 << reader.bit_depth) - 1)
    start = time.perf_counter()
    predictor.predict_frame(luma, max_value, 120, sb_size, "all", 0)
    return time.perf_counter() - start
