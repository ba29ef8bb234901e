"""Timing a model the way the encoder would pay for it: the nodes an operating point needs,
on the encoder's thread count, its first call (warm-up) timed apart."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from av1tools.encoder import FrameRecord, MapEntry
from av1tools.eval.config import OperatingPoint
from av1tools.eval.encode.clips import Clip
from av1tools.eval.guided import descends, prediction_entries
from av1tools.extract.y4m import Y4MReader
from av1tools.model.predictor import FrameContext, nearest_references
from av1tools.partition import cq_level_to_qindex


@dataclass(frozen=True)
class CodedFrame:
    """One frame the guided encoder will code, as the map must name it and the model see it."""

    display_index: int
    luma: np.ndarray
    qindex: int
    context: FrameContext | None = None


def intra_frames(clip: Clip, cq: int) -> list[CodedFrame]:
    """All-intra: every source frame, coded at the cq-level's qindex."""
    with Y4MReader(clip.ref.path) as reader:
        return [CodedFrame(i, reader.read_luma(i), cq_level_to_qindex(cq)) for i in range(clip.frames)]


def recorded_frames(records: list[FrameRecord]) -> list[CodedFrame]:
    """Inter coding: every frame the baseline coded (hidden alt-refs too), from its frame
    records: the picture it coded (a filtered alt-ref as filtered: the guided encode filters
    the same), its qindex, and its nearest references' pictures and place in the group for a
    model that sees motion."""
    by_display = {r.pts: r.luma for r in records if not r.show_frame} | {r.pts: r.luma for r in records if r.show_frame}
    frames = []
    for r in records:
        refs = nearest_references(r.pts, not r.show_frame, r.ref_display, 2)
        pictures = tuple(by_display.get(ref, r.luma) for ref in refs)
        context = FrameContext(pictures, r.pyramid_level, not r.show_frame, r.frame_type != 0)
        frames.append(CodedFrame(r.pts, r.luma, r.base_qindex, context))
    return frames


def infer_map(
    predictor, frames: list[CodedFrame], point: OperatingPoint, sb_size: int, max_value: float
) -> tuple[list[MapEntry], float, float]:
    """The map of one operating point for ``frames``, and the CPU and wall seconds it cost
    (inference of the nodes the point needs, and deriving their allowed sets; reading frames
    and writing the file are not charged)."""
    expand = None if point.forces else (lambda probs, decision, size: descends(probs, decision, point, size))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    preds = [
        predictor.predict_frame(f.luma, max_value, f.qindex, sb_size, expand or "split", f.display_index, f.context)
        for f in frames
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
