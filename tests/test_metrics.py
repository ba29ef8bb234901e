"""The CTC metrics (av1tools.eval.metrics, .vmaf), AVM's BD-rate and the CTC's conditions.

Reference values marked "libvmaf" were computed by libvmaf (git 86da14d, the ffmpeg 9.0.2 of
imageio-ffmpeg 0.8.1) with the features of ``vmaf --aom_ctc v7.0`` on the frames built here
from integers only, so they are the same on every machine; the live comparison runs where
imageio-ffmpeg is installed.
"""

from __future__ import annotations

import builtins
import math

import numpy as np
import pytest
import scipy.interpolate
from scipy.fft import dctn
from skimage import data
from skimage.color import deltaE_ciede2000

from av1tools import ctc
from av1tools.eval import metrics as m
from av1tools.eval import vmaf
from av1tools.eval.bdrate import BDRateError, avm_bd_rate, bd_rate

# --- frames ------------------------------------------------------------------------------------


def astronaut() -> tuple[np.ndarray, ...]:
    """scikit-image's astronaut (512x512) as 8-bit 4:2:0, by integer BT.601 arithmetic."""
    rgb = data.astronaut().astype(np.int32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128
    v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128

    def sub(p):
        return (p.reshape(256, 2, 256, 2).sum(axis=(1, 3)) + 2) >> 2

    return tuple(p.astype(np.uint8) for p in (y, sub(u), sub(v)))


def distorted(src, seed=3, k=5) -> tuple[np.ndarray, ...]:
    """A blur and integer noise (numpy's PCG64 integers are the same everywhere)."""
    rng = np.random.default_rng(seed)
    out = []
    for p in src:
        q = p.astype(np.int32)
        q[:-1, :-1] = (2 * q[:-1, :-1] + q[1:, :-1] + q[:-1, 1:] + 2) >> 2
        out.append(np.clip(q + rng.integers(-k, k + 1, q.shape), 0, 255).astype(np.uint8))
    return tuple(out)


def ten_bit(src, dec):
    src10 = tuple(p.astype(np.uint16) << 2 for p in src)
    low_bits = [np.random.default_rng(5).integers(0, 4, p.shape).astype(np.uint16) for p in dec]
    dec10 = tuple((p.astype(np.uint16) << 2) + bits for p, bits in zip(dec, low_bits))
    return src10, dec10


def flat(width, height, y=100, u=128, v=128, dtype=np.uint8):
    ch, cw = (height + 1) // 2, (width + 1) // 2
    return (np.full((height, width), y, dtype), np.full((ch, cw), u, dtype), np.full((ch, cw), v, dtype))


@pytest.fixture(scope="module")
def pair():
    src = astronaut()
    return src, distorted(src)


# --- PSNR --------------------------------------------------------------------------------------


def test_psnr_of_identical_frames_is_libvmafs_ceiling():
    frame = astronaut()
    out = m.psnr_planes(frame, frame, 8)
    # min_sse=0.5: ceil(10*log10(255^2 * samples / 0.5))
    assert out["psnr_y"] == math.ceil(10 * math.log10(255**2 * 512 * 512 * 2)) == 106
    assert out["psnr_u"] == math.ceil(10 * math.log10(255**2 * 256 * 256 * 2)) == 100
    assert out["sse_y"] == 0 and out["samples_y"] == 512 * 512


def test_psnr_of_a_known_error():
    src = astronaut()
    # +-3 in a checkerboard, away from clipping: MSE exactly 9
    sign = np.where(np.add.outer(np.arange(512), np.arange(512)) % 2 == 0, 3, -3)
    y = np.clip(src[0].astype(int), 3, 252)
    dec = ((y + sign).astype(np.uint8), src[1], src[2])
    out = m.psnr_planes(dec, (y.astype(np.uint8), src[1], src[2]), 8)
    assert out["psnr_y"] == pytest.approx(10 * math.log10(255**2 / 9), abs=1e-12)
    assert out["sse_y"] == 9 * 512 * 512


def test_high_bit_depth_psnr_uses_the_reduced_peak():
    src, dec = ten_bit(astronaut(), distorted(astronaut()))
    out = m.psnr_planes(dec, src, 10)
    mse = np.mean((dec[0].astype(float) - src[0]) ** 2)
    assert out["psnr_y"] == pytest.approx(10 * math.log10(1020**2 / mse), abs=1e-9)  # 255 << 2, not 1023


# --- SSIM and MS-SSIM ----------------------------------------------------------------------------


def test_ssim_of_identical_frames_is_one_and_capped_in_db():
    frame = astronaut()
    out = m.ssim_y(frame, frame, 8)
    assert out["ssim_y"] == pytest.approx(1.0, abs=1e-12)
    assert out["ssim_y_db"] == math.ceil(10 * math.log10(255**2 * 512 * 512 / 0.5))
    ms = m.ms_ssim_y(frame, frame, 8)
    assert ms["ms_ssim_y"] == pytest.approx(1.0, abs=1e-12) and ms["ms_ssim_y_db"] == out["ssim_y_db"]


def test_ssim_of_a_flat_offset_is_the_luminance_term():
    c1 = (0.01 * 255) ** 2
    out = m.ssim_y(flat(64, 48, y=110), flat(64, 48, y=100), 8)
    assert out["ssim_y"] == pytest.approx((2 * 100 * 110 + c1) / (100**2 + 110**2 + c1), abs=1e-12)


def project_ssim(a, b, peak):
    """SSIM as av1tools scored it before eval.metrics (scikit-image, Wang et al.'s window)."""
    from skimage.metrics import structural_similarity

    return structural_similarity(
        a.astype(np.float64),
        b.astype(np.float64),
        data_range=peak,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )


def test_ssim_matches_the_projects_scikit_image_ssim(pair):
    src, dec = pair
    ours = m.ssim_y(dec, src, 8)["ssim_y"]
    assert ours == pytest.approx(project_ssim(src[0], dec[0], 255.0), abs=1e-9)


def test_ssim_and_ms_ssim_fall_with_noise(pair):
    src, _ = pair
    light, heavy = distorted(src, k=2), distorted(src, k=12)
    for fn, key in ((m.ssim_y, "ssim_y_db"), (m.ms_ssim_y, "ms_ssim_y_db")):
        assert fn(light, src, 8)[key] > fn(heavy, src, 8)[key] + 1.0


# --- PSNR-HVS ------------------------------------------------------------------------------------


def test_daala_integer_dct_is_orthonormal_up_to_lifting_rounding():
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 1024, (200, 8, 8)).astype(np.int32)
    ours = m.od_bin_fdct8x8(blocks)
    assert ours.dtype == np.int32
    assert np.abs(ours - dctn(blocks.astype(float), axes=(1, 2), norm="ortho")).max() <= 5.0
    flat_blocks = np.full((3, 8, 8), 37, np.int32)
    dct = m.od_bin_fdct8x8(flat_blocks)
    assert (np.abs(dct[:, 0, 0] - 8 * 37) <= 1).all() and (dct.reshape(3, -1)[:, 1:] == 0).all()


