"""Full-reference quality metrics of decoded 4:2:0 frames, computed and pooled the way the AOM
common test conditions (CTC) compute them.

The AVM CTC scripts (tools/convexhull_framework in the AVM repository) run libvmaf's ``vmaf``
tool with ``--aom_ctc v7.0`` on each decoded sequence and take libvmaf's per-sequence mean of
every per-frame value; the only pooled value that is not such a mean is APSNR (PSNR of the
sequence's summed squared error). Each metric here reimplements the libvmaf feature extractor
that preset selects, with the preset's options, in vectorised numpy:

======================  =====================================================================
metric (per frame)       libvmaf feature and options under ``--aom_ctc v7.0``
======================  =====================================================================
psnr_y/u/v              ``psnr=reduced_hbd_peak=true:enable_apsnr=true:min_sse=0.5``
ssim_y_db (and ssim_y)  ``float_ssim=scale=1:enable_db=true:clip_db=true``
ms_ssim_y_db            ``float_ms_ssim=enable_db=true:clip_db=true``
psnr_hvs                ``psnr_hvs`` (Y, U, V combined 0.8/0.1/0.1 before the dB mapping)
ciede2000               ``ciede``
vmaf, vmaf_neg          models vmaf_v0.6.1 and vmaf_v0.6.1neg (see :mod:`av1tools.eval.vmaf`)
======================  =====================================================================

docs/metrics.md gives each definition, its source and how closely it was validated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import correlate1d


class MetricError(ValueError):
    """Input a metric cannot score (shapes, dtypes, frames too small), or a metric that is not
    available here."""


Planes = Sequence[np.ndarray]  # (Y, U, V) of one 4:2:0 frame
FrameMetric = Callable[[Planes, Planes, int], dict[str, float]]

BIT_DEPTHS = (8, 10, 12)
# The AVM CTC's PSNR-YUV weights (config.yaml quality.psnr_y_weight etc.): per-sequence mean
# PSNRs combined 14:1:1; APSNR-YUV combines the planes' MSEs 4:1:1 (their sample counts in 4:2:0).
PSNR_YUV_WEIGHTS = (14.0, 1.0, 1.0)
APSNR_YUV_WEIGHTS = (4.0, 1.0, 1.0)
PLANE_NAMES = ("y", "u", "v")


# --- input checks ---------------------------------------------------------------------------


def _check_frame(decoded: Planes, source: Planes, bit_depth: int) -> None:
    if bit_depth not in BIT_DEPTHS:
        raise MetricError(f"bit depth must be one of {BIT_DEPTHS}, not {bit_depth!r}")
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    for name, planes in (("decoded", decoded), ("source", source)):
        if len(planes) != 3:
            raise MetricError(f"{name} frame needs 3 planes (Y, U, V), got {len(planes)}")
        for plane_name, plane in zip(PLANE_NAMES, planes):
            if not isinstance(plane, np.ndarray) or plane.ndim != 2:
                raise MetricError(f"{name} plane {plane_name.upper()} must be a 2-D numpy array")
            if plane.dtype != dtype:
                want = np.dtype(dtype)
                raise MetricError(f"{name} plane {plane_name.upper()} is {plane.dtype}; {bit_depth}-bit needs {want}")
    height, width = source[0].shape
    if height == 0 or width == 0:
        raise MetricError("frames must not be empty")
    chroma = ((height + 1) // 2, (width + 1) // 2)
    for plane_name, d, s in zip(PLANE_NAMES, decoded, source):
        if d.shape != s.shape:
            raise MetricError(f"plane {plane_name.upper()}: decoded {d.shape} and source {s.shape} differ")
    for plane_name, s in zip(PLANE_NAMES[1:], source[1:]):
        if s.shape != chroma:
            raise MetricError(
                f"plane {plane_name.upper()} is {s.shape}; a 4:2:0 frame of {width}x{height} has {chroma}"
            )


def _require_size(metric: str, plane: np.ndarray, minimum: int, why: str) -> None:
    height, width = plane.shape
    if height < minimum or width < minimum:
        raise MetricError(f"{metric} needs planes of at least {minimum}x{minimum} ({why}); got {width}x{height}")


def _db(linear_error: float) -> float:
    """-10*log10 of an error in (0, 1]; +inf for 0 (what libvmaf writes for identical planes)."""
    return math.inf if linear_error <= 0 else -10.0 * math.log10(linear_error)


class SourceFrame(Sequence):
    """A source frame prepared for scoring many decodes of it: checked once, and each metric's
    source-side work (the SSIM statistics at every MS-SSIM scale, PSNR-HVS's DCTs and masking,
    CIEDE2000's L*a*b* image) is kept after its first use. It is a sequence of its (Y, U, V)
    planes, so it goes wherever the metrics take a source. About 60 MB at 1280x720 with every
    metric used: keep one per frame index, not per sequence."""

    def __init__(self, planes: Planes, bit_depth: int):
        _check_frame(planes, planes, bit_depth)
        self.planes = tuple(planes)
        self.bit_depth = bit_depth
        self._cache: dict = {}

    def __len__(self) -> int:
        return len(self.planes)

    def __getitem__(self, index):
        return self.planes[index]

    def cached(self, key, make: Callable):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


def _source_side(source: Planes, bit_depth: int, key, make: Callable):
    """``make()``, kept on ``source`` when it is a SourceFrame of this bit depth."""
    if isinstance(source, SourceFrame) and source.bit_depth == bit_depth:
        return source.cached(key, make)
    return make()


# --- PSNR -----------------------------------------------------------------------------------


def ctc_peak(bit_depth: int) -> int:
    """libvmaf's reduced_hbd_peak: 255 scaled to the bit depth (1020 at 10 bits), so that a
    10-bit encode of 8-bit content is scored on the 8-bit scale."""
    return 255 << (bit_depth - 8)


def _psnr_ceiling(peak: int, samples: int) -> float:
    # min_sse=0.5: PSNR as if the plane had a total squared error of 0.5, rounded up to whole dB.
    return math.ceil(10.0 * math.log10(peak * peak * samples / 0.5))


def psnr_planes(decoded: Planes, source: Planes, bit_depth: int) -> dict[str, float]:
    """PSNR of Y, U and V (dB), and each plane's squared-error sum and sample count (for APSNR)."""
    _check_frame(decoded, source, bit_depth)
    peak = ctc_peak(bit_depth)
    height, width = source[0].shape
    # libvmaf sizes the chroma ceiling with w/2 x h/2 (integer division), the planes by their size.
    ceiling_samples = (width * height, (width // 2) * (height // 2), (width // 2) * (height // 2))
    out: dict[str, float] = {}
    for name, d, s, ceiling in zip(PLANE_NAMES, decoded, source, ceiling_samples):
        diff = d.astype(np.int32) - s.astype(np.int32)
        sse = int(np.einsum("ij,ij->", diff, diff, dtype=np.int64))
        mse = sse / d.size
        value = 10.0 * math.log10(peak * peak / max(mse, 1e-16))
        out[f"psnr_{name}"] = min(value, _psnr_ceiling(peak, max(ceiling, 1)))
        out[f"sse_{name}"] = float(sse)
        out[f"samples_{name}"] = float(d.size)
    return out


def apsnr(sse: float, samples: float, bit_depth: int) -> float:
    """libvmaf's APSNR: PSNR of the summed squared error over all frames, capped where the
    total error would be 0.5."""
    peak = ctc_peak(bit_depth)
    cap = math.ceil(10.0 * math.log10(peak * peak * samples * 2))
    if sse <= 0:
        return float(cap)
    return min(10.0 * (math.log10(peak * peak) + math.log10(samples) - math.log10(sse)), cap)


# --- SSIM and MS-SSIM (libvmaf's IQA code) ---------------------------------------------------

SSIM_WINDOW = 11  # Gaussian, sigma 1.5, as scikit-image's gaussian_weights=True and libvmaf


def _gaussian_taps(size: int = SSIM_WINDOW, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size) - (size - 1) / 2
    taps = np.exp(-(x * x) / (2 * sigma * sigma))
    return taps / taps.sum()


_GAUSS = _gaussian_taps()
# libvmaf ms_ssim.c: the 9/7 biorthogonal wavelet low-pass used before each 2x decimation.
_LPF = np.array([0.026727, -0.016828, -0.078201, 0.266846, 0.602914, 0.266846, -0.078201, -0.016828, 0.026727])
# Wang et al.'s exponents; libvmaf applies alpha (luminance) at the coarsest scale only.
_MS_ALPHAS = (0.0, 0.0, 0.0, 0.0, 0.1333)
_MS_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_SCALES = 5
# libvmaf refuses MS-SSIM unless every one of the 5 scales (sizes halved, rounding down) still
# holds the 11x11 window: 11 * 2**4 = 176.
MS_SSIM_MIN_SIZE = SSIM_WINDOW * 2 ** (MS_SSIM_SCALES - 1)


def _valid_blur(image: np.ndarray) -> np.ndarray:
    """Separable Gaussian over the positions where the whole window fits (IQA's convolution,
    equivalently scikit-image's map with its border of 5 cropped)."""
    pad = SSIM_WINDOW // 2
    rows = correlate1d(image, _GAUSS, axis=0, mode="nearest")[pad:-pad]
    return correlate1d(rows, _GAUSS, axis=1, mode="nearest")[:, pad:-pad]


def _ssim_stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An image with its local mean and (clamped) variance: one side of SSIM."""
    mu = _valid_blur(image)
    return image, mu, np.maximum(_valid_blur(image * image) - mu * mu, 0.0)


def _ssim_components(ref_stats: tuple, dist: np.ndarray) -> tuple[float, float, float, float]:
    """Mean SSIM and the means of its luminance, contrast and structure maps (libvmaf's
    _iqa_ssim default case, K1=0.01, K2=0.03, L=255 on 8-bit-scaled samples)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ref, mu_r, var_r = ref_stats
    _, mu_d, var_d = _ssim_stats(dist)
    cov = _valid_blur(ref * dist) - mu_r * mu_d
    sigma_rd = np.sqrt(var_r * var_d)
    lum = (2 * mu_r * mu_d + c1) / (mu_r * mu_r + mu_d * mu_d + c1)
    con = (2 * sigma_rd + c2) / (var_r + var_d + c2)
    struct = (cov + c2 / 2) / (sigma_rd + c2 / 2)
    return float(np.mean(lum * con * struct)), float(lum.mean()), float(con.mean()), float(struct.mean())


def _eight_bit_scale(plane: np.ndarray, bit_depth: int) -> np.ndarray:
    # libvmaf's picture_copy: high-bit-depth samples are divided down to the 8-bit range.
    return plane.astype(np.float64) / (1 << (bit_depth - 8))


def _similarity_db(score: float, width: int, height: int, bit_depth: int) -> float:
    """libvmaf's enable_db with clip_db: -10*log10(1 - score), capped at the value a total
    squared error of 0.5 would give in PSNR."""
    peak = (1 << bit_depth) - 1
    cap = math.ceil(10.0 * math.log10(peak * peak * width * height / 0.5))
    return min(_db(1.0 - score), cap)


def ssim_y(decoded: Planes, source: Planes, bit_depth: int) -> dict[str, float]:
    """SSIM of the luma plane, linear and in dB. Same definition as av1tools.eval.quality.ssim
    (11x11 Gaussian, sigma 1.5, population statistics, mean over the valid region)."""
    _check_frame(decoded, source, bit_depth)
    _require_size("SSIM", source[0], SSIM_WINDOW, "its 11x11 Gaussian window must fit")
    score, *_ = _ssim_components(_ref_stats(source, bit_depth, 0), _eight_bit_scale(decoded[0], bit_depth))
    height, width = source[0].shape
    return {"ssim_y": score, "ssim_y_db": _similarity_db(score, width, height, bit_depth)}


def _decimate(image: np.ndarray) -> np.ndarray:
    # IQA's _iqa_decimate: filter with symmetric (half-sample) borders, keep even positions.
    blurred = correlate1d(correlate1d(image, _LPF, axis=0, mode="reflect"), _LPF, axis=1, mode="reflect")
    return blurred[::2, ::2]


def _ms_ssim_score(scales: Sequence[tuple[float, float, float, float]]) -> float:
    # libvmaf multiplies the scale means raised to their exponents (a negative mean structure
    # gives NaN there too).
    score = 1.0
    with np.errstate(invalid="ignore"):
        for (_, lum, con, struct), alpha, beta in zip(scales, _MS_ALPHAS, _MS_BETAS):
            score *= lum**alpha * con**beta * np.float64(struct) ** beta
    return float(score)


def _ref_stats(source: Planes, bit_depth: int, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The source luma's SSIM statistics at an MS-SSIM scale (0: full size)."""

    def make():
        if scale == 0:
            return _ssim_stats(_eight_bit_scale(source[0], bit_depth))
        return _ssim_stats(_decimate(_ref_stats(source, bit_depth, scale - 1)[0]))

    return _source_side(source, bit_depth, ("ssim", scale), make)


def _ms_ssim_scales(decoded: Planes, source: Planes, bit_depth: int) -> list[tuple[float, float, float, float]]:
    dist = _eight_bit_scale(decoded[0], bit_depth)
    scales = []
    for scale in range(MS_SSIM_SCALES):
        if scale:
            dist = _decimate(dist)
        scales.append(_ssim_components(_ref_stats(source, bit_depth, scale), dist))
    return scales


def ms_ssim_y(decoded: Planes, source: Planes, bit_depth: int) -> dict[str, float]:
    """MS-SSIM of the luma plane (Wang et al., 5 scales, as libvmaf's float_ms_ssim), linear
    and in dB."""
    _check_frame(decoded, source, bit_depth)
    _require_size("MS-SSIM", source[0], MS_SSIM_MIN_SIZE, "5 scales, each holding the 11x11 window")
    score = _ms_ssim_score(_ms_ssim_scales(decoded, source, bit_depth))
    height, width = source[0].shape
    return {"ms_ssim_y": score, "ms_ssim_y_db": _similarity_db(score, width, height, bit_depth)}


def _ssim_and_ms_ssim(decoded: Planes, source: Planes, bit_depth: int) -> dict[str, float]:
    """ssim_y and ms_ssim_y together: MS-SSIM's finest scale is the SSIM computation."""
    _check_frame(decoded, source, bit_depth)
    _require_size("MS-SSIM", source[0], MS_SSIM_MIN_SIZE, "5 scales, each holding the 11x11 window")
    scales = _ms_ssim_scales(decoded, source, bit_depth)
    height, width = source[0].shape
    ssim, ms = scales[0][0], _ms_ssim_score(scales)
    return {
        "ssim_y": ssim,
        "ssim_y_db": _similarity_db(ssim, width, height, bit_depth),
        "ms_ssim_y": ms,
        "ms_ssim_y_db": _similarity_db(ms, width, height, bit_depth),
    }


# --- PSNR-HVS (Daala's tools via libvmaf: Egiazarian/Ponomarenko et al.) ---------------------

# Daala's normalised inverse quantisation matrices at the point of transparency (libvmaf
# third_party/xiph/psnr_hvs.c): luma, and the 4:2:0 chroma planes.


def _table(text: str) -> np.ndarray:
    return np.array(text.split(), dtype=np.float64).reshape(8, 8)


_CSF_Y = _table(
    """
    1.6193873005 2.2901594831 2.08509755623 1.48366094411
    1.00227514334 0.678296995242 0.466224900598 0.3265091542
    2.2901594831 1.94321815382 2.04793073064 1.68731108984
    1.2305666963 0.868920337363 0.61280991668 0.436405793551
    2.08509755623 2.04793073064 1.34329019223 1.09205635862
    0.875748795257 0.670882927016 0.501731932449 0.372504254596
    1.48366094411 1.68731108984 1.09205635862 0.772819797575
    0.605636379554 0.48309405692 0.380429446972 0.295774038565
    1.00227514334 1.2305666963 0.875748795257 0.605636379554
    0.448996256676 0.352889268808 0.283006984131 0.226951348204
    0.678296995242 0.868920337363 0.670882927016 0.48309405692
    0.352889268808 0.27032073436 0.215017739696 0.17408067321
    0.466224900598 0.61280991668 0.501731932449 0.380429446972
    0.283006984131 0.215017739696 0.168869545842 0.136153931001
    0.3265091542 0.436405793551 0.372504254596 0.295774038565
    0.226951348204 0.17408067321 0.136153931001 0.109083846276
    """
)
_CSF_CB420 = _table(
    """
    1.91113096927 2.46074210438 1.18284184739 1.14982565193
    1.05017074788 0.898018824055 0.74725392039 0.615105596242
    2.46074210438 1.58529308355 1.21363250036 1.38190029285
    1.33100189972 1.17428548929 0.996404342439 0.830890433625
    1.18284184739 1.21363250036 0.978712413627 1.02624506078
    1.03145147362 0.960060382087 0.849823426169 0.731221236837
    1.14982565193 1.38190029285 1.02624506078 0.861317501629
    0.801821139099 0.751437590932 0.685398513368 0.608694761374
    1.05017074788 1.33100189972 1.03145147362 0.801821139099
    0.676555426187 0.605503172737 0.55002013668 0.495804539034
    0.898018824055 1.17428548929 0.960060382087 0.751437590932
    0.605503172737 0.514674450957 0.454353482512 0.407050308965
    0.74725392039 0.996404342439 0.849823426169 0.685398513368
    0.55002013668 0.454353482512 0.389234902883 0.342353999733
    0.615105596242 0.830890433625 0.731221236837 0.608694761374
    0.495804539034 0.407050308965 0.342353999733 0.295530605237
    """
)
_CSF_CR420 = _table(
    """
    2.03871978502 2.62502345193 1.26180942886 1.11019789803
    1.01397751469 0.867069376285 0.721500455585 0.593906509971
    2.62502345193 1.69112867013 1.17180569821 1.3342742857
    1.28513006198 1.13381474809 0.962064122248 0.802254508198
    1.26180942886 1.17180569821 0.944981930573 0.990876405848
    0.995903384143 0.926972725286 0.820534991409 0.706020324706
    1.11019789803 1.3342742857 0.990876405848 0.831632933426
    0.77418706195 0.725539939514 0.661776842059 0.587716619023
    1.01397751469 1.28513006198 0.995903384143 0.77418706195
    0.653238524286 0.584635025748 0.531064164893 0.478717061273
    0.867069376285 1.13381474809 0.926972725286 0.725539939514
    0.584635025748 0.496936637883 0.438694579826 0.393021669543
    0.721500455585 0.962064122248 0.820534991409 0.661776842059
    0.531064164893 0.438694579826 0.375820256136 0.330555063063
    0.593906509971 0.802254508198 0.706020324706 0.587716619023
    0.478717061273 0.393021669543 0.330555063063 0.285345396658
    """
)
_HVS_CSF = (_CSF_Y, _CSF_CB420, _CSF_CR420)
_HVS_MASK_SCALE = 0.3885746225901003  # Daala: CSF times this, squared, is the PSNR-HVS-M masking table
_HVS_BLOCK, _HVS_STEP = 8, 7  # 8x8 DCT blocks every 7 samples (they overlap by one), as libvmaf


def _unbiased_half(a: np.ndarray) -> np.ndarray:
    # OD_DCT_RSHIFT(a, 1): halve rounding toward zero.
    return (a + (a < 0)) >> 1


def _od_bin_fdct8(x: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Daala's 8-point integer lifting DCT (orthonormal scale), on int32 arrays, bit-exact
    with od_bin_fdct8 in libvmaf's psnr_hvs.c."""
    t0, t4, t2, t6, t7, t3, t5, t1 = x
    t1 = t0 - t1
    t1h = _unbiased_half(t1)
    t0 = t0 - t1h
    t4 = t4 + t5
    t4h = _unbiased_half(t4)
    t5 = t5 - t4h
    t3 = t2 - t3
    t2 = t2 - _unbiased_half(t3)
    t6 = t6 + t7
    t6h = _unbiased_half(t6)
    t7 = t6h - t7
    t0 = t0 + t6h
    t6 = t0 - t6
    t2 = t4h - t2
    t4 = t2 - t4
    t0 = t0 - ((t4 * 13573 + 16384) >> 15)
    t4 = t4 + ((t0 * 11585 + 8192) >> 14)
    t0 = t0 - ((t4 * 13573 + 16384) >> 15)
    t6 = t6 - ((t2 * 21895 + 16384) >> 15)
    t2 = t2 + ((t6 * 15137 + 8192) >> 14)
    t6 = t6 - ((t2 * 21895 + 16384) >> 15)
    t3 = t3 + ((t5 * 19195 + 16384) >> 15)
    t5 = t5 + ((t3 * 11585 + 8192) >> 14)
    t3 = t3 - ((t5 * 7489 + 4096) >> 13)
    t7 = _unbiased_half(t5) - t7
    t5 = t5 - t7
    t3 = t1h - t3
    t1 = t1 - t3
    t7 = t7 + ((t1 * 3227 + 16384) >> 15)
    t1 = t1 - ((t7 * 6393 + 16384) >> 15)
    t7 = t7 + ((t1 * 3227 + 16384) >> 15)
    t5 = t5 + ((t3 * 2485 + 4096) >> 13)
    t3 = t3 - ((t5 * 18205 + 16384) >> 15)
    t5 = t5 + ((t3 * 2485 + 4096) >> 13)
    return [t0, t1, t2, t3, t4, t5, t6, t7]


def od_bin_fdct8x8(blocks: np.ndarray) -> np.ndarray:
    """2-D integer DCT of (..., 8, 8) int32 blocks: columns first, then rows, as Daala does."""
    columns = np.stack(_od_bin_fdct8([blocks[..., k, :] for k in range(8)]), axis=-2)
    return np.stack(_od_bin_fdct8([columns[..., k] for k in range(8)]), axis=-1)


def _hvs_blocks(plane: np.ndarray) -> np.ndarray:
    windows = sliding_window_view(plane, (_HVS_BLOCK, _HVS_BLOCK))[::_HVS_STEP, ::_HVS_STEP]
    # int32, as Daala's od_coeff: the lifting products stay below 2**31 for 12-bit samples.
    return windows.reshape(-1, _HVS_BLOCK, _HVS_BLOCK).astype(np.int32)


def _quadrant_sums(blocks: np.ndarray) -> np.ndarray:
    """(n, 2, 2) sums of each 8x8 block's 4x4 quadrants."""
    half_rows = blocks.reshape(-1, 8, 2, 4).sum(axis=3, dtype=np.int64)  # (n, 8, 2)
    return half_rows.reshape(-1, 2, 4, 2).sum(axis=2)


def _hvs_masking_energy(blocks: np.ndarray) -> np.ndarray:
    """Per 8x8 block: the summed sample variances of its four 4x4 quadrants over the whole
    block's (PSNR-HVS-M's activity ratio; 0 for a flat block), from exact integer sums."""
    q1, q2 = _quadrant_sums(blocks), _quadrant_sums(blocks * blocks)
    s1, s2 = q1.sum(axis=(1, 2)), q2.sum(axis=(1, 2))
    whole = (s2 - s1 * s1 / 64.0) * (64 / 63)
    quads = (q2 - q1 * q1 / 16.0).sum(axis=(1, 2)) * (16 / 15)
    return np.divide(quads, whole, out=np.zeros_like(whole), where=whole > 0)


def _hvs_masks(csf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mask = (csf * _HVS_MASK_SCALE) ** 2
    mask_ac = mask.copy()
    mask_ac[0, 0] = 0.0  # the masking energy leaves out the DC coefficient ...
    inv_mask_ac = np.divide(1.0, mask, out=np.zeros_like(mask), where=mask_ac > 0)  # ... as does masking
    return mask, mask_ac, inv_mask_ac


def _hvs_side(plane: np.ndarray, csf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One side of PSNR-HVS: the plane's block DCTs and each block's masking threshold."""
    _, mask_ac, _ = _hvs_masks(csf)
    blocks = _hvs_blocks(plane)
    dct = od_bin_fdct8x8(blocks)
    coeffs = dct.astype(np.float64)
    threshold = np.sqrt(np.einsum("nij,nij,ij->n", coeffs, coeffs, mask_ac) * _hvs_masking_energy(blocks)) / 32.0
    return dct, threshold


def _hvs_error(src: tuple[np.ndarray, np.ndarray], dst: tuple[np.ndarray, np.ndarray], bit_depth: int, csf) -> float:
    (src_dct, src_threshold), (dst_dct, dst_threshold) = src, dst
    _, _, inv_mask_ac = _hvs_masks(csf)
    threshold = np.maximum(src_threshold, dst_threshold)
    err = np.abs(src_dct - dst_dct).astype(np.float64)
    err = np.maximum(err - threshold[:, None, None] * inv_mask_ac, 0.0)
    total = float(np.einsum("nij,nij,ij->", err, err, csf * csf))
    sample_max = (1 << bit_depth) - 1
    return total / (64 * len(src_dct)) / (sample_max * sample_max)


def psnr_hvs_error(decoded: np.ndarray, source: np.ndarray, bit_depth: int, csf: np.ndarray) -> float:
    """Daala's calc_psnrhvs for one plane: the CSF-weighted, masking-reduced DCT error per
    coefficient, normalised by the squared sample maximum (0 when identical)."""
    return _hvs_error(_hvs_side(source, csf), _hvs_side(decoded, csf), bit_depth, csf)


def psnr_hvs(decoded: Planes, source: Planes, bit_depth: int) -> dict[str, float]:
    """PSNR-HVS of each plane and combined (libvmaf: 0.8*Y + 0.1*(U + V) on the linear
    errors, then dB), in dB; +inf for identical frames."""
    _check_frame(decoded, source, bit_depth)
    for plane in source:
        _require_size("PSNR-HVS", plane, _HVS_BLOCK, "one 8x8 DCT block per plane")
    errors = []
    for index, (d, s, csf) in enumerate(zip(decoded, source, _HVS_CSF)):
        src = _source_side(source, bit_depth, ("hvs", index), lambda s=s, csf=csf: _hvs_side(s, csf))
        errors.append(_hvs_error(src, _hvs_side(d, csf), bit_depth, csf))
    out = {f"psnr_hvs_{name}": _db(e) for name, e in zip(PLANE_NAMES, errors)}
    out["psnr_hvs"] = _db(0.8 * errors[0] + 0.1 * (errors[1] + errors[2]))
    return out


# --- CIEDE2000 (libvmaf's ciede feature) -----------------------------------------------------

# libvmaf's ciede.c "Assumes BT.709": these are BT.709's coefficients for analogue-range U/V
# (+-0.436/+-0.615), applied there to Cb/Cr normalised to +-0.5. Kept as libvmaf has them.
_CIEDE_R_V, _CIEDE_G_U, _CIEDE_G_V, _CIEDE_B_U = 1.28033, 0.21482, 0.38059, 2.12798
_SRGB_TO_XYZ = np.array(
    [
        [0.4124564390896921, 0.357576077643909, 0.18043748326639894],
        [0.21267285140562248, 0.715152155287818, 0.07217499330655958],
        [0.019333895582329317, 0.119192025881303, 0.9503040785363677],
    ]
)
_D65 = (0.95047, 1.0, 1.08883)
# libvmaf weighs lightness, chroma and hue with kL=0.65, kC=1, kH=4 (not CIE's 1, 1, 1).
CIEDE_K = (0.65, 1.0, 4.0)


def _upsample_chroma(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    # libvmaf replicates each chroma sample to its 2x2 luma positions (nearest neighbour).
    return np.repeat(np.repeat(plane, 2, axis=0), 2, axis=1)[:height, :width]


def yuv_to_lab(y: np.ndarray, u: np.ndarray, v: np.ndarray, bit_depth: int) -> tuple[np.ndarray, ...]:
    """CIE L*a*b* of limited-range Y'CbCr samples (same shape), as libvmaf's get_lab_color."""
    scale = float(1 << (bit_depth - 8))
    y = (y - 16.0 * scale) / (219.0 * scale)
    u = (u - 128.0 * scale) / (224.0 * scale)
    v = (v - 128.0 * scale) / (224.0 * scale)
    rgb = (y + _CIEDE_R_V * v, y - _CIEDE_G_U * u - _CIEDE_G_V * v, y + _CIEDE_B_U * u)
    # sRGB transfer inverse with libvmaf's 10/255 breakpoint; no clipping of out-of-gamut values.
    linear = [np.where(c > 10.0 / 255.0, ((np.maximum(c, 0.0) + 0.055) / 1.055) ** 2.4, c / 12.92) for c in rgb]
    xyz = [sum(m * c for m, c in zip(row, linear)) / white for row, white in zip(_SRGB_TO_XYZ, _D65)]
    eps, kappa = 216.0 / 24389.0, 24389.0 / 27.0
    fx, fy, fz = (np.where(t > eps, np.cbrt(t), (kappa * t + 16.0) / 116.0) for t in xyz)
    return 116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)


def _hue_angle(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    return np.mod(np.arctan2(b, a), 2 * np.pi)  # atan2(0, 0) = 0, as libvmaf's special case


def _hue_weight(big_h: np.ndarray) -> np.ndarray:
    """CIEDE2000's T(H'): cos(H - 30deg), cos 2H, cos(3H + 6deg), cos(4H - 63deg), from one cos
    and one sin (multiple-angle identities) to spare three transcendental passes."""
    c1, s1 = np.cos(big_h), np.sin(big_h)
    c2, s2 = 2 * c1 * c1 - 1, 2 * s1 * c1
    c3, s3 = c1 * c2 - s1 * s2, s1 * c2 + c1 * s2
    c4, s4 = 2 * c2 * c2 - 1, 2 * s2 * c2
    a30, a6, a63 = np.pi / 6, np.pi / 30, 7 * np.pi / 20
    return (
        1.0
        - 0.17 * (c1 * np.cos(a30) + s1 * np.sin(a30))
        + 0.24 * c2
        + 0.32 * (c3 * np.cos(a6) - s3 * np.sin(a6))
        - 0.20 * (c4 * np.cos(a63) + s4 * np.sin(a63))
    )


def ciede2000_delta(lab1: Sequence[np.ndarray], lab2: Sequence[np.ndarray], k: Sequence[float] = CIEDE_K) -> np.ndarray:
    """CIEDE2000 colour difference per sample, following libvmaf's ciede2000(): the mean hue
    adds 2*pi whenever the hues are more than pi apart, and the hue difference is zero when
    either unprimed chroma is."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    k_l, k_c, k_h = k
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    c_bar7 = ((c1 + c2) / 2) ** 7
    g = 1.0 + 0.5 * (1.0 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = a1 * g, a2 * g
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    c_bar_p = (c1p + c2p) / 2
    h1p, h2p = _hue_angle(b1, a1p), _hue_angle(b2, a2p)
    dh = h2p - h1p
    wrapped = np.abs(dh) > np.pi
    dh = np.where(wrapped, np.where(h2p <= h1p, dh + 2 * np.pi, dh - 2 * np.pi), dh)
    dh = np.where((c1 == 0) | (c2 == 0), 0.0, dh)
    big_h = np.where(wrapped, (h1p + h2p + 2 * np.pi) / 2, (h1p + h2p) / 2)
    l_bar50 = ((l1 + l2) / 2 - 50.0) ** 2
    s_l = 1.0 + 0.015 * l_bar50 / np.sqrt(20.0 + l_bar50)
    s_c = 1.0 + 0.045 * c_bar_p
    s_h = 1.0 + 0.015 * c_bar_p * _hue_weight(big_h)
    c_bar_p7 = c_bar_p**7
    rotation = np.radians(60.0 * np.exp(-(((np.degrees(big_h) - 275.0) / 25.0) ** 2)))
    r_t = -2.0 * np.sqrt(c_bar_p7 / (c_bar_p7 + 25.0**7)) * np.sin(rotation)
    lightness = (l2 - l1) / (k_l * s_l)
    chroma = (c2p - c1p) / (k_c * s_c)
    hue = 2.0 * np.sqrt(c1p * c2p) * np.sin(dh / 2) / (k_h * s_h)
    return np.sqrt(lightness**2 + chroma**2 + hue**2 + r_t * chroma * hue)


def ciede2000(decoded: Planes, source: Planes, bit_depth: int) -> dict[str, float]:
    """libvmaf's ciede2000 score: 45 - 20*log10(mean CIEDE2000 difference), in dB-like units
    (+inf for identical frames)."""
    _check_frame(decoded, source, bit_depth)
    height, width = source[0].shape

    def lab(planes: Planes) -> tuple[np.ndarray, ...]:
        y = planes[0].astype(np.float64)
        u, v = (_upsample_chroma(p, height, width).astype(np.float64) for p in planes[1:])
        return yuv_to_lab(y, u, v, bit_depth)

    reference = _source_side(source, bit_depth, "lab", lambda: lab(source))
    mean_delta = float(np.mean(ciede2000_delta(reference, lab(decoded))))
    return {"ciede2000": math.inf if mean_delta <= 0 else 45.0 - 20.0 * math.log10(mean_delta)}


# --- registry, per-frame and per-sequence --------------------------------------------------

FRAME_METRICS: dict[str, FrameMetric] = {
    "psnr": psnr_planes,
    "ssim": ssim_y,
    "ms_ssim": ms_ssim_y,
    "psnr_hvs": psnr_hvs,
    "ciede2000": ciede2000,
}
# Sequence-level names the CTC computes BD-rate for (AVM AV2CTCProgress.qtys, in its order),
# with vmaf/vmaf_neg from av1tools.eval.vmaf. AVM's names: overall_psnr = psnr_yuv,
# ssim_y = ssim_y_db, ms_ssim_y = ms_ssim_y_db, ciede2k = ciede2000, overall_apsnr = apsnr_yuv.
METRICS_FOR_BD = (
    "psnr_y",
    "psnr_u",
    "psnr_v",
    "psnr_yuv",
    "ssim_y_db",
    "ms_ssim_y_db",
    "vmaf",
    "vmaf_neg",
    "psnr_hvs",
    "ciede2000",
    "apsnr_y",
    "apsnr_u",
    "apsnr_v",
    "apsnr_yuv",
)
AVM_NAMES = {
    "psnr_y": "PSNR_Y",
    "psnr_u": "PSNR_U",
    "psnr_v": "PSNR_V",
    "psnr_yuv": "overall_psnr",
    "ssim_y_db": "SSIM_Y(dB)",
    "ms_ssim_y_db": "MS-SSIM_Y(dB)",
    "vmaf": "VMAF_Y",
    "vmaf_neg": "VMAF_Y-NEG",
    "psnr_hvs": "PSNR-HVS",
    "ciede2000": "CIEDE2000",
    "apsnr_y": "APSNR_Y",
    "apsnr_u": "APSNR_U",
    "apsnr_v": "APSNR_V",
    "apsnr_yuv": "overall_apsnr",
}
_SUMS = tuple(f"{kind}_{p}" for kind in ("sse", "samples") for p in PLANE_NAMES)


def frame_metrics(
    decoded: Planes, source: Planes, bit_depth: int, names: Iterable[str] | None = None
) -> dict[str, float]:
    """The named FRAME_METRICS (all when None) of one decoded frame against its source."""
    chosen = list(FRAME_METRICS) if names is None else list(names)
    unknown = [n for n in chosen if n not in FRAME_METRICS]
    if unknown:
        raise MetricError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(FRAME_METRICS)}")
    _check_frame(decoded, source, bit_depth)
    out: dict[str, float] = {}
    if {"ssim", "ms_ssim"} <= set(chosen) and min(source[0].shape) >= MS_SSIM_MIN_SIZE:
        out.update(_ssim_and_ms_ssim(decoded, source, bit_depth))  # one pass for both
        chosen = [n for n in chosen if n not in ("ssim", "ms_ssim")]
    for name in chosen:
        out.update(FRAME_METRICS[name](decoded, source, bit_depth))
    return out


def psnr_yuv(psnr_y: float, psnr_u: float, psnr_v: float) -> float:
    """The AVM CTC's PSNR-YUV: (14*Y + U + V) / 16 of the sequence-mean PSNRs."""
    wy, wu, wv = PSNR_YUV_WEIGHTS
    return (wy * psnr_y + wu * psnr_u + wv * psnr_v) / (wy + wu + wv)


def apsnr_yuv(apsnr_y: float, apsnr_u: float, apsnr_v: float) -> float:
    """The AVM CTC's APSNR-YUV: the planes' MSEs (from their APSNRs) averaged 4:1:1."""
    weights = APSNR_YUV_WEIGHTS
    mse = sum(w / 10 ** (p / 10) for w, p in zip(weights, (apsnr_y, apsnr_u, apsnr_v))) / sum(weights)
    return 10 * math.log10(1 / mse)


def sequence_metrics(per_frame: Sequence[dict[str, float]], bit_depth: int) -> dict[str, float]:
    """Pool per-frame values the CTC's way: every per-frame value is averaged over the frames
    (libvmaf's mean pooling, dB values averaged in dB, inf stays inf); APSNR comes from the
    summed squared errors; PSNR-YUV and APSNR-YUV combine the pooled planes."""
    if not per_frame:
        raise MetricError("no frames to pool")
    keys = [k for k in per_frame[0] if k not in _SUMS]
    missing = sorted({k for f in per_frame for k in set(per_frame[0]) ^ set(f)})
    if missing:
        raise MetricError(f"frames carry different metrics: {', '.join(missing)}")
    out = {k: float(np.mean([f[k] for f in per_frame])) for k in keys}
    if all(k in per_frame[0] for k in _SUMS):
        for p in PLANE_NAMES:
            sse = sum(f[f"sse_{p}"] for f in per_frame)
            out[f"apsnr_{p}"] = apsnr(sse, sum(f[f"samples_{p}"] for f in per_frame), bit_depth)
        out["apsnr_yuv"] = apsnr_yuv(out["apsnr_y"], out["apsnr_u"], out["apsnr_v"])
    if all(f"psnr_{p}" in out for p in PLANE_NAMES):
        out["psnr_yuv"] = psnr_yuv(out["psnr_y"], out["psnr_u"], out["psnr_v"])
    return out
