"""extract = encode with the real aomenc -> inspect -> partition trees -> HDF5, one shard per
(sequence, settings, cq-level), each a job (av1tools.jobs: inline, local processes or Dask).

A shard is finished when its ``.h5`` exists, holds every dataset and says what it is: the
source's checksum, the settings, the encoder build; the ``.ivf`` beside it must have its
recorded size, and a shard the manifest lists must still be what it lists. A rerun skips
finished shards, redoes unreadable, incomplete or outdated ones, and refuses (by name) a
finished shard made from another source, settings or encoder, or changed since it was
listed, unless told to overwrite it. The manifest is checked before any work and records
each shard as it completes, so a stopped run loses none.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from av1tools import __version__
from av1tools.encoder import FrameRecord, RecordReader, RecordsError, encoder_env
from av1tools.extract.aom import (
    AomError,
    AomTools,
    EncoderBuild,
    EncodeSettings,
    encode_and_inspect,
    encoder_build,
    find_tools,
)
from av1tools.extract.dataset import (
    KF_UPDATE,
    SCHEMA_VERSION,
    DatasetError,
    DatasetWriter,
    FrameRow,
    frame_node_columns,
    incomplete_parts,
    open_dataset,
)
from av1tools.extract.inspect import FrameGrid, frame_grid
from av1tools.extract.ivf import CodedFrame
from av1tools.extract.manifest import MANIFEST, ListedFile, load_manifest, update_manifest
from av1tools.extract.sequences import SequenceRef, resolve_sequence_set
from av1tools.extract.y4m import Y4MReader
from av1tools.jobs import Outcome, default_workers, run_jobs
from av1tools.partition import mi_grid_shape
from av1tools.paths import file_sha256, not_a_directory, remove_stale_temps, temp_path

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
    listed: ListedFile | None = None  # what the manifest recorded of the shard when planned

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
    older schema: safe to redo) or a description of how a finished shard differs (made
    otherwise, or changed since the manifest listed it)."""
    if not job.dataset.exists():
        return "missing"
    try:
        with open_dataset(job.dataset) as ds:
            a = ds.attrs
            incomplete = incomplete_parts(ds)
            # an older shard with hidden frames left them unlabelled: redo it (one without
            # them, all-intra, holds exactly what this version would write)
            if not incomplete and a.schema_version < SCHEMA_VERSION and ds.frames_table()["hidden"].any():
                return "broken"
    except DatasetError:
        return "broken"
    if incomplete or not job.bitstream.is_file() or job.bitstream.stat().st_size != a.bitstream_bytes:
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
    # a complete shard edited in place is never kept, so never listed anew; --overwrite
    # (a repair run) hashes every listed shard, not only those whose size or mtime changed
    change = job.listed.change(job.dataset, full=job.overwrite) if job.listed else None
    if change:
        return f"changed since {MANIFEST} listed it ({change})"
    return "finished"


def _check_records(settings: EncodeSettings, build: EncoderBuild) -> None:
    """Frame records (the patched encoder's) give every coded frame, hidden alt-refs too,
    its source index, group position and the pixels it coded. Without the patch only
    all-intra can be labelled: every frame shown, coded from its source as it is."""
    if not build.guided and settings.mode != "intra":
        raise ExtractError(
            f"{settings.mode} mode needs the av1tools-patched encoder (its frame records label hidden frames), "
            f"not {build.label}"
        )


def _check_build(tools: AomTools, job: ShardJob) -> None:
    build = encoder_build(tools)
    if build.label != job.build.label:
        raise AomError(
            f"{tools.aomenc}: {build.label}, but the run was planned with {job.build.label}; "
            "install the same libaom build on every worker"
        )


