"""extract = encode with the real aomenc -> inspect -> partition trees -> HDF5, per QP."""

from __future__ import annotations

import os
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from av1tools import __version__
from av1tools.extract.aom import AomTools, EncodeSettings, encode_and_inspect, encoder_version
from av1tools.extract.dataset import DatasetWriter, frame_node_columns
from av1tools.extract.inspect import frame_grid
from av1tools.extract.sequences import file_sha256, open_sequence
from av1tools.extract.y4m import Y4MReader
from av1tools.partition import mi_grid_shape

Progress = Callable[[str, int, int], None]  # (label, frames done, frames total)


@dataclass(frozen=True)
class ExtractResult:
    dataset: Path
    bitstream: Path
    skipped: bool  # already there from an earlier run
    encode_seconds: float = 0.0
    total_seconds: float = 0.0


def output_stem(name: str, settings: EncodeSettings) -> str:
    return f"{name}_{settings.tag()}"


def _temp_path(final: Path) -> Path:
    # Hidden and pid-tagged: never mistaken for a finished file, never shared by two runs.
    return final.with_name(f".{final.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")


def sequence_attrs(tools: AomTools, name: str, reader: Y4MReader) -> dict:
    """Attributes shared by every dataset of one sequence."""
    return {
        "sequence": name, "sequence_path": str(reader.path),
        "sequence_sha256": file_sha256(reader.path),
        "width": reader.width, "height": reader.height, "bit_depth": reader.bit_depth,
        "fps": float(reader.header.fps),
        "encoder": "libaom", "encoder_version": encoder_version(tools),
    }


def extract_one(tools: AomTools, name: str, reader: Y4MReader, settings: EncodeSettings,
                out_dir: Path, progress: Progress | None = None,
                shared_attrs: Callable[[], dict] | None = None) -> ExtractResult:
    """Encode one (sequence, settings) and write its dataset, atomically.

    ``shared_attrs`` is asked for only after the encode, so hashing the sequence can
    run on the other core while the (single-threaded) encoder works."""
    stem = output_stem(name, settings)
    final_h5, final_ivf = out_dir / f"{stem}.h5", out_dir / f"{stem}.ivf"
    if final_h5.exists() and final_ivf.exists():
        return ExtractResult(final_h5, final_ivf, skipped=True)
    start = time.perf_counter()
    frames = settings.frames or len(reader)
    label = f"{name} q{settings.cq_level}"
    tmp_ivf, tmp_h5 = _temp_path(final_ivf), _temp_path(final_h5)
    try:
        encode, records = encode_and_inspect(
            tools, settings, reader.path, tmp_ivf, reader.bit_depth,
            on_frame=(lambda n: progress(label, n, frames)) if progress else None)
        writer = DatasetWriter(tmp_h5, settings.sb_size, reader.header.dtype,
                               mi_grid_shape(reader.width, reader.height))
        try:
            for i, (record, coded) in enumerate(records):
                grid = frame_grid(record, coded, i)
                if grid.show_frame:
                    nodes = frame_node_columns(grid, settings.sb_size, reader.width, reader.height)
                    writer.add_frame(grid, nodes, reader.read_luma(grid.display_index))
                else:  # hidden frames: kept in frames/, no source frame to label
                    writer.add_frame(grid, None, None)
            enc = encode.result
            assert enc is not None
            command = [str(final_ivf) if a == str(tmp_ivf) else a for a in enc.command]
            attrs = (shared_attrs or (lambda: sequence_attrs(tools, name, reader)))()
            writer.set_attrs(attrs | {
                "frames": frames, "encoder_command": shlex.join(command),
                "cq_level": settings.cq_level, "cpu_used": settings.cpu_used, "mode": settings.mode,
                "sb_size": settings.sb_size, "threads": settings.threads,
                "bitstream": final_ivf.name, "bitstream_bytes": tmp_ivf.stat().st_size,
                "encode_wall_seconds": enc.wall_seconds, "encode_cpu_seconds": enc.cpu_seconds,
                "av1tools_version": __version__,
            })
        finally:
            writer.close()
        os.replace(tmp_ivf, final_ivf)
        os.replace(tmp_h5, final_h5)  # last: the .h5 marks the pair complete
    finally:
        tmp_ivf.unlink(missing_ok=True)
        tmp_h5.unlink(missing_ok=True)
    return ExtractResult(final_h5, final_ivf, False, enc.wall_seconds,
                         time.perf_counter() - start)


def extract(tools: AomTools, seq: str, out_dir: Path, qps: list[int], base: EncodeSettings,
            workers: int = 1, progress: Progress | None = None) -> list[ExtractResult]:
    """One dataset per QP for sequence ``seq`` (a path or a sample name)."""
    name, reader = open_sequence(seq)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = min(base.frames or len(reader), len(reader))
    jobs = [replace(base, cq_level=q, frames=frames) for q in qps]
    background = ThreadPoolExecutor(max_workers=1)
    shared = background.submit(sequence_attrs, tools, name, reader)

    def run(settings: EncodeSettings) -> ExtractResult:
        # Each job opens its own reader: file handles are not shared across threads.
        with Y4MReader(reader.path) as r:
            return extract_one(tools, name, r, settings, out_dir, progress, shared.result)

    try:
        if workers <= 1 or len(jobs) == 1:
            return [run(j) for j in jobs]
        with ThreadPoolExecutor(max_workers=workers) as pool:  # the work is in aomenc
            return list(pool.map(run, jobs))
    finally:
        background.shutdown()
        reader.close()
