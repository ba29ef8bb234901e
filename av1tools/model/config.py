"""The settings every model-side job shares, written once (nanoGPT-style): the CLI reads its
defaults from here and every run saves its whole job config (``config.json``, and inside
its checkpoints). Each family's network settings live in its own package
(``staged/config.py``, ``superblock/config.py``). No torch import: the command line loads
this without loading the network code."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from av1tools.model.hierarchy import STAGE_ORDER

BALANCE = ("weights", "sampler", "focal", "none")
SPLITS = ("sequence", "frame")
DEVICES = ("auto", "cpu", "cuda")
COVERAGE_SIZES = (64, 32, 16, 8)  # the node sizes a guided map names


@dataclass(frozen=True)
class TrainConfig:
    # UI-only fields (they change no trained weight): not compared when a run is reused
    NOT_RESULTS = ("progress",)

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 4  # early stopping, epochs without a better validation score
    lr_patience: int = 1
    lr_factor: float = 0.5
    seed: int = 0
    max_samples: int | None = None  # training samples (staged: per stage)
    max_val_samples: int | None = None
    balance: str = "sampler"  # staged; measured best of the four (benchmarks/model_choices.py, README)
    device: str = "auto"
    include_border: bool = False  # staged: also train on nodes crossing the frame edge
    split: str = "sequence"
    val_fraction: float = 0.25
    val_sequences: tuple[str, ...] = ()
    cache: bool | None = None  # staged: pixels in memory; None: when they fit in CACHE_BYTES
    loader_workers: int = 0  # DataLoader worker processes (0: load in the training process)
    threads: int = 0  # torch's CPU threads (0: torch's default, one per core)
    progress: bool = True


@dataclass(frozen=True)
class TrainJob:
    """One ``train`` run: data, where it goes, which family, its network and training settings."""

    data: tuple[str, ...]
    out: Path
    arch: str = "staged"  # a family of av1tools.model.families
    net: Any = None  # the family's network config (StagedConfig, SuperblockConfig); None: its defaults
    train: TrainConfig = field(default_factory=TrainConfig)
    stages: tuple[str, ...] = STAGE_ORDER  # staged: the stages to train, in order
    stream: bool = False  # superblock: read shards in worker processes (bounded memory)
    init: str | None = None  # superblock: warm start from this run's weights ("default": the shipped all-intra model)


WALKS = ("split", "all")
DECISIONS = ("greedy", "product")  # stage by stage, or the argmax of the 10-type product
# One rule per purpose, measured (README): agreement with the encoder (predict, evaluate)
# scores best stage by stage, which does not let the two-way Stage 1 crowd out rare types;
# forcing the encoder (eval-encode) loses fewest bits with the most probable of the ten.
AGREEMENT_DECISION = "greedy"
ENCODING_DECISION = "product"


@dataclass(frozen=True)
class PredictConfig:
    """One ``predict`` run; the defaults are the CLI's."""

    model: Path
    sequence: str
    cq_level: int
    out: Path
    frames: int | None = None
    sb_size: int = 64
    walk: str = "split"
    decision: str = AGREEMENT_DECISION
    device: str = "auto"


@dataclass(frozen=True)
class OperatingPoint:
    """How a model's type probabilities become each node's allowed set (exactly one rule):

    - ``top_k``: the k most probable types (top-1 replaces the search, larger k prunes it);
    - ``threshold``: the most probable type plus every type of probability >= T;
    - ``coverage``: the smallest set of most probable types whose probabilities reach p;
      a node that needs more than ``max_types`` of them is one the model is unsure of and
      keeps libaom's normal search (its children are still guided). ``size_coverage``
      overrides p at some node sizes (``((64, 0.9),)``: 64x64 nodes need 0.9): a miss
      costs more bits, and a pruned type saves more time, at some sizes than at others.
    """

    top_k: int | None = None
    threshold: float | None = None
    coverage: float | None = None
    max_types: int = 3
    size_coverage: tuple[tuple[int, float], ...] = ()

    def __post_init__(self) -> None:
        if sum(v is not None for v in (self.top_k, self.threshold, self.coverage)) > 1:
            raise ValueError("an operating point is top_k, threshold or coverage, not several")
        for value in (self.coverage, *(v for _, v in self.size_coverage)):
            if value is not None and not 0 < value <= 1:
                raise ValueError(f"coverage must be within (0, 1], not {value}")
        if self.size_coverage and self.coverage is None:
            raise ValueError("a coverage by node size needs a coverage for the other sizes")
        sizes = [s for s, _ in self.size_coverage]
        if any(s not in COVERAGE_SIZES for s in sizes) or len(set(sizes)) < len(sizes):
            named = ", ".join(map(str, sizes))
            raise ValueError(f"a coverage by node size names each of 64, 32, 16, 8 at most once, not {named}")

    def coverage_at(self, size: int) -> float:
        """The coverage nodes of ``size`` need."""
        return dict(self.size_coverage).get(size, self.coverage)

    @property
    def label(self) -> str:
        if self.threshold is not None:
            return f"model p>={self.threshold:g}"
        if self.coverage is not None:
            sizes = "".join(f" {s}:{v:g}" for s, v in sorted(self.size_coverage, reverse=True))
            return f"model cover {self.coverage:g}{sizes}"
        return f"model top-{self.top_k or 1}"

    @property
    def forces(self) -> bool:
        """True when every node gets exactly one type (the search is replaced)."""
        return self.threshold is None and self.coverage is None and (self.top_k or 1) == 1
