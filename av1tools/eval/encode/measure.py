"""One encode, measured: the job a worker runs (encode once, keep the bitstream and its
counters, and in the first round decode it with dav1d and score it against the source) and
the record a study keeps of it over its rounds."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from av1tools.encoder import DUMP_ENV, MODEL_ENV, POINT_ENV, counter_totals, encoder_env, read_stats
from av1tools.eval.config import DEFAULT_METRICS
from av1tools.eval.quality import measure_quality
from av1tools.extract.aom import EncodeSettings, find_tools, run_encoder
from av1tools.extract.y4m import Y4MReader


@dataclass(frozen=True)
class EncodeJob:
    """One encode (repeated for timing), self-contained so that any worker can run it."""

    label: str
    kind: str  # the run kind's name (runs.py)
    verdict: str
    clip: str
    source: Path
    settings: EncodeSettings
    work: Path
    name: str  # file stem in ``work``
    exact: bool
    map_path: Path | None = None
    aom_dir: str | None = None
    measure_quality: bool = True  # the bitstream is the same every round: scored once
    metrics: tuple[str, ...] = DEFAULT_METRICS
    native: tuple | None = None  # (exported model, AV1TOOLS_MODEL_POINT): the encoder runs the model itself
    env: tuple[tuple[str, str], ...] = ()  # more of the patch's variables (e.g. libaom's intra CNN off)
    write_records: bool = False  # the encoder's record of every coded frame (inter coding's structure)
    write_nodes: bool = False  # every node's search time (what the simulation costs a map by)

    @property
    def records(self) -> Path:
        return self.work / f"{self.name}.records"

    @property
    def dump(self) -> Path:
        """Where a native encode writes the allowed set it used at every node."""
        return self.work / f"{self.name}.sets"

    @property
    def nodes(self) -> Path:
        return self.work / f"{self.name}.nodes"

    @property
    def ivf(self) -> Path:
        return self.work / f"{self.name}.ivf"

    @property
    def stats(self) -> Path:
        return self.work / f"{self.name}.stats"


@dataclass(frozen=True)
class Measurement:
    """What one encode measured."""

    cpu_seconds: float  # the aomenc process's user + system time
    wall_seconds: float
    bytes: int
    kbps: float
    quality: dict | None  # None in the rounds after the first


def run_encode(job: EncodeJob) -> Measurement:
    """Encode once (the counters file afresh), then, if asked, decode the bitstream with dav1d
    and score it against the source. Runs in any process."""
    tools = find_tools(job.aom_dir)
    with Y4MReader(job.source) as reader:
        bit_depth, fps = reader.bit_depth, float(reader.header.fps)
    job.stats.unlink(missing_ok=True)
    env = encoder_env(
        job.map_path,
        job.stats,
        job.exact,
        job.records if job.write_records else None,
        nodes=job.nodes if job.write_nodes else None,
    ) | dict(job.env)
    if job.native is not None:
        env |= {MODEL_ENV: str(job.native[0]), POINT_ENV: job.native[1], DUMP_ENV: str(job.dump)}
    result = run_encoder(tools, job.settings, job.source, job.ivf, bit_depth, env=env)
    size = job.ivf.stat().st_size
    quality = measure_quality(job.ivf, job.source, job.settings.frames, job.metrics) if job.measure_quality else None
    return Measurement(
        result.cpu_seconds, result.wall_seconds, size, size * 8 / 1000 / (job.settings.frames / fps), quality
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
    verdict: str = "stock"
    name: str = ""  # its files in encodes/: <name>.ivf, .stats, .map
    source: str = ""  # a guided point's predictor ("model", "heuristic")
    ok: bool = True
    error: str = ""
    bytes: int = 0
    kbps: float = 0.0
    cpu_seconds: float = 0.0  # median over rounds, the aomenc process's user + system time
    cpu_seconds_all: list = field(default_factory=list)  # one per round
    closing_cpu_seconds_all: list = field(default_factory=list)  # a bracketed baseline: after its runs, per round
    wall_seconds: float = 0.0  # median over rounds
    wall_seconds_all: list = field(default_factory=list)
    inference_cpu_seconds: float = 0.0  # the model's time outside the encoder (the Python path)
    inference_wall_seconds: float = 0.0
    network_seconds: float = 0.0  # the model's time inside the encoder (native: part of cpu_seconds)
    quality: dict = field(default_factory=dict)
    counters: dict = field(default_factory=dict)
    map_nodes: int = 0  # nodes the map constrains
    unguided_nodes: int = 0  # nodes the map leaves to the normal search
    partition_mismatches: int | None = None  # oracle: nodes whose partition did not come back
    identical_to_baseline: bool | None = None  # oracle: the bitstream, byte for byte
    simulated_time_saving: float | None = None

    @classmethod
    def of(cls, job: EncodeJob, **extra) -> EncodeRun:
        settings = job.settings
        return cls(job.label, job.kind, job.clip, settings.cq_level, settings.cpu_used, job.verdict, job.name, **extra)

    def record(self, measured: Measurement | None, error: str, stats: Path) -> EncodeRun:
        """This run with one round's outcome added (the measurement, or the failure)."""
        if measured is None:
            self.ok, self.error = False, self.error or error
            return self
        self.cpu_seconds_all.append(measured.cpu_seconds)
        self.wall_seconds_all.append(measured.wall_seconds)
        self.cpu_seconds = statistics.median(self.cpu_seconds_all)
        self.wall_seconds = statistics.median(self.wall_seconds_all)
        self.bytes, self.kbps = measured.bytes, measured.kbps
        if measured.quality is not None:
            self.quality = measured.quality
        if stats.exists():
            counters = read_stats(stats)
            self.counters = counter_totals(counters)
            self.network_seconds = sum(c.network_ns for c in counters) / 1e9
        return self

    def record_closing(self, measured: Measurement | None, error: str) -> EncodeRun:
        """A bracketed baseline's second encode of a round (after the runs compared with it)."""
        if measured is None:
            self.ok, self.error = False, self.error or error
        else:
            self.closing_cpu_seconds_all.append(measured.cpu_seconds)
        return self

    def round_cpu_seconds(self) -> list[float]:
        """Per round, the CPU time a run is paired with: for a baseline encoded before and after
        its runs, the mean of the two (a drift during the round hits both sides alike, and one
        encode's own noise weighs half); else the round's one encode."""
        opening, closing = self.cpu_seconds_all, self.closing_cpu_seconds_all
        if closing and len(closing) == len(opening):
            return [(a + b) / 2 for a, b in zip(opening, closing)]
        return list(opening)