def test_psnr_hvs_of_a_flat_offset_is_its_dc_error():
    # Flat planes: every AC coefficient is 0, no masking; only DC differs, by ~8*d per block.
    dc = [int(m.od_bin_fdct8x8(np.full((1, 8, 8), y, np.int32))[0, 0, 0]) for y in (100, 105)]
    assert abs(dc[1] - dc[0] - 8 * 5) <= 1
    out = m.psnr_hvs(flat(64, 32, y=105), flat(64, 32, y=100), 8)
    error = ((dc[1] - dc[0]) * m._CSF_Y[0, 0]) ** 2 / 64 / 255**2  # one DC error in 64 coefficients
    assert out["psnr_hvs_y"] == pytest.approx(-10 * math.log10(error), abs=1e-9)
    assert out["psnr_hvs_u"] == math.inf  # chroma untouched


def test_psnr_hvs_of_identical_frames_is_infinite():
    frame = astronaut()
    assert m.psnr_hvs(frame, frame, 8)["psnr_hvs"] == math.inf


# --- CIEDE2000 -----------------------------------------------------------------------------------


def test_ciede2000_matches_scikit_image_with_libvmafs_weights():
    rng = np.random.default_rng(1)
    lab1 = np.stack([rng.uniform(0, 100, 5000), rng.uniform(-80, 80, 5000), rng.uniform(-80, 80, 5000)], axis=-1)
    lab2 = lab1 + rng.normal(0, 3, lab1.shape)
    ours = m.ciede2000_delta(lab1.T, lab2.T)
    theirs = deltaE_ciede2000(lab1, lab2, kL=0.65, kC=1.0, kH=4.0)
    # libvmaf's mean hue always adds 2*pi across the wrap, CIE's subtracts it above 2*pi; the
    # pairs without a wrap agree exactly, the rest differ only through R_T (a few in 1e4).
    h1 = np.arctan2(lab1[:, 2], lab1[:, 1] * 1.3) % (2 * np.pi)
    h2 = np.arctan2(lab2[:, 2], lab2[:, 1] * 1.3) % (2 * np.pi)
    plain = np.abs(h1 - h2) < 2.5
    assert plain.mean() > 0.9
    np.testing.assert_allclose(ours[plain], theirs[plain], rtol=1e-9, atol=1e-9)
    assert abs(ours.mean() - theirs.mean()) < 1e-3 * theirs.mean()


