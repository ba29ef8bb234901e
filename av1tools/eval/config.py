"""The evaluation jobs' settings, written once: the CLI reads its defaults from here.
No torch import."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from av1tools.model.config import AGREEMENT_DECISION, ENCODING_DECISION, OperatingPoint  # noqa: F401 (re-exported)

DEFAULT_CQ_LEVELS = (23, 31, 39, 47)  # four points over the useful all-intra range, as BD-rate needs
DEFAULT_METRICS = ("psnr", "ssim")  # av1tools.eval.metrics' per-frame metrics every study scores
DEFAULT_BD_METRICS = ("psnr_y", "ssim_y")  # the pooled metrics BD-rates are computed for
BD_METHODS = ("cubic", "pchip")
CONDITIONS = ("aom-ctc",)
INFERENCE = ("auto", "native", "python")


@dataclass(frozen=True)
class EvaluateConfig:
    """One ``evaluate`` run; the defaults are the CLI's."""

    model: Path
    data: tuple[str, ...]
    out: Path
    include_border: bool = False
    calibration: dict | None = None  # an eval-encode report's "simulation": relates maps to libaom's time
    decision: str = AGREEMENT_DECISION
    device: str = "auto"


VERDICTS = ("stock", "exact")  # the practical verdict first, then the instrument's
FEATURES = ("stock", "exact")  # the speed features a guided encode of the stock verdict runs with
# The default curve: top-1 alone cost +3.6..+7.2% BD-rate on clips no model had seen (issue 18);
# these points span about 15-70% time saved.
CURVE = (
    OperatingPoint(top_k=2),
    OperatingPoint(coverage=0.7),
    OperatingPoint(coverage=0.8),
    OperatingPoint(coverage=0.9),
)


@dataclass(frozen=True)
class EvalEncodeConfig:
    """One ``eval-encode`` study; the defaults are the CLI's.

    Each verdict encodes its own baseline, preset ladder and guided runs: ``stock`` is what a
    user runs (libaom untouched; guided encodes with ``guided_features``), ``exact`` the
    instrument (AV1TOOLS_EXACT_GUIDE=1 everywhere: the oracle must equal the baseline)."""

    sequences: tuple[str, ...]
    out: Path
    model: str | None = None  # a run directory, or "default" (the shipped superblock model)
    cq_levels: tuple[int, ...] = DEFAULT_CQ_LEVELS
    mode: str = "intra"
    cpu_used: int = 3
    frames: int | None = None
    points: tuple[OperatingPoint, ...] = CURVE
    presets: tuple[int, ...] = (4, 5, 6)  # libaom's ladder, as cpu-used values
    repeat: int = 3  # rounds: every encode once per round, so slow drift hits all runs alike
    bracket: bool = False  # each round encodes a baseline before and after its runs (measured: no narrower)
    sb_size: int = 64
    decision: str = ENCODING_DECISION
    device: str = "cpu"  # the model's device; inference time is charged as measured there
    threads: int = 1  # the encoder's and the model's threads alike
    verdicts: tuple[str, ...] = VERDICTS
    exact_runs: str = "all"  # under the exact verdict: "all" runs, or only the "check" (baseline and oracle)
    guided_features: str = "stock"  # libaom's own; which is fastest is not settled (docs/guided.md)
    compare_features: bool = False  # also the model's points with the other guided features, in the same rounds
    budgets: tuple[float, ...] = (0.5, 1.0, 2.0)  # BD-rate budgets (%) the best point is named for
    heuristic: str | None = None  # a variance table run at the same points ("default": the shipped one)
    swap: bool = False  # also libaom's intra partition CNN off, alone and with the model in its place
    key_frames_searched: bool = False  # inter modes: also the model's points with key frames left to libaom
    inference: str = "auto"  # the model inside the encoder ("native") or in Python ("python"); auto: native if it can
    conditions: str | None = None  # "aom-ctc": the AOM CTC's rate points, frame counts and metrics
    metrics: tuple[str, ...] = DEFAULT_METRICS
    bd_metrics: tuple[str, ...] = DEFAULT_BD_METRICS
    bd_methods: tuple[str, ...] = BD_METHODS
    calibration: str | None = None  # a clip to fit the simulation's two scales on (None: node costs as they are)
    calibration_frames: int = 3
    jobs: int = 1  # encodes at once (timing is cleanest with 1 on a small machine)
    scheduler: str | None = None
    aom_dir: str | None = None  # as every worker finds it (None: its own cached build)

    def __post_init__(self) -> None:
        if not self.verdicts or any(v not in VERDICTS for v in self.verdicts):
            raise ValueError(f"verdicts must be among {VERDICTS}, not {self.verdicts}")
        if self.conditions is not None and self.conditions not in CONDITIONS:
            raise ValueError(f"conditions must be one of {CONDITIONS}, not {self.conditions!r}")
        if self.inference not in INFERENCE:
            raise ValueError(f"inference must be one of {INFERENCE}, not {self.inference!r}")
        if self.exact_runs not in ("all", "check"):
            raise ValueError(f"exact runs must be 'all' or 'check', not {self.exact_runs!r}")
        if self.key_frames_searched and self.mode == "intra":
            raise ValueError(
                "key frames searched is for inter modes (--mode ra or ld): all-intra codes key frames only"
            )
        if self.key_frames_searched and self.model is None:
            raise ValueError("key frames searched runs the model's points: give --model")
        if self.key_frames_searched and self.inference == "native":
            raise ValueError(
                "key frames searched needs the model in Python (its map leaves frames out): not --inference native"
            )
        if self.guided_features not in FEATURES:
            raise ValueError(f"guided features must be one of {FEATURES}, not {self.guided_features!r}")


def study_conditions(mode: str) -> dict:
    """What ``--conditions aom-ctc`` sets in an eval-encode study (options given explicitly
    win): the CTC's six rate points of the mode's configuration (AI for all-intra, RA
    otherwise) at the cq-levels nearest to their qindex (aomenc reaches only multiples of 4),
    its frame count, every CTC metric and AVM's BD-rate beside the others."""
    from av1tools.ctc import FRAME_COUNTS, QINDEX_POINTS, cq_level_for_qindex
    from av1tools.eval.metrics import METRICS_FOR_BD

    config = "AI" if mode == "intra" else "RA"
    return {
        "cq_levels": tuple(cq_level_for_qindex(q, exact=False) for q in QINDEX_POINTS[config]),
        "frames": FRAME_COUNTS[config],
        "metrics": ("psnr", "ssim", "ms_ssim", "psnr_hvs", "ciede2000", "vmaf"),
        "bd_metrics": METRICS_FOR_BD,
        "bd_methods": ("cubic", "pchip", "avm"),
    }
