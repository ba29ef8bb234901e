"""The evaluation jobs' settings, written once: the CLI reads its defaults from here.
No torch import."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from av1tools.model.config import AGREEMENT_DECISION, ENCODING_DECISION

DEFAULT_CQ_LEVELS = (23, 31, 39, 47)  # four points over the useful all-intra range, as BD-rate needs


@dataclass(frozen=True)
class OperatingPoint:
    """How a model's type probabilities become each node's allowed set (exactly one rule):

    - ``top_k``: the k most probable types (top-1 replaces the search, larger k prunes it);
    - ``threshold``: the most probable type plus every type of probability >= T;
    - ``coverage``: the smallest set of most probable types whose probabilities reach p;
      a node that needs more than ``max_types`` of them is one the model is unsure of and
      keeps libaom's normal search (its children are still guided).
    """

    top_k: int | None = None
    threshold: float | None = None
    coverage: float | None = None
    max_types: int = 3

    def __post_init__(self) -> None:
        if sum(v is not None for v in (self.top_k, self.threshold, self.coverage)) > 1:
            raise ValueError("an operating point is top_k, threshold or coverage, not several")
        if self.coverage is not None and not 0 < self.coverage <= 1:
            raise ValueError(f"coverage must be within (0, 1], not {self.coverage}")

    @property
    def label(self) -> str:
        if self.threshold is not None:
            return f"model p>={self.threshold:g}"
        if self.coverage is not None:
            return f"model cover {self.coverage:g}"
        return f"model top-{self.top_k or 1}"

    @property
    def forces(self) -> bool:
        """True when every node gets exactly one type (the search is replaced)."""
        return self.threshold is None and self.coverage is None and (self.top_k or 1) == 1


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


@dataclass(frozen=True)
class EvalEncodeConfig:
    """One ``eval-encode`` study; the defaults are the CLI's."""

    sequences: tuple[str, ...]
    out: Path
    model: str | None = None  # a run directory, or "default" (the shipped superblock model)
    cq_levels: tuple[int, ...] = DEFAULT_CQ_LEVELS
    mode: str = "intra"
    cpu_used: int = 3
    frames: int | None = None
    points: tuple[OperatingPoint, ...] = (OperatingPoint(top_k=1),)
    presets: tuple[int, ...] = (4, 5, 6)  # libaom's ladder, as cpu-used values
    repeat: int = 3
    sb_size: int = 64
    decision: str = ENCODING_DECISION
    device: str = "cpu"  # the model's device; inference time is charged as measured there
    threads: int = 1  # the encoder's and the model's threads alike
    exact: bool = True  # AV1TOOLS_EXACT_GUIDE on every run; the stock baseline is measured too
    calibration: str | None = "carphone"  # the clip the cost model is calibrated on
    calibration_frames: int = 6
    jobs: int = 1  # encodes at once (timing is cleanest with 1 on a small machine)
    scheduler: str | None = None
    aom_dir: str | None = None  # as every worker finds it (None: its own cached build)
