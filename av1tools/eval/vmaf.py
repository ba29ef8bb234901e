"""VMAF and VMAF-NEG through libvmaf itself, as the ffmpeg of the optional ``imageio-ffmpeg``
package carries it (``pip install 'av1tools[vmaf]'``).

VMAF is not reimplemented here: its features (VIF, ADM, motion) and models are libvmaf's, and
libvmaf is the implementation the AOM CTC runs. The motion feature compares each frame with
its predecessor, so VMAF is scored per sequence (:func:`vmaf_scores`), not per frame. Without
the package every entry point raises a one-line MetricError saying how to install it.

:func:`libvmaf_scores` runs any libvmaf features; the tests and benchmarks/validate_metrics.py
use it with :data:`CTC_FEATURES` to check av1tools.eval.metrics against libvmaf.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import numpy as np

from av1tools.eval.metrics import BIT_DEPTHS, MetricError, Planes

# libvmaf's built-in models the CTC names (``--aom_ctc``: vmaf_v0.6.1 and vmaf_v0.6.1neg).
VMAF_MODELS: Mapping[str, str] = {"vmaf": "vmaf_v0.6.1", "vmaf_neg": "vmaf_v0.6.1neg"}
# The feature options of ``vmaf --aom_ctc v7.0`` (libvmaf tools/cli_parse.c), in libvmaf's
# own feature names: psnr_y/cb/cr, float_ssim, float_ms_ssim (both dB), psnr_hvs, ciede2000.
CTC_FEATURES = (
    "psnr=reduced_hbd_peak=true:enable_apsnr=true:min_sse=0.5",
    "ciede",
    "float_ssim=scale=1:enable_db=true:clip_db=true",
    "float_ms_ssim=enable_db=true:clip_db=true",
    "psnr_hvs",
)
INSTALL_HINT = "pip install 'av1tools[vmaf]' (imageio-ffmpeg, whose ffmpeg carries libvmaf)"


@cache
def _ffmpeg() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise MetricError(f"VMAF: imageio-ffmpeg is not installed; {INSTALL_HINT}") from None
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    filters = subprocess.run([exe, "-hide_banner", "-filters"], capture_output=True, text=True, check=False).stdout
    if " libvmaf " not in filters:
        raise MetricError(f"VMAF: the ffmpeg at {exe} was built without libvmaf; {INSTALL_HINT}")
    return exe


def libvmaf_unavailable() -> str | None:
    """Why libvmaf cannot run here, or None when it can."""
    try:
        _ffmpeg()
    except MetricError as e:
        return str(e)
    return None


def _y4m_header(width: int, height: int, bit_depth: int) -> bytes:
    colour = "C420jpeg" if bit_depth == 8 else f"C420p{bit_depth} XYSCSS=420P{bit_depth}"
    return f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 {colour}\n".encode()


def _write_y4m(path: Path, frames: Iterable[Planes], bit_depth: int) -> tuple[int, tuple[int, int]]:
    dtype = np.dtype(np.uint8 if bit_depth == 8 else "<u2")
    count, shape = 0, (0, 0)
    with open(path, "wb") as f:
        for planes in frames:
            if count == 0:
                shape = planes[0].shape
                f.write(_y4m_header(shape[1], shape[0], bit_depth))
            elif planes[0].shape != shape:
                raise MetricError(f"frame {count} is {planes[0].shape[::-1]}, frame 0 {shape[::-1]}")
            f.write(b"FRAME\n")
            for plane in planes:
                f.write(np.ascontiguousarray(plane, dtype=dtype).tobytes())
            count += 1
    return count, shape


def _escape(option: str) -> str:
    # Quoted, and with each feature's own ':' escaped, a value passes through both of ffmpeg's
    # parsing levels (filtergraph, then filter options) intact.
    return option.replace(":", r"\:")


def _feature_option(spec: str) -> str:
    # The vmaf tool's "psnr=opt=value:opt=value" is ffmpeg's "name=psnr:opt=value:opt=value".
    name, _, opts = spec.partition("=")
    return f"name={name}" + (f":{opts}" if opts else "")


def libvmaf_scores(
    decoded: Iterable[Planes],
    source: Iterable[Planes],
    bit_depth: int,
    models: Mapping[str, str] = VMAF_MODELS,
    features: Iterable[str] = (),
    threads: int = 2,
) -> tuple[list[dict[str, float]], dict[str, float]]:
    """Per-frame libvmaf outputs for a sequence, and libvmaf's aggregate values (APSNR).

    ``models`` maps output names to built-in model versions; ``features`` are extra libvmaf
    feature specs (``name=opt=value:...``). Frames are streamed to temporary y4m files."""
    if bit_depth not in BIT_DEPTHS:
        raise MetricError(f"bit depth must be one of {BIT_DEPTHS}, not {bit_depth!r}")
    exe = _ffmpeg()
    with tempfile.TemporaryDirectory(prefix="av1tools-vmaf-") as tmp:
        work = Path(tmp)
        n_dist, shape_dist = _write_y4m(work / "dist.y4m", decoded, bit_depth)
        n_ref, shape_ref = _write_y4m(work / "ref.y4m", source, bit_depth)
        if n_dist == 0 or n_dist != n_ref or shape_dist != shape_ref:
            raise MetricError(
                f"VMAF: {n_dist} decoded frames of {shape_dist[::-1]} against {n_ref} of {shape_ref[::-1]}"
            )
        options = [f"log_fmt=json:log_path={work / 'log.json'}:n_threads={max(1, threads)}"]
        if models:
            options.append("model='" + "|".join(_escape(f"version={v}:name={k}") for k, v in models.items()) + "'")
        features = list(features)
        if features:
            options.append("feature='" + "|".join(_escape(_feature_option(f)) for f in features) + "'")
        graph = f"[0:v][1:v]libvmaf={':'.join(options)}"
        cmd = [exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(work / "dist.y4m")]
        cmd += ["-i", str(work / "ref.y4m"), "-lavfi", graph, "-f", "null", "-"]
        run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if run.returncode != 0 or not (work / "log.json").exists():
            last = (run.stderr.strip().splitlines() or ["no message"])[-1]
            raise MetricError(f"VMAF: libvmaf failed on {shape_ref[1]}x{shape_ref[0]} frames: {last}")
        log = json.loads((work / "log.json").read_text())
    frames = [{k: float(v) for k, v in frame["metrics"].items()} for frame in log["frames"]]
    if len(frames) != n_ref:
        raise MetricError(f"VMAF: libvmaf scored {len(frames)} of {n_ref} frames")
    aggregate = {k: float(v) for k, v in log.get("aggregate_metrics", {}).items()}
    return frames, aggregate


def vmaf_scores(
    decoded: Iterable[Planes], source: Iterable[Planes], bit_depth: int, threads: int = 2
) -> list[dict[str, float]]:
    """Per-frame VMAF and VMAF-NEG (keys ``vmaf``, ``vmaf_neg``) of a decoded sequence; merge
    them into av1tools.eval.metrics' per-frame dicts before sequence_metrics."""
    frames, _ = libvmaf_scores(decoded, source, bit_depth, VMAF_MODELS, threads=threads)
    out = [{name: frame[name] for name in VMAF_MODELS} for frame in frames]
    if any(not math.isfinite(v) for f in out for v in f.values()):
        raise MetricError("VMAF: libvmaf returned a non-finite score")
    return out