def test_yuv_to_lab_of_limited_range_white_and_grey():
    white = m.yuv_to_lab(np.array([235.0]), np.array([128.0]), np.array([128.0]), 8)
    assert white[0][0] == pytest.approx(100.0, abs=1e-3) and abs(white[1][0]) < 1e-3 and abs(white[2][0]) < 1e-3
    grey10 = m.yuv_to_lab(np.array([502.0]), np.array([512.0]), np.array([512.0]), 10)
    grey8 = m.yuv_to_lab(np.array([125.5]), np.array([128.0]), np.array([128.0]), 8)
    assert grey10[0][0] == pytest.approx(grey8[0][0], abs=1e-9)


def test_ciede2000_of_identical_frames_is_infinite_and_falls_with_error(pair):
    src, dec = pair
    assert m.ciede2000(src, src, 8)["ciede2000"] == math.inf
    assert m.ciede2000(distorted(src, k=1), src, 8)["ciede2000"] > m.ciede2000(dec, src, 8)["ciede2000"]


# --- against libvmaf -----------------------------------------------------------------------------

# libvmaf (see the module docstring) on astronaut() vs distorted(astronaut()), and ten_bit().
LIBVMAF = {
    8: {
        "psnr_y": 33.148621,
        "psnr_u": 37.418536,
        "psnr_v": 37.495469,
        "ssim_y_db": 10.118175,
        "ms_ssim_y_db": 18.732635,
        "psnr_hvs_y": 34.066778,
        "psnr_hvs_u": 40.398137,
        "psnr_hvs_v": 40.036654,
        "psnr_hvs": 34.779915,
        "ciede2000": 33.933868,
        "vmaf": 78.080801,
        "vmaf_neg": 75.236077,
    },
    10: {
        "psnr_y": 33.113326,
        "psnr_u": 37.307105,
        "psnr_v": 37.396735,
        "ssim_y_db": 10.091405,
        "ms_ssim_y_db": 18.711128,
        "psnr_hvs_y": 34.143502,
        "psnr_hvs_u": 40.295567,
        "psnr_hvs_v": 40.014901,
        "psnr_hvs": 34.848657,
        "ciede2000": 33.825505,
        "vmaf": 78.176986,
        "vmaf_neg": 75.238754,
    },
}
# libvmaf prints 6 decimals; PSNR-HVS accumulates in float32 there, SSIM's float32 statistics
# move it by up to ~1e-4 (0.02 dB) on natural content (benchmarks/validate_metrics.py).
TOLERANCE = {"psnr_hvs": 1e-3, "psnr": 2e-6, "ciede2000": 2e-6, "ssim_y_db": 0.02, "ms_ssim_y_db": 0.02}


