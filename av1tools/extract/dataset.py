"""The partition-labelled HDF5 dataset: the one module that writes and reads it.

Layout (docs/dataset.md is the contract): root attributes describe the sequence and encode;
``blocks/SxS`` holds one row per square node of that size, of every coded frame (hidden
alt-refs included); ``frames`` holds one row per coded frame with its place in the group
structure, its references and its whole block-size grid, so every tree can be rebuilt.
Readers go through ``open_dataset``, which checks the schema and gives typed attributes;
it reads v2 files too, with the columns v3 added at their v2 values.
"""

from __future__ import annotations

import errno
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from av1tools.extract.inspect import FrameGrid
from av1tools.partition import MI_SIZE, NODE_SIZES, PARTITION_NAMES, frame_nodes
from av1tools.paths import no_space

# v2: blocks/*/display_index (v1: frame), build and source provenance. v3: every coded
# frame labelled (hidden alt-refs too, with the pixels the encoder coded), blocks/*/
# decode_index, frames/ hidden, order_hint, update_type, pyramid_level, ref_display,
# source_psnr.
SCHEMA_VERSION = 3
OLDEST_SCHEMA = 2  # still read; v1 files are refused
FLUSH_BYTES = 32 << 20  # written in batches while the encoder still runs
NODE_FIELDS = {  # name -> dtype, one value per node
    "partition": np.uint8,
    "display_index": np.int32,
    "decode_index": np.int32,  # v3: the coded frame's row in frames/ (unique with x, y)
    "x": np.int32,
    "y": np.int32,
    "qindex": np.uint8,
    "frame_type": np.uint8,
    "inside": np.bool_,
}
NODE_FIELDS_V2 = tuple(n for n in NODE_FIELDS if n != "decode_index")
REFS = 7  # LAST..ALTREF
FRAME_COLUMNS = {  # name -> dtype, one value per coded frame (block_size and ref_display: arrays)
    "decode_index": np.int32,
    "display_index": np.int32,
    "base_qindex": np.int32,
    "frame_type": np.uint8,
    "show_frame": np.uint8,
    "hidden": np.uint8,
    "order_hint": np.int32,
    "update_type": np.int8,
    "pyramid_level": np.int8,
    "source_psnr": np.float32,
}
FRAME_FIELDS = (*FRAME_COLUMNS, "ref_display", "block_size")
FRAME_FIELDS_V2 = ("decode_index", "display_index", "base_qindex", "frame_type", "show_frame", "block_size")
KF_UPDATE = 0  # libaom's update type of a key frame (av1tools.encoder.UPDATE_TYPES)


class DatasetError(ValueError):
    """A file that is not a readable, complete av1tools dataset; the message names it."""


def node_group(size: int) -> str:
    return f"blocks/{size}x{size}"


@dataclass
class FrameNodes:
    """The nodes of one coded frame, per node size, as column arrays."""

    columns: dict[int, dict[str, np.ndarray]]


@dataclass(frozen=True)
class FrameRow:
    """One coded frame's row of ``frames/`` (besides its block-size grid)."""

    decode_index: int
    display_index: int  # the source frame it stands for (an alt-ref: the one it is shown as)
    show_frame: bool
    frame_type: int
    base_qindex: int
    order_hint: int = -1  # the frame header's (inspect's "frame"); -1 unknown
    update_type: int = -1  # libaom's gf-group update type (UPDATE_TYPES); -1 unknown
    pyramid_level: int = -1  # the gf group's layer depth; -1 unknown
    ref_display: tuple[int, ...] = (-1,) * REFS  # LAST..ALTREF display indices; -1 none
    source_psnr: float = float("inf")  # PSNR-Y of the pixels coded against the source frame


