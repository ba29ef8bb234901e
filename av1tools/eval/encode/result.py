"""What a study returns: per verdict (the practical ``stock`` one first, the instrument's
``exact`` one beside it) a row per run label (per clip, and over the set), the verdicts
against that verdict's preset ladder and the best point at each BD-rate budget; the
instrument's checks; every encode. The renderers and ``--json`` read its ``to_dict()``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from av1tools.eval.encode.measure import EncodeRun

BD_METRICS = ("psnr_y", "ssim_y")  # the qualities BD-rates are computed for
BD_METHODS = ("cubic", "pchip")
HEADLINE_BD = ("psnr_y", "cubic")  # the BD-rate verdicts and tables lead with


@dataclass
class Row:
    """One run label of one clip under one verdict (with ``clips`` > 0: the mean over a set)."""

    clip: str
    label: str
    kind: str
    verdict: str = "stock"
    source: str = ""  # a guided point's predictor: "model" or "heuristic"
    guided: bool = False  # its map constrains the search
    end_to_end: bool = False  # charged a predictor's inference
    on_ladder: bool = False  # one of libaom's presets
    cq_levels: list = field(default_factory=list)
    failed: list = field(default_factory=list)  # "q<cq>: <error>" (for a set: "<clip> q<cq>: ...")
    clips: int = 0  # a set's row: over how many clips
    time_saving_encoder: float | None = None
    time_saving_end_to_end: float | None = None
    time_saving_vs_stock: float | None = None  # against stock libaom's baseline, end to end
    time_saving_rounds: list | None = None  # the encoder time saving of each round (a set: mean over clips)
    time_saving_spread: list | None = None  # [min, max] of time_saving_rounds
    inference_share: float | None = None  # inference CPU time / the baseline's encode
    bd_rate: dict = field(default_factory=dict)  # metric -> method -> % (None: not computable)
    kbps: list = field(default_factory=list)
    psnr_y: list = field(default_factory=list)
    ssim_y: list = field(default_factory=list)
    simulated_time_saving: float | None = None
    simulation_error: float | None = None  # simulated - measured time saving (encoder)
    partition_mismatches: int | None = None  # oracle
    map_nodes: int | None = None  # oracle
    identical_to_baseline: int | None = None  # oracle: cq-levels whose bitstream equals the baseline's
    notes: list = field(default_factory=list)

    def bd(self, metric: str = HEADLINE_BD[0], method: str = HEADLINE_BD[1]) -> float | None:
        return self.bd_rate.get(metric, {}).get(method)


@dataclass
class ClipResult:
    rows: list[Row]
    ladder: dict  # label -> {"encoder": LadderComparison, "end_to_end": ...}, plus "points"


@dataclass
class VerdictResult:
    name: str  # "stock" (what a user runs) or "exact" (the instrument)
    clips: dict[str, ClipResult]
    rows: list[Row]  # the set's summary (the clip's rows when there is one clip)
    ladder: dict
    best: dict  # source -> budget -> the best point within it (or None), with its ladder verdict
    heuristic: dict = field(default_factory=dict)  # model point -> its verdict against the heuristic's curve


@dataclass
class EvalEncodeResult:
    settings: dict
    simulation: dict
    verdicts: dict[str, VerdictResult]  # in the study's order: the headline first
    instrument: dict  # clip -> the exact switch's cost and the oracle's checks
    calibration_rows: list[Row]
    runs: list[EncodeRun]

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def headline(self) -> VerdictResult:
        return next(iter(self.verdicts.values()))