def time_saving(run: EncodeRun, base: EncodeRun, extra_seconds: float = 0.0) -> float:
    """The time ``run`` saves against ``base``: its mean CPU time over the rounds against the
    baseline's mean (a bracketed baseline's round: the mean of its two encodes), as encoder
    time is reported in common test conditions. Chosen by how far two studies of half the
    rounds each disagree (``benchmarks/timing_noise.py``; never by the simulation's error): over
    three studies here (4, 6 and 6 rounds, 519 half-splits of a clip's point) 2.35 points RMS,
    against 3.15 for the quickest rounds' ratio (steadier in one study, 1.55 against 2.33, and
    the noisiest in the other two; README, "How much a measured saving moves").
    ``extra_seconds`` (a predictor's inference) is charged once."""
    runs, bases = run.cpu_seconds_all or [run.cpu_seconds], base.round_cpu_seconds() or [base.cpu_seconds]
    return 1 - (statistics.mean(runs) + extra_seconds) / statistics.mean(bases)


def round_savings(run: EncodeRun, base: EncodeRun, extra_seconds: float = 0.0) -> list[float] | None:
    """The time ``run`` saved in each round against the same round's baseline (None unless
    both have the same rounds)."""
    runs, bases = run.cpu_seconds_all, base.round_cpu_seconds()
    if not runs or len(runs) != len(bases):
        return None
    return [1 - (r + extra_seconds) / b for r, b in zip(runs, bases)]
