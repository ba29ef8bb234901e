"""extract = encode with the real aomenc -> inspect -> partition trees -> HDF5, one shard per
(sequence, settings, cq-level), each a job (av1tools.jobs: inline, local processes or Dask).

A shard is finished when its ``.h5`` exists and says what it is: the source's checksum, the
settings, the encoder build; the ``.ivf`` beside it must match its recorded checksum. A rerun
skips finished shards, redoes unreadable or outdated ones, and refuses (by name) a finished
shard made from another source, settings or encoder, unless told to overwrite it.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from av1tools import __version__
from av1tools.extract.aom import (
    AomError,
    AomTools,
    EncoderBuild,
    EncodeSettings,
    encode_and_inspect,
    encoder_build,
    find_tools,
)
from av1tools.extract.dataset import DatasetError, DatasetWriter, frame_node_columns, open_dataset
from av1tools.extract.inspect import frame_grid
from av1tools.extract.manifest import update_manifest
from av1tools.extract.sequences import SequenceRef, resolve_sequence_set
from av1tools.extract.y4m import Y4MReader
from av1tools.jobs import Outcome, default_workers, run_jobs
from av1tools.partition import mi_grid_shape
from av1tools.paths import file_sha256, remove_stale_temps, temp_path

Progress = Callable[[str, int, int], None]  # (label, done, total)


class ExtractError(RuntimeError):
    """A shard that cannot be made or would overwrite a different finished one."""


@dataclass(frozen=True)
class ExtractConfig:
    """Everything ``extract`` depends on; the defaults are the CLI's."""

    sequences: tuple[str, ...]
    out: Path
    cq_levels: tuple[int, ...] = (32,)
    encode: EncodeSettings = field(default_factory=EncodeSettings)  # cq_level ignored
    jobs: int = field(default_factory=default_workers)  # shards encoded at once on this machine
    scheduler: str | None = None  # tcp://host:port of a dask.distributed scheduler
    skip_missing: bool = False  # a missing sequence is reported and skipped, not fatal
    overwrite: bool = False  # redo a finished shard made from another source/settings/encoder
    aom_dir: str | None = None


@dataclass(frozen=True)
class ShardJob:
    """One (sequence, settings, cq-level): everything a worker process needs."""

    sequence: SequenceRef
    source_sha256: str
    settings: EncodeSettings
    out_dir: Path
    aom_dir: str | None
    build: EncoderBuild  # the encoder the run was planned with; a worker must have the same
    overwrite: bool = False

    @property
    def stem(self) -> str:
        return f"{self.sequence.name}_{self.settings.tag()}"

    @property
    def dataset(self) -> Path:
        return self.out_dir / f"{self.stem}.h5"

    @property
    def bitstream(self) -> Path:
        return self.out_dir / f"{self.stem}.ivf"


@dataclass(frozen=True)
class ShardResult:
    dataset: Path
    bitstream: Path
    status: str  # "written", "kept" (finished earlier) or "redone" (earlier one unreadable/outdated)
    encode_seconds: float = 0.0
    total_seconds: float = 0.0


@dataclass(frozen=True)
class ExtractResult:
    shards: list[ShardResult]
    failed: list[str]  # one line per shard that failed twice
    skipped: list[str]  # sequences left out (skip_missing)
    manifest: Path | None

    def to_dict(self) -> dict:
        return {
            "shards": [
                {
                    "dataset": str(s.dataset),
                    "bitstream": str(s.bitstream),
                    "status": s.status,
                    "encode_seconds": round(s.encode_seconds, 3),
                    "total_seconds": round(s.total_seconds, 3),
                }
                for s in self.shards
            ],
            "failed": self.failed,
            "skipped": self.skipped,
            "manifest": str(self.manifest) if self.manifest else None,
        }


def shard_state(job: ShardJob) -> str:
    """``missing``, ``finished`` (matches the job), ``broken`` (unreadable, incomplete or an
    older schema: safe to redo) or a description of how a finished shard differs."""
    if not job.dataset.exists():
        return "missing"
    try:
        with open_dataset(job.dataset) as ds:
            a = ds.attrs
    except DatasetError:
        return "broken"
    if not job.bitstream.is_file() or job.bitstream.stat().st_size != a.bitstream_bytes:
        return "broken"
    want = {
        "frames": job.settings.frames,
        "cq_level": job.settings.cq_level,
        "cpu_used": job.settings.cpu_used,
        "mode": job.settings.mode,
        "sb_size": job.settings.sb_size,
    }
    if a.sequence_sha256 != job.source_sha256:
        return f"made from another source (sha256 {a.sequence_sha256[:12]}, now {job.source_sha256[:12]})"
    if a.settings != want:
        return f"made with other settings ({a.settings} vs {want})"
    if a.encoder_build != job.build.label:
        return f"made by another encoder ({a.encoder_build!r}, now {job.build.label!r})"
    return "finished"


def _check_build(tools: AomTools, job: ShardJob) -> None:
    build = encoder_build(tools)
    if build.label != job.build.label:
        raise AomError(
            f"{tools.aomenc}: {build.label}, but the run was planned with {job.build.label}; "
            "install the same libaom build on every worker"
        )


