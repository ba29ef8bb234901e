"""Quality of a bitstream against its source, decoded with dav1d (independent of libaom) and
scored by ``av1tools.eval.metrics`` (VMAF by libvmaf, ``av1tools.eval.vmaf``), pooled over
the frames the AOM CTC's way."""

from __future__ import annotations

from pathlib import Path

from av1tools.eval.config import DEFAULT_METRICS
from av1tools.eval.metrics import MS_SSIM_MIN_SIZE, SSIM_WINDOW, MetricError, frame_metrics, sequence_metrics
from av1tools.extract.ivf import decode_frames
from av1tools.extract.y4m import Y4MReader

VMAF = "vmaf"  # VMAF and VMAF-NEG: one libvmaf pass over the whole sequence (its motion feature)
MINIMUM_SIZE = {"ssim": SSIM_WINDOW, "ms_ssim": MS_SSIM_MIN_SIZE, "psnr_hvs": 15}  # luma pixels each way


def smallest_frame(metrics: tuple[str, ...]) -> tuple[int, str]:
    """The least width and height ``metrics`` can score, and the metric that needs it."""
    return max(((MINIMUM_SIZE.get(m, 1), m) for m in metrics), default=(1, ""))


class QualityError(ValueError):
    pass


def measure_quality(
    ivf: Path, source: Path, frames: int | None = None, metrics: tuple[str, ...] = DEFAULT_METRICS
) -> dict[str, float]:
    """Decode ``ivf`` with dav1d and score every shown frame against the source frame of the
    same display index: the sequence's pooled metrics, and ``frames`` (how many were scored)."""
    per_frame, decoded, sources = [], [], []
    frame_names = tuple(m for m in metrics if m != VMAF)
    with Y4MReader(source) as reader:
        bit_depth = reader.bit_depth
        for i, planes in enumerate(decode_frames(ivf)):
            if frames is not None and i >= frames:
                break
            if i >= len(reader):
                raise QualityError(f"{ivf}: more frames than the source {source}")
            src = reader.read(i)
            try:
                per_frame.append(frame_metrics(planes, src, bit_depth, frame_names))
            except MetricError as e:
                raise QualityError(f"{ivf}: {e}") from None
            if VMAF in metrics:
                decoded.append(planes)
                sources.append(src)
    if not per_frame:
        raise QualityError(f"{ivf}: dav1d decoded no frames")
    if VMAF in metrics:
        from av1tools.eval.vmaf import vmaf_scores

        try:
            for f, v in zip(per_frame, vmaf_scores(decoded, sources, bit_depth)):
                f.update(v)
        except MetricError as e:
            raise QualityError(f"{ivf}: {e}") from None
    return sequence_metrics(per_frame, bit_depth) | {"frames": len(per_frame)}