def frame_node_columns(
    grid: FrameGrid, sb_size: int, width: int, height: int, display_index: int | None = None
) -> FrameNodes:
    """Every node of a coded frame's trees as columns (``display_index``: the frame's, where
    the grid does not know it)."""
    display = grid.display_index if display_index is None else display_index
    rows: dict[int, list[tuple]] = {}
    for n in frame_nodes(grid.block_size, sb_size):
        rows.setdefault(n.size, []).append((n.partition, n.x, n.y))
    columns = {}
    for size, items in rows.items():
        arr = np.asarray(items, dtype=np.int32).reshape(-1, 3)
        x, y = arr[:, 1], arr[:, 2]
        columns[size] = {
            "partition": arr[:, 0].astype(np.uint8),
            "display_index": np.full(len(arr), display, dtype=np.int32),
            "decode_index": np.full(len(arr), grid.decode_index, dtype=np.int32),
            "x": x,
            "y": y,
            "qindex": grid.qindex[y // MI_SIZE, x // MI_SIZE].astype(np.uint8),
            "frame_type": np.full(len(arr), grid.frame_type, dtype=np.uint8),
            "inside": (x + size <= width) & (y + size <= height),
        }
    return FrameNodes(columns)


def node_pixels(luma: np.ndarray, xs: np.ndarray, ys: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size) luma blocks at (xs, ys); samples past the frame edge repeat the last
    row/column, as the encoder's own border extension does."""
    h, w = luma.shape
    pad_y = max(0, int(ys.max(initial=0)) + size - h)
    pad_x = max(0, int(xs.max(initial=0)) + size - w)
    padded = np.pad(luma, ((0, pad_y), (0, pad_x)), mode="edge") if pad_y or pad_x else luma
    out = np.empty((len(xs), size, size), dtype=luma.dtype)
    for i, (x, y) in enumerate(zip(xs, ys)):
        out[i] = padded[y : y + size, x : x + size]
    return out


def _no_space(e: BaseException) -> bool:
    return getattr(e, "errno", None) == errno.ENOSPC or "No space left" in str(e)


class DatasetWriter:
    """Builds a dataset in memory (HDF5's core driver) and writes the finished file in one
    go: a full disk then fails one plain write with ENOSPC, which is reported cleanly,
    instead of failing deep inside HDF5's chunk cache (which crashed the process)."""

    def __init__(self, path: Path, sb_size: int, pixel_dtype: np.dtype, mi_shape: tuple[int, int]):
        self.path = Path(path)
        self.file = h5py.File(f"{self.path.name}-{id(self)}", "w", driver="core", backing_store=False)
        self.file.attrs["schema_version"] = SCHEMA_VERSION
        self.sizes = [s for s in NODE_SIZES if s <= sb_size]
        for size in self.sizes:
            g = self.file.create_group(node_group(size))
            chunk = max(1, min(1024, (64 << 10) // (size * size)))  # ~64 KB: cheap random reads
            g.create_dataset(
                "pixels",
                shape=(0, size, size),
                maxshape=(None, size, size),
                dtype=pixel_dtype,
                chunks=(chunk, size, size),
                compression="gzip",
                compression_opts=1,
                shuffle=True,
            )
            for name, dtype in NODE_FIELDS.items():
                g.create_dataset(
                    name,
                    shape=(0,),
                    maxshape=(None,),
                    dtype=dtype,
                    chunks=(4096,),
                    compression="gzip",
                    compression_opts=1,
                )
        f = self.file.create_group("frames")
        for name, dtype in FRAME_COLUMNS.items():
            f.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(256,))
        f.create_dataset("ref_display", shape=(0, REFS), maxshape=(None, REFS), dtype=np.int32, chunks=(256, REFS))
        f.create_dataset(
            "block_size",
            shape=(0, *mi_shape),
            maxshape=(None, *mi_shape),
            dtype=np.uint8,
            chunks=(1, *mi_shape),
            compression="gzip",
            compression_opts=1,
        )
        self.pending: dict[str, list[np.ndarray]] = {}
        self.pending_bytes = 0

    def set_attrs(self, attrs: dict[str, Any]) -> None:
        for key, value in attrs.items():
            self.file.attrs[key] = value

    def _queue(self, name: str, values: np.ndarray) -> None:
        self.pending.setdefault(name, []).append(values)
        self.pending_bytes += values.nbytes

    def add_frame(
        self, row: FrameRow, block_size: np.ndarray, nodes: FrameNodes | None, luma: np.ndarray | None
    ) -> None:
        """Queue one coded frame and its nodes (None: a frame without labels, a hidden one
        of an encoder that cannot say what it coded); written in batches, since growing
        many HDF5 datasets per frame costs more than the frame."""
        values = {name: getattr(row, name) for name in FRAME_COLUMNS if name != "hidden"}
        values["hidden"] = not row.show_frame
        for name, dtype in FRAME_COLUMNS.items():
            self._queue(f"frames/{name}", np.asarray([values[name]], dtype=dtype))
        self._queue("frames/ref_display", np.asarray([row.ref_display], dtype=np.int32).reshape(1, REFS))
        self._queue("frames/block_size", block_size[None])
        if nodes is not None and luma is not None:
            for size, cols in nodes.columns.items():
                g = node_group(size)
                for name, values in cols.items():
                    self._queue(f"{g}/{name}", values)
                self._queue(f"{g}/pixels", node_pixels(luma, cols["x"], cols["y"], size))
        if self.pending_bytes > FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        for name, parts in self.pending.items():
            ds = self.file[name]
            values = np.concatenate(parts)
            n = ds.shape[0]
            ds.resize(n + len(values), axis=0)
            ds[n:] = values
        self.pending.clear()
        self.pending_bytes = 0

    def finish(self) -> None:
        """Write the file to ``path`` (the caller's temp path; it renames it when done)."""
        self.flush()
        self.file.flush()
        image = self.file.id.get_file_image()
        self.close()
        try:
            with open(self.path, "wb") as out:
                out.write(image)
        except OSError as e:
            self.path.unlink(missing_ok=True)
            if _no_space(e):
                raise no_space(self.path.parent, f"{len(image) / 1e6:.1f} MB to write") from None
            raise

    def close(self) -> None:
        if self.file.id.valid:
            self.file.close()


# ---------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class DatasetAttrs:
    """The root attributes every complete dataset carries (docs/dataset.md)."""

    schema_version: int
    sequence: str
    group: str  # sequences of one group stay on one side of a train/val split
    sequence_path: str
    sequence_sha256: str
    width: int
    height: int
    bit_depth: int
    fps: float
    frames: int
    cq_level: int
    cpu_used: int
    mode: str
    sb_size: int
    threads: int
    encoder_version: str
    encoder_build: str
    encoder_command: str
    bitstream: str
    bitstream_bytes: int
    bitstream_sha256: str
    av1tools_version: str

    @property
    def max_value(self) -> float:
        return float((1 << self.bit_depth) - 1)

    @property
    def settings(self) -> dict[str, Any]:
        """What the encode depended on besides the source: a rerun with other values is
        another dataset."""
        return {k: getattr(self, k) for k in ("frames", "cq_level", "cpu_used", "mode", "sb_size")}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value


def _typed_attrs(path: Path, raw: dict[str, Any]) -> DatasetAttrs:
    values = {}
    for f in fields(DatasetAttrs):
        if f.name not in raw:
            raise DatasetError(f"{path}: not a complete av1tools dataset (no attribute {f.name!r})")
        cast = {"int": int, "float": float, "str": str}[f.type]
        try:
            values[f.name] = cast(_plain(raw[f.name]))
        except (TypeError, ValueError):
            raise DatasetError(f"{path}: attribute {f.name!r} has an unreadable value") from None
    return DatasetAttrs(**values)


class DatasetFile:
    """An open, checked dataset (read-only). Use as a context manager."""

    def __init__(self, path: Path, file: h5py.File, attrs: DatasetAttrs):
        self.path = path
        self.file = file
        self.attrs = attrs

    @property
    def node_sizes(self) -> list[int]:
        return [s for s in NODE_SIZES if node_group(s) in self.file]

    def column(self, size: int, name: str) -> np.ndarray:
        """One per-node column of ``blocks/SxS`` (a DatasetError names a broken file); a v2
        file's ``decode_index`` is derived (its nodes are all of shown frames)."""
        if name == "decode_index" and self.attrs.schema_version < 3:
            return self._v2_decode_index(size)
        try:
            return self.file[node_group(size)][name][:]
        except (KeyError, OSError) as e:
            raise DatasetError(f"{self.path}: cannot read {node_group(size)}/{name} ({_reason(e)})") from None

    def _frame_column(self, name: str) -> np.ndarray:
        """One column of ``frames/`` (not the grids: cheap)."""
        try:
            return self.file["frames"][name][:]
        except (KeyError, OSError) as e:
            raise DatasetError(f"{self.path}: cannot read frames/{name} ({_reason(e)})") from None

    def _v2_decode_index(self, size: int) -> np.ndarray:
        shown = self._frame_column("show_frame").astype(bool)
        display, decode = self._frame_column("display_index"), self._frame_column("decode_index")
        by_display = dict(zip(display[shown].tolist(), decode[shown].tolist()))
        display = self.column(size, "display_index")
        try:
            return np.asarray([by_display[int(d)] for d in display], dtype=np.int32).reshape(len(display))
        except KeyError as e:
            raise DatasetError(f"{self.path}: a node of frame {e.args[0]} has no row in frames/") from None

    def shown(self, size: int) -> np.ndarray:
        """Per node of ``blocks/SxS``: whether its frame is shown (False: a hidden alt-ref,
        whose nodes share display indices with the frames shown there)."""
        shown = self._frame_column("show_frame").astype(bool)
        return shown[self.column(size, "decode_index")]

    def pixels(self, size: int, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        try:
            return self.file[node_group(size)]["pixels"][rows]
        except (KeyError, OSError) as e:
            raise DatasetError(f"{self.path}: cannot read {node_group(size)}/pixels ({_reason(e)})") from None

    def frames_table(self) -> dict[str, np.ndarray]:
        """``frames/`` as columns; a v2 file's v3 columns at their v2 values: ``hidden`` from
        ``show_frame``, key frames' order hint 0, update type KF and pyramid level 0 (-1,
        unknown, for other frames), references -1, ``source_psnr`` inf (v2 stored the
        source's pixels)."""
        try:
            table = {k: v[:] for k, v in self.file["frames"].items()}
        except (KeyError, OSError) as e:
            raise DatasetError(f"{self.path}: cannot read frames/ ({_reason(e)})") from None
        if self.attrs.schema_version < 3 and "show_frame" in table and "frame_type" in table:
            key = table["frame_type"] == 0
            n = len(key)
            table.setdefault("hidden", (table["show_frame"] == 0).astype(np.uint8))
            table.setdefault("order_hint", np.where(key, 0, -1).astype(np.int32))
            table.setdefault("update_type", np.where(key, KF_UPDATE, -1).astype(np.int8))
            table.setdefault("pyramid_level", np.where(key, 0, -1).astype(np.int8))
            table.setdefault("ref_display", np.full((n, REFS), -1, np.int32))
            table.setdefault("source_psnr", np.full(n, np.inf, np.float32))
        return table

    def _lumas(self, key: np.ndarray, rows: np.ndarray) -> dict[int, np.ndarray]:
        sb = self.attrs.sb_size
        xs, ys = self.column(sb, "x"), self.column(sb, "y")
        pixels = self.pixels(sb)
        out = {}
        for index in np.unique(key[rows]):
            sel = np.flatnonzero(rows & (key == index))
            canvas = np.zeros((int(ys[sel].max()) + sb, int(xs[sel].max()) + sb), dtype=pixels.dtype)
            for i in sel:
                canvas[ys[i] : ys[i] + sb, xs[i] : xs[i] + sb] = pixels[i]
            out[int(index)] = canvas[: self.attrs.height, : self.attrs.width]
        return out

    def frame_lumas(self) -> dict[int, np.ndarray]:
        """Every shown frame's luma (by display index), re-assembled from its superblock
        nodes' pixels (hidden frames left out: see ``coded_lumas``)."""
        sb = self.attrs.sb_size
        return self._lumas(self.column(sb, "display_index"), self.shown(sb))

    def coded_lumas(self) -> dict[int, np.ndarray]:
        """Every labelled coded frame's luma as the encoder coded it, by decode index."""
        sb = self.attrs.sb_size
        decode = self.column(sb, "decode_index")
        return self._lumas(decode, np.ones(len(decode), bool))

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> DatasetFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _reason(e: BaseException) -> str:
    """HDF5's words for a failure, without its wrapping: "Unable to open object (object 'x'
    doesn't exist)" gives "object 'x' doesn't exist". A KeyError's str() is the repr of its
    message (quoted), so its message is taken from args."""
    text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    lines = text.strip().splitlines()
    if not lines:
        return type(e).__name__
    line = lines[0].strip()
    start = line.find("(")
    return line[start + 1 : -1].strip() if start >= 0 and line.endswith(")") else line


def incomplete_parts(ds: DatasetFile) -> list[str]:
    """What of a complete shard ``ds`` lacks: each dataset extract writes that is missing,
    each group whose datasets disagree in length (a shard edited or cut short by hand)."""
    problems = []
    v3 = ds.attrs.schema_version >= 3
    node_fields = NODE_FIELDS if v3 else NODE_FIELDS_V2
    groups = {node_group(s): ("pixels", *node_fields) for s in NODE_SIZES if s <= ds.attrs.sb_size}
    groups["frames"] = FRAME_FIELDS if v3 else FRAME_FIELDS_V2
    for group, names in groups.items():
        lengths = set()
        for name in names:
            item = ds.file.get(f"{group}/{name}")
            if isinstance(item, h5py.Dataset) and item.shape:
                lengths.add(item.shape[0])
            else:
                problems.append(f"{group}/{name}")
        if len(lengths) > 1:
            problems.append(f"{group} (datasets of unequal length)")
    return problems


def open_dataset(path: str | Path) -> DatasetFile:
    """Open an av1tools dataset read-only, with a one-line DatasetError for anything else."""
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"{path}: is a directory, not a dataset file")
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DatasetError(f"{path}: not a readable HDF5 file ({_reason(e)})") from None
    try:
        version = f.attrs.get("schema_version")
        if version is None:
            raise DatasetError(f"{path}: not an av1tools dataset (no schema_version)")
        if int(version) > SCHEMA_VERSION:
            raise DatasetError(
                f"{path}: schema v{version} is newer than this av1tools reads (v{SCHEMA_VERSION}); upgrade av1tools"
            )
        if int(version) < OLDEST_SCHEMA:
            raise DatasetError(
                f"{path}: schema v{version} is older than this av1tools reads (v{OLDEST_SCHEMA}..v{SCHEMA_VERSION}); "
                "extract it again"
            )
        attrs = _typed_attrs(path, dict(f.attrs))
        if node_group(attrs.sb_size) not in f or "frames" not in f:
            raise DatasetError(f"{path}: not a complete av1tools dataset (no {node_group(attrs.sb_size)} or frames)")
    except BaseException:
        f.close()
        raise
    return DatasetFile(path, f, attrs)


@dataclass(frozen=True)
class DatasetSummary:
    path: Path
    attrs: DatasetAttrs
    counts: dict[int, Counter]  # node size -> partition type -> count
    border: dict[int, int]  # node size -> nodes crossing the frame edge

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "attrs": self.attrs.__dict__,
            "nodes": {
                f"{s}x{s}": {
                    "total": sum(c.values()),
                    "border": self.border[s],
                    "partition": {PARTITION_NAMES[p]: int(n) for p, n in sorted(c.items())},
                }
                for s, c in self.counts.items()
            },
        }


def read_summary(path: str | Path) -> DatasetSummary:
    with open_dataset(path) as ds:
        counts, border = {}, {}
        for size in ds.node_sizes:
            parts = ds.column(size, "partition")
            counts[size] = Counter(dict(enumerate(np.bincount(parts, minlength=len(PARTITION_NAMES)).tolist())))
            border[size] = int((~ds.column(size, "inside")).sum())
    return DatasetSummary(Path(path), ds.attrs, counts, border)


def format_summary(summary: DatasetSummary) -> str:
    a = summary.attrs
    lines = [
        f"{summary.path}",
        f"  sequence   {a.sequence}  {a.width}x{a.height} {a.bit_depth}-bit, {a.frames} frames "
        f"(sha256 {a.sequence_sha256[:12]})",
        f"  encoder    {a.encoder_build}  mode={a.mode} cq-level={a.cq_level} cpu-used={a.cpu_used} sb={a.sb_size}",
        f"  command    {a.encoder_command}",
        f"  schema     v{a.schema_version}, written by av1tools {a.av1tools_version}",
        "",
        "  node    total  border  " + " ".join(f"{n:>7}" for n in PARTITION_NAMES),
    ]
    for size, counts in summary.counts.items():
        total = sum(counts.values())
        lines.append(
            f"  {size:>3}x{size:<3} {total:>6}  {summary.border[size]:>6}  "
            + " ".join(f"{counts.get(p, 0):>7}" for p in range(len(PARTITION_NAMES)))
        )
    return "\n".join(lines)