def extract_shard(job: ShardJob, progress: Progress | None = None) -> ShardResult:
    """Encode one (sequence, settings) and write its dataset and bitstream, atomically.
    Runs in any process: it finds the libaom tools itself and checks they are the build
    the run was planned with."""
    state = shard_state(job)
    if state == "finished":
        return ShardResult(job.dataset, job.bitstream, "kept")
    if state not in ("missing", "broken") and not job.overwrite:
        raise ExtractError(f"{job.dataset}: exists, {state}; use --overwrite to replace it")
    tools = find_tools(job.aom_dir)
    _check_build(tools, job)
    start = time.perf_counter()
    settings, ref = job.settings, job.sequence
    tmp_ivf, tmp_h5 = temp_path(job.bitstream), temp_path(job.dataset)
    try:
        with Y4MReader(ref.path) as reader:
            frames = settings.frames or len(reader)
            label = f"{ref.name} q{settings.cq_level}"
            encode, records = encode_and_inspect(
                tools,
                settings,
                reader.path,
                tmp_ivf,
                reader.bit_depth,
                on_frame=(lambda n: progress(label, n, frames)) if progress else None,
            )
            writer = DatasetWriter(
                tmp_h5, settings.sb_size, reader.header.dtype, mi_grid_shape(reader.width, reader.height)
            )
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
                command = [str(job.bitstream) if a == str(tmp_ivf) else a for a in enc.command]
                writer.set_attrs(
                    {
                        "sequence": ref.name,
                        "group": ref.group,
                        "sequence_path": str(Path(ref.path).resolve()),
                        "sequence_sha256": job.source_sha256,
                        "width": reader.width,
                        "height": reader.height,
                        "bit_depth": reader.bit_depth,
                        "fps": float(reader.header.fps),
                        "frames": frames,
                        "encoder": "libaom",
                        "encoder_version": job.build.version,
                        "encoder_build": job.build.label,
                        "encoder_command": shlex.join(command),
                        "working_directory": os.getcwd(),
                        "cq_level": settings.cq_level,
                        "cpu_used": settings.cpu_used,
                        "mode": settings.mode,
                        "sb_size": settings.sb_size,
                        "threads": settings.threads,
                        "bitstream": job.bitstream.name,
                        "bitstream_bytes": tmp_ivf.stat().st_size,
                        "bitstream_sha256": file_sha256(tmp_ivf),
                        "encode_wall_seconds": enc.wall_seconds,
                        "encode_cpu_seconds": enc.cpu_seconds,
                        "av1tools_version": __version__,
                    }
                )
                writer.finish()
            finally:
                writer.close()
        os.replace(tmp_ivf, job.bitstream)
        os.replace(tmp_h5, job.dataset)  # last: the .h5 marks the pair complete
    finally:
        tmp_ivf.unlink(missing_ok=True)
        tmp_h5.unlink(missing_ok=True)
    return ShardResult(
        job.dataset,
        job.bitstream,
        "written" if state == "missing" else "redone",
        enc.wall_seconds,
        time.perf_counter() - start,
    )


def plan_shards(config: ExtractConfig, refs: list[SequenceRef], build: EncoderBuild) -> list[ShardJob]:
    """Every shard of the run: each sequence at each cq-level."""
    jobs = []
    for ref in refs:
        with Y4MReader(ref.path) as reader:
            frames = min(config.encode.frames or len(reader), len(reader))
        sha = file_sha256(ref.path)
        for q in sorted(set(config.cq_levels)):
            settings = replace(config.encode, cq_level=q, frames=frames)
            jobs.append(ShardJob(ref, sha, settings, config.out.resolve(), config.aom_dir, build, config.overwrite))
    return jobs


def extract(
    config: ExtractConfig, progress: Progress | None = None, warn: Callable[[str], None] | None = None
) -> ExtractResult:
    """Make every missing shard of ``config``; finished shards are kept, a shard that fails
    twice is reported in ``failed``; the manifest lists every shard written or kept."""
    skipped: list[str] = []

    def note(message: str) -> None:
        skipped.append(message)
        if warn:
            warn(message)

    refs = resolve_sequence_set(config.sequences, config.skip_missing, note)  # inputs first
    jobs = plan_shards(config, refs, encoder_build(find_tools(config.aom_dir)))
    config.out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(config.out)
    todo = [j for j in jobs if shard_state(j) != "finished"]
    for j in todo:  # refuse before any work: a half-run that then stops helps nobody
        state = shard_state(j)
        if state not in ("missing", "broken") and not j.overwrite:
            raise ExtractError(f"{j.dataset}: exists, {state}; use --overwrite to replace it")
    done = {j.stem: ShardResult(j.dataset, j.bitstream, "kept") for j in jobs if j not in todo}
    failed: list[str] = []
    count = [len(done)]

    def finished(outcome: Outcome) -> None:
        count[0] += 1
        if progress:
            progress("shards", count[0], len(jobs))

    if progress and done:
        progress("shards", len(done), len(jobs))
    if config.scheduler is None and config.jobs <= 1:
        # one process: per-frame progress from the encoder itself
        outcomes = run_jobs(lambda j: extract_shard(j, progress), todo, 1, None, None)
    else:
        outcomes = run_jobs(extract_shard, todo, config.jobs, config.scheduler, finished)
    for o in outcomes:
        if o.ok:
            done[o.job.stem] = o.result
        else:
            failed.append(f"{o.job.dataset.name}: {o.error}")
    shards = [done[j.stem] for j in jobs if j.stem in done]
    manifest = update_manifest(config.out, [(j, done[j.stem]) for j in jobs if j.stem in done]) if shards else None
    return ExtractResult(shards, failed, skipped, manifest)
