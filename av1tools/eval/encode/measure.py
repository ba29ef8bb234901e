"""One encode, measured: the job a worker runs (encode ``repeat`` times, keep the last
bitstream and counters, decode it with dav1d and score it against the source) and the
record a study keeps of it."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, fields
from pathlib import Path

from av1tools.encoder import counter_totals, encoder_env, read_stats
from av1tools.eval.quality import measure_quality
from av1tools.extract.aom import EncodeSettings, find_tools, run_encoder
from av1tools.extract.y4m import Y4MReader


@dataclass(frozen=True)
class EncodeJob:
    """One encode (repeated for timing), self-contained so that any worker can run it."""

    label: str
    kind: str  # the run kind's name (runs.py)
    clip: str
    source: Path
    settings: EncodeSettings
    work: Path
    name: str  # file stem in ``work``
    repeat: int
    exact: bool
    map_path: Path | None = None
    aom_dir: str | None = None

    @property
    def ivf(self) -> Path:
        return self.work / f"{self.name}.ivf"

    @property
    def stats(self) -> Path:
        return self.work / f"{self.name}.stats"


@dataclass(frozen=True)
class Measurement:
    """What one encode job measured."""

    cpu_seconds: float  # median over repeats, the aomenc process's user + system time
    cpu_seconds_all: list
    wall_seconds: float  # median over repeats
    bytes: int
    kbps: float
    quality: dict


def run_encode(job: EncodeJob) -> Measurement:
    """Encode ``job.repeat`` times, keep the last bitstream and counters, decode it with dav1d
    and score it against the source. Runs in any process."""
    tools = find_tools(job.aom_dir)
    env = encoder_env(job.map_path, job.stats, job.exact)
    cpu, wall = [], []
    with Y4MReader(job.source) as reader:
        bit_depth, fps = reader.bit_depth, float(reader.header.fps)
    for _ in range(job.repeat):
        job.stats.unlink(missing_ok=True)
        result = run_encoder(tools, job.settings, job.source, job.ivf, bit_depth, env=env)
        cpu.append(result.cpu_seconds)
        wall.append(result.wall_seconds)
    size = job.ivf.stat().st_size
    return Measurement(
        statistics.median(cpu),
        cpu,
        statistics.median(wall),
        size,
        size * 8 / 1000 / (job.settings.frames / fps),
        measure_quality(job.ivf, job.source, job.settings.frames).to_dict(),
    )


@dataclass
class EncodeRun:
    """A study's record of one encode: what it was, what it measured, and the checks and
    costs that belong to its kind."""

    label: str
    kind: str
    clip: str
    cq_level: int
    cpu_used: int
    name: str = ""  # its files in encodes/: <name>.ivf, .stats, .map
    ok: bool = True
    error: str = ""
    bytes: int = 0
    kbps: float = 0.0
    cpu_seconds: float = 0.0  # median over repeats, the aomenc process's user + system time
    cpu_seconds_all: list = field(default_factory=list)
    wall_seconds: float = 0.0  # median over repeats
    inference_cpu_seconds: float = 0.0
    inference_wall_seconds: float = 0.0
    quality: dict = field(default_factory=dict)
    counters: dict = field(default_factory=dict)
    map_nodes: int = 0  # nodes the map constrains
    unguided_nodes: int = 0  # nodes the map leaves to the normal search
    partition_mismatches: int | None = None  # oracle: nodes whose partition did not come back
    identical_to_baseline: bool | None = None  # oracle: the bitstream, byte for byte
    simulated_time_saving: float | None = None

    @classmethod
    def of(cls, job: EncodeJob, **extra) -> EncodeRun:
        return cls(job.label, job.kind, job.clip, job.settings.cq_level, job.settings.cpu_used, job.name, **extra)

    def record(self, measured: Measurement | None, error: str, stats: Path) -> EncodeRun:
        """This run with its job's outcome filled in (the measurement, or the failure)."""
        if measured is None:
            self.ok, self.error = False, error
            return self
        for f in fields(measured):
            setattr(self, f.name, getattr(measured, f.name))
        if stats.exists():
            self.counters = counter_totals(read_stats(stats))
        return self