def _tolerance(name: str) -> float:
    return next(t for prefix, t in TOLERANCE.items() if name.startswith(prefix))


@pytest.mark.parametrize("bit_depth", [8, 10])
def test_metrics_match_libvmaf_reference_values(pair, bit_depth):
    src, dec = pair if bit_depth == 8 else ten_bit(*pair)
    ours = m.frame_metrics(dec, src, bit_depth)
    for name, expected in LIBVMAF[bit_depth].items():
        if name.startswith("vmaf"):
            continue
        assert ours[name] == pytest.approx(expected, abs=_tolerance(name)), name


needs_libvmaf = pytest.mark.skipif(vmaf.libvmaf_unavailable() is not None, reason="imageio-ffmpeg not installed")


@needs_libvmaf
def test_metrics_match_libvmaf_live_on_an_odd_sized_clip():
    rng = np.random.default_rng(11)
    src = astronaut()
    crop = (src[0][:180, :250], src[1][:90, :125], src[2][:90, :125])
    frames = [tuple(np.ascontiguousarray(p) for p in crop), distorted(crop, seed=4)]
    decoded = [distorted(f, seed=int(rng.integers(100))) for f in frames]
    theirs, aggregate = vmaf.libvmaf_scores(decoded, frames, 8, models={}, features=vmaf.CTC_FEATURES)
    names = {"psnr_u": "psnr_cb", "psnr_v": "psnr_cr", "ssim_y_db": "float_ssim", "ms_ssim_y_db": "float_ms_ssim"}
    ours = [m.frame_metrics(d, s, 8) for d, s in zip(decoded, frames)]
    for o, t in zip(ours, theirs):
        for name in ("psnr_y", "psnr_u", "psnr_v", "ssim_y_db", "ms_ssim_y_db", "psnr_hvs", "ciede2000"):
            assert o[name] == pytest.approx(t[names.get(name, name)], abs=_tolerance(name)), name
    pooled = m.sequence_metrics(ours, 8)
    assert pooled["apsnr_y"] == pytest.approx(aggregate["apsnr_y"], abs=2e-6)


@needs_libvmaf
def test_vmaf_scores_are_libvmafs(pair):
    src, dec = pair
    out = vmaf.vmaf_scores([dec], [src], 8)
    assert out[0]["vmaf"] == pytest.approx(LIBVMAF[8]["vmaf"], abs=1e-4)
    assert out[0]["vmaf_neg"] == pytest.approx(LIBVMAF[8]["vmaf_neg"], abs=1e-4)


def test_vmaf_without_imageio_ffmpeg_is_refused_in_one_line(monkeypatch, pair):
    real_import = builtins.__import__

    def no_imageio_ffmpeg(name, *args, **kwargs):
        if name == "imageio_ffmpeg":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    vmaf._ffmpeg.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_imageio_ffmpeg)
    try:
        with pytest.raises(m.MetricError, match=r"^VMAF: imageio-ffmpeg is not installed; pip install") as e:
            vmaf.vmaf_scores([pair[1]], [pair[0]], 8)
        assert "\n" not in str(e.value)
        assert vmaf.libvmaf_unavailable().startswith("VMAF: imageio-ffmpeg is not installed")
    finally:
        vmaf._ffmpeg.cache_clear()


@needs_libvmaf
def test_vmaf_refuses_mismatched_sequences(pair):
    src, dec = pair
    with pytest.raises(m.MetricError, match="1 decoded frames .* against 2"):
        vmaf.vmaf_scores([dec], [src, src], 8)


# --- tiny frames and bad input ---------------------------------------------------------------


