"""The evaluation jobs' settings, written once: the CLI reads its defaults from here.
No torch import."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from av1tools.eval.speedup import Calibration
from av1tools.model.config import AGREEMENT_DECISION, ENCODING_DECISION

DEFAULT_CQ_LEVELS = (23, 31, 39, 47)  # four points over the useful all-intra range, as BD-rate needs


@dataclass(frozen=True)
class OperatingPoint:
    """How model probabilities become allowed sets: top-k types, or a probability threshold."""

    top_k: int | None = None
    threshold: float | None = None

    @property
    def label(self) -> str:
        if self.threshold is not None:
            return f"model p>={self.threshold:g}"
        return f"model top-{self.top_k or 1}"

    @property
    def walk(self) -> str:
        return "split" if self.threshold is None and (self.top_k or 1) == 1 else "all"


@dataclass(frozen=True)
class EvaluateConfig:
    """One ``evaluate`` run; the defaults are the CLI's."""

    model: Path
    data: tuple[str, ...]
    out: Path
    include_border: bool = False
    calibration: Calibration | None = None  # from an eval-encode report: relates work to libaom's
    decision: str = AGREEMENT_DECISION
    device: str = "auto"


@dataclass(frozen=True)
class EvalEncodeConfig:
    """One ``eval-encode`` study; the defaults are the CLI's."""

    sequence: str
    out: Path
    model: Path | None = None
    cq_levels: tuple[int, ...] = DEFAULT_CQ_LEVELS
    mode: str = "intra"
    cpu_used: int = 3
    frames: int | None = None
    points: tuple[OperatingPoint, ...] = (OperatingPoint(top_k=1),)
    presets: tuple[int, ...] = (1, 2)  # steps above cpu_used
    repeat: int = 3
    sb_size: int = 64
    decision: str = ENCODING_DECISION
    device: str = "auto"
