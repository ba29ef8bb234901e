"""Quality of a bitstream against its source, decoded with dav1d (independent of libaom)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

from av1tools.extract.ivf import decode_frames
from av1tools.extract.y4m import Y4MReader

SSIM_WINDOW = 11  # the Gaussian window (sigma 1.5, truncated at 3.5 sigma) SSIM slides over a frame


class QualityError(ValueError):
    pass


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak * peak / mse))


def ssim(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    """SSIM per Wang et al.: 11x11 Gaussian window (sigma 1.5), population covariance."""
    return float(
        structural_similarity(
            a.astype(np.float64),
            b.astype(np.float64),
            data_range=peak,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


@dataclass(frozen=True)
class Quality:
    frames: int
    psnr_y: float  # mean of per-frame PSNR, dB
    psnr_u: float
    psnr_v: float
    ssim_y: float  # mean of per-frame SSIM

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def measure_quality(ivf: Path, source: Path, frames: int | None = None) -> Quality:
    """Decode ``ivf`` with dav1d and compare every shown frame with the source frame of the
    same display index."""
    per_frame = []
    with Y4MReader(source) as reader:
        peak = float((1 << reader.bit_depth) - 1)
        for i, planes in enumerate(decode_frames(ivf)):
            if frames is not None and i >= frames:
                break
            if i >= len(reader):
                raise QualityError(f"{ivf}: more frames than the source {source}")
            src = reader.read(i)
            per_frame.append([psnr(d, s, peak) for d, s in zip(planes, src)] + [ssim(planes[0], src[0], peak)])
    if not per_frame:
        raise QualityError(f"{ivf}: dav1d decoded no frames")
    m = np.mean(np.minimum(np.array(per_frame), 100.0), axis=0)  # lossless frames count as 100 dB
    return Quality(len(per_frame), *map(float, m))