def test_an_8_pixel_clip_gets_psnr_and_ciede_and_clear_refusals():
    src, dec = flat(8, 8, y=100), flat(8, 8, y=103)
    assert m.psnr_planes(dec, src, 8)["psnr_y"] == pytest.approx(10 * math.log10(255**2 / 9))
    assert math.isfinite(m.ciede2000(dec, src, 8)["ciede2000"])
    for fn, message in (
        (m.ssim_y, r"^SSIM needs planes of at least 11x11 \(its 11x11 Gaussian window must fit\); got 8x8$"),
        (m.ms_ssim_y, r"^MS-SSIM needs planes of at least 176x176"),
        (m.psnr_hvs, r"^PSNR-HVS needs planes of at least 8x8 \(one 8x8 DCT block per plane\); got 4x4$"),
    ):
        with pytest.raises(m.MetricError, match=message):
            fn(dec, src, 8)


def test_smallest_frames_each_metric_accepts():
    assert m.ssim_y(flat(11, 11, 90), flat(11, 11), 8)["ssim_y"] < 1
    assert math.isfinite(m.psnr_hvs(flat(16, 16, 90), flat(16, 16), 8)["psnr_hvs"])
    big = astronaut()
    crop = tuple(np.ascontiguousarray(p[: 176 // s, : 176 // s]) for p, s in zip(big, (1, 2, 2)))
    assert 0 < m.ms_ssim_y(distorted(crop), crop, 8)["ms_ssim_y"] < 1
    with pytest.raises(m.MetricError, match="MS-SSIM needs planes of at least 176x176.*got 176x175"):
        short = tuple(np.ascontiguousarray(p[: (175 + 1) // s if s > 1 else 175]) for p, s in zip(crop, (1, 2, 2)))
        m.ms_ssim_y(short, short, 8)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: (f[0].astype(np.uint16), f[1], f[2]), r"decoded plane Y is uint16; 8-bit needs uint8"),
        (lambda f: (f[0][:, :-2], f[1], f[2]), r"plane Y: decoded \(16, 14\) and source \(16, 16\) differ"),
        (lambda f: f[:2], r"decoded frame needs 3 planes \(Y, U, V\), got 2"),
        (lambda f: (f[0], f[1].ravel(), f[2]), r"decoded plane U must be a 2-D numpy array"),
    ],
)
def test_bad_input_is_a_one_line_metric_error(change, message):
    src = flat(16, 16)
    with pytest.raises(m.MetricError, match=message):
        m.frame_metrics(change(src), src, 8)


def test_bad_bit_depth_chroma_size_and_metric_name():
    src = flat(16, 16)
    with pytest.raises(m.MetricError, match=r"bit depth must be one of \(8, 10, 12\), not 9"):
        m.psnr_planes(src, src, 9)
    odd = (src[0], src[1][:7], src[2][:7])
    with pytest.raises(m.MetricError, match=r"plane U is \(7, 8\); a 4:2:0 frame of 16x16 has \(8, 8\)"):
        m.psnr_planes(odd, odd, 8)
    with pytest.raises(m.MetricError, match="unknown metric"):
        m.frame_metrics(src, src, 8, ["psnr", "vmaf"])


# --- pooling ---------------------------------------------------------------------------------


def test_sequence_pooling_follows_the_ctc(pair):
    src, dec = pair
    frames = [
        m.frame_metrics(dec, src, 8, ["psnr", "ssim"]),
        m.frame_metrics(distorted(src, k=9), src, 8, ["psnr", "ssim"]),
    ]
    out = m.sequence_metrics(frames, 8)
    for key in ("psnr_y", "psnr_u", "ssim_y", "ssim_y_db"):
        assert out[key] == pytest.approx((frames[0][key] + frames[1][key]) / 2)  # dB averaged in dB
    assert out["psnr_yuv"] == pytest.approx((14 * out["psnr_y"] + out["psnr_u"] + out["psnr_v"]) / 16)
    mse_y = (frames[0]["sse_y"] + frames[1]["sse_y"]) / (2 * 512 * 512)
    assert out["apsnr_y"] == pytest.approx(10 * math.log10(255**2 / mse_y))
    assert out["apsnr_y"] < out["psnr_y"]  # the mean of logs exceeds the log of the mean
    mse = [10 ** (-out[f"apsnr_{p}"] / 10) for p in "yuv"]
    assert out["apsnr_yuv"] == pytest.approx(-10 * math.log10((4 * mse[0] + mse[1] + mse[2]) / 6))
    assert not any(k.startswith(("sse", "samples")) for k in out)


def test_sequence_pooling_keeps_infinity_and_refuses_mixed_frames(pair):
    src, dec = pair
    frames = [m.frame_metrics(src, src, 8, ["ciede2000"]), m.frame_metrics(dec, src, 8, ["ciede2000"])]
    assert m.sequence_metrics(frames, 8)["ciede2000"] == math.inf
    with pytest.raises(m.MetricError, match="frames carry different metrics: psnr_y"):
        m.sequence_metrics([frames[0], {**frames[1], "psnr_y": 30.0}], 8)
    with pytest.raises(m.MetricError, match="no frames"):
        m.sequence_metrics([], 8)


def test_metric_names_for_bd_rate_are_what_pooling_produces(pair):
    src, dec = pair
    pooled = m.sequence_metrics([m.frame_metrics(dec, src, 8)], 8)
    assert set(m.METRICS_FOR_BD) - set(pooled) == {"vmaf", "vmaf_neg"}  # from eval.vmaf
    assert set(m.AVM_NAMES) == set(m.METRICS_FOR_BD)


# --- AVM's BD-rate -------------------------------------------------------------------------------


def avm_reference(br1, q1, br2, q2):
    """AVM CalcBDRate.BD_RATE (CTC framework), transcribed for a metric without the VMAF
    filter: sort by quality, monotonicity check, log-rate, inf -> 100, drop repeated quality,
    PCHIP at 100 samples, trapezoid."""
    p1 = sorted(zip(br1, q1), key=lambda p: (p[1], p[0]))
    p2 = sorted(zip(br2, q2), key=lambda p: (p[1], p[0]))
    for p in (p1, p2):
        br, q = [x[0] for x in p], [x[1] for x in p]
        if not (all(a <= b for a, b in zip(br, br[1:])) and all(a <= b for a, b in zip(q, q[1:]))):
            return None
    lb1, m1 = [math.log(x[0]) for x in p1], [100.0 if x[1] == float("inf") else x[1] for x in p1]
    lb2, m2 = [math.log(x[0]) for x in p2], [100.0 if x[1] == float("inf") else x[1] for x in p2]
    for mm, lb in ((m1, lb1), (m2, lb2)):
        for idx in sorted([i for i in range(1, len(mm)) if mm[i - 1] == mm[i]], reverse=True):
            del mm[idx]
            del lb[idx]
    lo, hi = max(min(m1), min(m2)), min(max(m1), max(m2))
    samples, interval = np.linspace(lo, hi, num=100, retstep=True)
    v1 = scipy.interpolate.pchip_interpolate(m1, lb1, samples)
    v2 = scipy.interpolate.pchip_interpolate(m2, lb2, samples)
    trapz = getattr(np, "trapezoid", None) or np.trapz
    avg = (trapz(v2, dx=interval) - trapz(v1, dx=interval)) / (hi - lo)
    return round((math.exp(avg) - 1) * 100, 4)


# AVM CalcBDRate.py's own example curves (its __main__ block): rates and PSNR.
AVM_BR1 = [9563.04, 6923.28, 4894.8, 3304.32, 2108.4, 1299.84]
AVM_Q1 = [50.0198, 46.9709, 43.4791, 39.6659, 35.8063, 32.3055]
AVM_BR2 = [9758.88, 7111.68, 5073.36, 3446.4, 2178, 1306.56]
AVM_Q2 = [49.6767, 46.7027, 43.2038, 39.297, 35.2944, 31.5938]


def test_avm_bd_rate_matches_avms_algorithm():
    assert avm_bd_rate(AVM_BR1, AVM_Q1, AVM_BR2, AVM_Q2) == avm_reference(AVM_BR1, AVM_Q1, AVM_BR2, AVM_Q2)
    rng = np.random.default_rng(2)
    for _ in range(20):
        q1 = np.sort(rng.uniform(30, 50, 6))
        q2 = np.sort(rng.uniform(30, 50, 6))
        br1 = np.sort(rng.uniform(100, 10000, 6))
        br2 = np.sort(rng.uniform(100, 10000, 6))
        assert avm_bd_rate(br1, q1, br2, q2) == avm_reference(list(br1), list(q1), list(br2), list(q2))


def test_avm_bd_rate_agrees_with_the_exact_pchip_integral():
    # Trapezoid on 100 samples vs PCHIP's exact integral: a few 1e-3 percent apart.
    assert avm_bd_rate(AVM_BR1, AVM_Q1, AVM_BR2, AVM_Q2) == pytest.approx(
        bd_rate(AVM_BR1, AVM_Q1, AVM_BR2, AVM_Q2, "pchip"), abs=0.01
    )
    assert avm_bd_rate(AVM_BR1, AVM_Q1, [r * 1.1 for r in AVM_BR1], AVM_Q1) == pytest.approx(10.0, abs=1e-9)
    assert bd_rate(AVM_BR1, AVM_Q1, [r * 0.8 for r in AVM_BR1], AVM_Q1, "avm") == pytest.approx(-20.0, abs=1e-9)


def test_avm_bd_rate_refusals():
    non_monotonic = [50.0, 46.0, 43.0, 48.0, 35.0, 32.0]
    with pytest.raises(BDRateError, match="^Error: Non-monotonic$"):
        avm_bd_rate(AVM_BR1, non_monotonic, AVM_BR2, AVM_Q2)
    with pytest.raises(BDRateError, match="no overlap"):
        avm_bd_rate(AVM_BR1, AVM_Q1, AVM_BR2, [q + 30 for q in AVM_Q2])
    assert math.isnan(bd_rate(AVM_BR1, AVM_Q1, AVM_BR2, [q + 30 for q in AVM_Q2], "avm"))
    with pytest.raises(BDRateError, match="Invalid Input Data"):
        avm_bd_rate([*AVM_BR1[:-1], 0.0], AVM_Q1, AVM_BR2, AVM_Q2)  # log(0), checked after monotonicity


def test_avm_bd_rate_treats_inf_as_100_and_keeps_the_first_of_equal_qualities():
    q1 = [math.inf, *AVM_Q1[1:]]  # lossless at the top rate
    assert avm_bd_rate(AVM_BR1, q1, AVM_BR2, AVM_Q2) == avm_reference(AVM_BR1, q1, AVM_BR2, AVM_Q2)
    q2 = [AVM_Q2[0], AVM_Q2[0], *AVM_Q2[2:]]  # two points at one quality: the cheaper stays
    assert avm_bd_rate(AVM_BR1, AVM_Q1, AVM_BR2, q2) == avm_reference(AVM_BR1, AVM_Q1, AVM_BR2, q2)


def test_avm_vmaf_filter_drops_points_past_saturation():
    # AVM's __main__ example VMAF curves: the anchor drops from 99.5 to 98.48 as the rate rises.
    q1 = [99.8198, 99.7709, 98.4791, 99.5000, 98.8063, 98.3055]
    q2 = [99.8767, 99.7027, 99.2038, 99.200, 98.2944, 97.5938]
    with pytest.raises(BDRateError, match="Non-monotonic"):
        avm_bd_rate(AVM_BR1, q1, AVM_BR2, q2)  # not a VMAF metric: no filter
    # as VMAF, the anchor keeps its points up to 99.5 (the three lowest rates)
    got = avm_bd_rate(AVM_BR1, q1, AVM_BR2, q2, metric="vmaf")
    assert got == avm_reference(AVM_BR1[3:], q1[3:], AVM_BR2, q2)
    assert avm_bd_rate(AVM_BR1, q1, AVM_BR2, q2, metric="VMAF_Y-NEG") == got


# --- conditions ------------------------------------------------------------------------------


def test_ctc_rate_points_and_frame_counts():
    assert ctc.QINDEX_POINTS["AI"] == (85, 110, 135, 160, 185, 210)
    assert ctc.QINDEX_POINTS["RA"] == (110, 135, 160, 185, 210, 235)
    assert all(len(p) == 6 for p in ctc.QINDEX_POINTS.values())
    assert ctc.frame_count("AI") == 30 and ctc.frame_count("RA") == 130
    with pytest.raises(ctc.ConditionsError, match="config must be one of"):
        ctc.frame_count("XX")


@pytest.mark.parametrize(
    "width, height, screen, expected",
    [
        (3840, 2160, False, "A1"),
        (1920, 1080, False, "A2"),
        (1080, 1920, False, "A2"),
        (1280, 720, False, "A3"),
        (640, 360, False, "A4"),
        (270, 480, False, "A5"),
        (1920, 1080, True, "B2"),
        (1366, 768, False, None),
        (352, 288, False, None),
    ],
)
def test_ctc_class(width, height, screen, expected):
    assert ctc.ctc_class(width, height, screen) == expected


def test_qindex_to_aomenc_cq_level():
    assert ctc.cq_level_for_qindex(160) == 40 and ctc.cq_level_for_qindex(249) == 62
    with pytest.raises(ctc.ConditionsError, match="qindex 85 is not reachable with aomenc"):
        ctc.cq_level_for_qindex(85)
    nearest = [ctc.cq_level_for_qindex(q, exact=False) for q in ctc.QINDEX_POINTS["AI"]]
    assert nearest == [21, 27, 34, 40, 46, 52]  # 110 and 210 tie: the finer quantizer wins
    assert [ctc.AOMENC_QINDICES[c] for c in nearest] == [84, 108, 136, 160, 184, 208]
    assert ctc.AOMENC_QINDICES[-3:] == (244, 249, 255) and len(ctc.AOMENC_QINDICES) == 64


def test_libaom_anchor_args():
    ai = ctc.libaom_anchor_args("AI", 23)
    assert "--cq-level=23" in ai and "--kf-max-dist=0" in ai and "--cpu-used=0" in ai and "--bit-depth=8" in ai
    ra = ctc.libaom_anchor_args("RA", 31, sequence_class="A2")
    assert {"--kf-max-dist=65", "--lag-in-frames=19", "--gf-max-pyr-height=4", "--bit-depth=10"} <= set(ra)
    with pytest.raises(ctc.ConditionsError, match="cq-level must be within 0..63, not 85"):
        ctc.libaom_anchor_args("AI", 85)


# --- a prepared source ---------------------------------------------------------------------------


def test_a_source_frame_scores_exactly_like_its_planes_and_keeps_its_side(pair):
    src = tuple(np.ascontiguousarray(p[: 256 // s, : 256 // s]) for p, s in zip(pair[0], (1, 2, 2)))
    prepared = m.SourceFrame(src, 8)
    decodes = [distorted(src, seed=9), distorted(src, seed=10, k=2)]
    expected = [m.frame_metrics(d, src, 8) for d in decodes]
    for index in (0, 1, 0):  # the third reuses everything cached by the first two
        assert m.frame_metrics(decodes[index], prepared, 8) == expected[index]
    assert {("ssim", 4), ("hvs", 2), "lab"} <= set(prepared._cache)
    with pytest.raises(m.MetricError, match="plane U must be a 2-D numpy array"):
        m.SourceFrame((src[0], src[1].ravel(), src[2]), 8)