def _psnr(a: np.ndarray, b: np.ndarray, max_value: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(max_value**2 / mse)


def _check_record(grid: FrameGrid, coded: CodedFrame, record: FrameRecord) -> None:
    """The encoder's record of a coded frame must be the frame the bitstream codes."""
    same = (
        record.show_frame == grid.show_frame
        and record.frame_type == grid.frame_type
        and record.base_qindex == grid.base_qindex
        and record.order_hint == grid.order_hint
        and (not grid.show_frame or record.pts == coded.pts)
        and (coded.display_index is None or record.pts == coded.display_index)
        and (coded.ref_display is None or record.ref_display == coded.ref_display)
    )
    if not same:
        raise AomError(
            f"coded frame {grid.decode_index}: the encoder's frame record (pts {record.pts}, "
            f"show {int(record.show_frame)}, type {record.frame_type}, qindex {record.base_qindex}) "
            f"is not the frame the bitstream codes"
        )


def frame_row(grid: FrameGrid, coded: CodedFrame, record: FrameRecord | None, source_psnr: float) -> FrameRow:
    """A coded frame's row of frames/: from the encoder's record, or (all-intra without
    records) from the bitstream, key frames being KF updates at pyramid level 0."""
    if record is not None:
        return FrameRow(
            grid.decode_index,
            record.pts,
            grid.show_frame,
            grid.frame_type,
            grid.base_qindex,
            grid.order_hint,
            record.update_type,
            record.pyramid_level,
            record.ref_display,
            source_psnr,
        )
    key = grid.frame_type == 0
    refs = coded.ref_display if coded.ref_display is not None else (-1,) * 7
    return FrameRow(
        grid.decode_index,
        grid.display_index,
        grid.show_frame,
        grid.frame_type,
        grid.base_qindex,
        grid.order_hint,
        KF_UPDATE if key else -1,
        0 if key else -1,
        refs,
        source_psnr,
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
    _check_records(job.settings, job.build)
    start = time.perf_counter()
    tmp_ivf, tmp_h5 = temp_path(job.bitstream), temp_path(job.dataset)
    # the records hold every coded frame's luma: in the temp directory ($TMPDIR), not the
    # dataset's, so a killed run leaves nothing there
    with tempfile.TemporaryDirectory(prefix="av1tools-records-") as tmp:
        frame_records = RecordReader(Path(tmp) / "frames.rec") if job.build.guided else None
        env = encoder_env(None, None, records=frame_records.path if frame_records else None)
        try:
            enc = _encode_shard(job, tools, env, frame_records, tmp_ivf, tmp_h5, progress)
            os.replace(tmp_ivf, job.bitstream)
            os.replace(tmp_h5, job.dataset)  # last: the .h5 marks the pair complete
        except RecordsError as e:
            raise AomError(str(e)) from None
        finally:
            if frame_records:
                frame_records.close()
            tmp_ivf.unlink(missing_ok=True)
            tmp_h5.unlink(missing_ok=True)
    return ShardResult(
        job.dataset,
        job.bitstream,
        "written" if state == "missing" else "redone",
        enc.wall_seconds,
        time.perf_counter() - start,
    )


def _encode_shard(
    job: ShardJob,
    tools: AomTools,
    env: dict[str, str],
    frame_records: RecordReader | None,
    tmp_ivf: Path,
    tmp_h5: Path,
    progress: Progress | None,
):
    """Encode, label every coded frame as it arrives and write the dataset to ``tmp_h5``;
    returns the encode's result."""
    settings, ref = job.settings, job.sequence
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
            env=env,
        )
        writer = DatasetWriter(
            tmp_h5, settings.sb_size, reader.header.dtype, mi_grid_shape(reader.width, reader.height)
        )
        max_value = float((1 << reader.bit_depth) - 1)
        try:
            for i, (record, coded) in enumerate(records):
                grid = frame_grid(record, coded, i)
                frame_record = frame_records.next() if frame_records else None
                if frame_records and frame_record is None:
                    raise AomError(f"coded frame {i}: the encoder wrote no frame record for it")
                if frame_record is not None:
                    _check_record(grid, coded, frame_record)
                    display = frame_record.pts
                    luma = frame_record.luma
                    source_psnr = _psnr(luma, reader.read_luma(display), max_value)
                else:
                    display, luma, source_psnr = grid.display_index, None, float("inf")
                    if grid.show_frame:
                        luma = reader.read_luma(display)
                row = frame_row(grid, coded, frame_record, source_psnr)
                nodes = None
                if luma is not None:
                    nodes = frame_node_columns(grid, settings.sb_size, reader.width, reader.height, display)
                writer.add_frame(row, grid.block_size, nodes, luma)
            if frame_records and frame_records.next() is not None:
                raise AomError("the encoder wrote more frame records than the bitstream codes")
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
    return enc


def plan_shards(
    config: ExtractConfig, refs: list[SequenceRef], build: EncoderBuild, listed: dict[str, dict] | None = None
) -> list[ShardJob]:
    """Every shard of the run: each sequence at each cq-level (``listed``: the manifest's
    entries, by file name)."""
    jobs = []
    for ref in refs:
        with Y4MReader(ref.path) as reader:
            frames = min(config.encode.frames or len(reader), len(reader))
        sha = file_sha256(ref.path)
        for q in sorted(set(config.cq_levels)):
            settings = replace(config.encode, cq_level=q, frames=frames)
            job = ShardJob(ref, sha, settings, config.out.resolve(), config.aom_dir, build, config.overwrite)
            entry = (listed or {}).get(job.dataset.name)
            jobs.append(replace(job, listed=ListedFile.of(entry)) if entry else job)
    return jobs


def _file_identity(path: Path) -> tuple[int, int, int] | None:
    """Which file is at ``path`` (a rename puts a new inode there), or None."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _list_stragglers(
    jobs: list[ShardJob],
    planned: dict[str, tuple[int, int, int] | None],
    record: Callable[[list[tuple[ShardJob, ShardResult]]], None],
) -> None:
    """After an interrupt, list the shards of ``jobs`` (not yet recorded) that this run wrote
    all the same: outcomes still on their way to this process, or a shard renamed an instant
    before the signal. Only files put there since ``planned`` (their identity when the run
    was planned) count: a changed or different shard the run had yet to replace is never
    listed. Best effort: readers refuse any that stay unlisted."""
    # the entry a redone shard had described the file it replaced: judge the file alone
    found = [
        j
        for j in jobs
        if _file_identity(j.dataset) not in (None, planned[j.stem])
        and shard_state(replace(j, listed=None)) == "finished"
    ]
    if found:
        with contextlib.suppress(Exception):  # the interrupt is what gets reported
            record([(j, ShardResult(j.dataset, j.bitstream, "written")) for j in found])


def _check_out_dir(out: Path) -> None:
    """Refuse an --out that is, or lies under, something other than a directory."""
    blocker = not_a_directory(out)
    if blocker == out:
        raise ExtractError(f"{out}: not a directory")
    if blocker is not None:
        raise ExtractError(f"{out}: cannot be created: {blocker} is not a directory")


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

    # inputs first: the output directory and its manifest (named now, not after the encodes),
    # then the sequences
    if not config.encode.sb_size:
        raise ExtractError("extract labels the trees of a fixed superblock size: --sb-size 64 or 128, not dynamic")
    _check_out_dir(config.out)
    listed = load_manifest(config.out / MANIFEST)["shards"]
    refs = resolve_sequence_set(config.sequences, config.skip_missing, note)
    build = encoder_build(find_tools(config.aom_dir))
    _check_records(config.encode, build)
    jobs = plan_shards(config, refs, build, listed)
    config.out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(config.out)
    states = {j.stem: shard_state(j) for j in jobs}
    identities = {j.stem: _file_identity(j.dataset) for j in jobs}
    for j in jobs:  # refuse before any work: a half-run that then stops helps nobody
        if states[j.stem] not in ("finished", "missing", "broken") and not j.overwrite:
            raise ExtractError(f"{j.dataset}: exists, {states[j.stem]}; use --overwrite to replace it")
    todo = [j for j in jobs if states[j.stem] != "finished"]
    done = {j.stem: ShardResult(j.dataset, j.bitstream, "kept") for j in jobs if states[j.stem] == "finished"}
    groups = sorted({r.group for r in refs})
    manifest: list[Path] = []
    recorded: set[str] = set()

    def record(pairs: list[tuple[ShardJob, ShardResult]]) -> None:
        manifest[:] = [update_manifest(config.out, pairs, groups)]
        recorded.update(j.stem for j, _ in pairs)

    if done:  # finished shards are listed first (a stopped run may have left some unlisted)
        record([(j, done[j.stem]) for j in jobs if j.stem in done])
    failed: list[str] = []
    count = [len(done)]
    one_process = config.scheduler is None and config.jobs <= 1

    def finished(outcome: Outcome) -> None:
        if outcome.ok:  # each shard listed as it completes, so a stopped run loses none
            record([(outcome.job, outcome.result)])
        count[0] += 1
        if progress and not one_process:
            progress("shards", count[0], len(jobs))

    if progress and done:
        progress("shards", len(done), len(jobs))
    try:
        if one_process:  # per-frame progress from the encoder itself
            outcomes = run_jobs(lambda j: extract_shard(j, progress), todo, 1, None, finished)
        else:  # the pool's or Dask's outcomes arrive here, in this process, as they complete
            outcomes = run_jobs(extract_shard, todo, config.jobs, config.scheduler, finished)
    except KeyboardInterrupt:  # SIGTERM or Ctrl-C; a pool's workers have stopped by now
        _list_stragglers([j for j in todo if j.stem not in recorded], identities, record)
        raise
    for o in outcomes:
        if o.ok:
            done[o.job.stem] = o.result
        else:
            failed.append(f"{o.job.dataset.name}: {o.error}")
    shards = [done[j.stem] for j in jobs if j.stem in done]
    return ExtractResult(shards, failed, skipped, manifest[0] if manifest else None)
