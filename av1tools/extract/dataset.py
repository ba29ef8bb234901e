"""The partition-labelled HDF5 dataset: writing it frame by frame, and reading its summary.

Layout (docs/dataset.md is the contract): root attributes describe the sequence and encode;
``blocks/SxS`` holds one row per square node of that size; ``frames`` holds one row per
coded frame with its whole block-size grid, so every tree can be rebuilt.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from av1tools.extract.inspect import FrameGrid
from av1tools.partition import MI_SIZE, NODE_SIZES, PARTITION_NAMES, frame_nodes

SCHEMA_VERSION = 1
FLUSH_BYTES = 32 << 20  # written in batches while the encoder still runs
NODE_FIELDS = {  # name -> dtype, one value per node
    "partition": np.uint8, "frame": np.int32, "x": np.int32, "y": np.int32,
    "qindex": np.uint8, "frame_type": np.uint8, "inside": np.bool_,
}


def node_group(size: int) -> str:
    return f"blocks/{size}x{size}"


@dataclass
class FrameNodes:
    """The nodes of one shown frame, per node size, as column arrays."""
    columns: dict[int, dict[str, np.ndarray]]


def frame_node_columns(grid: FrameGrid, sb_size: int, width: int, height: int) -> FrameNodes:
    rows: dict[int, list[tuple]] = {}
    for n in frame_nodes(grid.block_size, sb_size):
        rows.setdefault(n.size, []).append((n.partition, n.x, n.y))
    columns = {}
    for size, items in rows.items():
        arr = np.asarray(items, dtype=np.int32).reshape(-1, 3)
        x, y = arr[:, 1], arr[:, 2]
        columns[size] = {
            "partition": arr[:, 0].astype(np.uint8),
            "frame": np.full(len(arr), grid.display_index, dtype=np.int32),
            "x": x, "y": y,
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
        out[i] = padded[y:y + size, x:x + size]
    return out


class DatasetWriter:
    """Appends frames to a new HDF5 file (the caller writes to a temp path and renames)."""

    def __init__(self, path: Path, sb_size: int, pixel_dtype: np.dtype, mi_shape: tuple[int, int]):
        self.file = h5py.File(path, "w")
        self.file.attrs["schema_version"] = SCHEMA_VERSION
        self.sizes = [s for s in NODE_SIZES if s <= sb_size]
        for size in self.sizes:
            g = self.file.create_group(node_group(size))
            chunk = max(1, min(1024, (64 << 10) // (size * size)))  # ~64 KB: cheap random reads
            g.create_dataset("pixels", shape=(0, size, size), maxshape=(None, size, size),
                             dtype=pixel_dtype, chunks=(chunk, size, size),
                             compression="gzip", compression_opts=1, shuffle=True)
            for name, dtype in NODE_FIELDS.items():
                g.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype,
                                 chunks=(4096,), compression="gzip", compression_opts=1)
        f = self.file.create_group("frames")
        for name in ("decode_index", "display_index", "base_qindex"):
            f.create_dataset(name, shape=(0,), maxshape=(None,), dtype=np.int32, chunks=(256,))
        for name in ("frame_type", "show_frame"):
            f.create_dataset(name, shape=(0,), maxshape=(None,), dtype=np.uint8, chunks=(256,))
        f.create_dataset("block_size", shape=(0, *mi_shape), maxshape=(None, *mi_shape),
                         dtype=np.uint8, chunks=(1, *mi_shape), compression="gzip",
                         compression_opts=1)

        self.pending: dict[str, list[np.ndarray]] = {}
        self.pending_bytes = 0

    def set_attrs(self, attrs: dict[str, Any]) -> None:
        for key, value in attrs.items():
            self.file.attrs[key] = value

    def _queue(self, name: str, values: np.ndarray) -> None:
        self.pending.setdefault(name, []).append(values)
        self.pending_bytes += values.nbytes

    def add_frame(self, grid: FrameGrid, nodes: FrameNodes | None, luma: np.ndarray | None) -> None:
        """Queue one coded frame (``nodes``/``luma`` None for hidden frames); written in
        batches, since growing many HDF5 datasets per frame costs more than the frame."""
        for name, value in (("decode_index", grid.decode_index), ("display_index", grid.display_index),
                            ("base_qindex", grid.base_qindex), ("frame_type", grid.frame_type),
                            ("show_frame", grid.show_frame)):
            self._queue(f"frames/{name}", np.asarray([value]))
        self._queue("frames/block_size", grid.block_size[None])
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

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.file.close()


@dataclass(frozen=True)
class DatasetSummary:
    path: Path
    attrs: dict[str, Any]
    counts: dict[int, Counter]  # node size -> partition type -> count
    border: dict[int, int]  # node size -> nodes crossing the frame edge

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "attrs": self.attrs,
            "nodes": {f"{s}x{s}": {"total": sum(c.values()), "border": self.border[s],
                                   "partition": {PARTITION_NAMES[p]: int(n) for p, n in sorted(c.items())}}
                      for s, c in self.counts.items()},
        }


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value


class DatasetError(ValueError):
    pass


def open_dataset(path: Path) -> h5py.File:
    """Open an av1tools dataset read-only, with a one-line error for anything else."""
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as e:
        raise DatasetError(f"{path}: not an HDF5 file ({str(e).split('(')[-1].rstrip(')')})") from None
    version = f.attrs.get("schema_version")
    if version is None:
        f.close()
        raise DatasetError(f"{path}: not an av1tools dataset (no schema_version)")
    if int(version) > SCHEMA_VERSION:
        f.close()
        raise DatasetError(f"{path}: schema v{version} is newer than this av1tools reads "
                           f"(v{SCHEMA_VERSION}); upgrade av1tools")
    return f


def read_summary(path: Path) -> DatasetSummary:
    with open_dataset(path) as f:
        attrs = {k: _plain(v) for k, v in f.attrs.items()}
        counts, border = {}, {}
        for size in NODE_SIZES:
            name = node_group(size)
            if name not in f:
                continue
            parts = f[name]["partition"][:]
            counts[size] = Counter(dict(enumerate(
                np.bincount(parts, minlength=len(PARTITION_NAMES)).tolist())))
            border[size] = int((~f[name]["inside"][:]).sum())
    return DatasetSummary(Path(path), attrs, counts, border)


def format_summary(summary: DatasetSummary) -> str:
    a = summary.attrs
    lines = [f"{summary.path}",
             f"  sequence   {a.get('sequence')}  {a.get('width')}x{a.get('height')} "
             f"{a.get('bit_depth')}-bit, {a.get('frames')} frames (sha256 {str(a.get('sequence_sha256'))[:12]})",
             f"  encoder    libaom {a.get('encoder_version')}  mode={a.get('mode')} "
             f"cq-level={a.get('cq_level')} cpu-used={a.get('cpu_used')} sb={a.get('sb_size')}",
             f"  command    {a.get('encoder_command')}",
             f"  schema     v{a.get('schema_version')}, written by av1tools {a.get('av1tools_version')}",
             "",
             "  node    total  border  " + " ".join(f"{n:>7}" for n in PARTITION_NAMES)]
    for size, counts in summary.counts.items():
        total = sum(counts.values())
        lines.append(f"  {size:>3}x{size:<3} {total:>6}  {summary.border[size]:>6}  "
                     + " ".join(f"{counts.get(p, 0):>7}" for p in range(len(PARTITION_NAMES))))
    return "\n".join(lines)

