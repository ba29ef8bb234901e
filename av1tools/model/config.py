"""Every model-side job's settings, written once (nanoGPT-style): the CLI reads its
defaults from here and a run saves them beside its checkpoints. No torch import: the
command line loads this without loading the network code."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from av1tools.model.stages import STAGE_ORDER

LAYERS = ("layer1", "layer2", "layer3", "layer4")
BALANCE = ("weights", "sampler", "focal", "none")


@dataclass(frozen=True)
class ModelConfig:
    input_mode: str = "native"  # "native": blocks at their own size; "resize": all to resize_to
    resize_to: int = 64
    adapter_layers: tuple[str, ...] = ("layer3", "layer4")
    adapter_reduction: int = 4
    stage_strategy: str = "adapter"  # for stages after 1: adapter | frozen | finetune
    head_dropout: float = 0.2

    def to_dict(self) -> dict:
        d = asdict(self)
        d["adapter_layers"] = list(self.adapter_layers)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        d["adapter_layers"] = tuple(d.get("adapter_layers", ()))
        return cls(**d)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 4  # early stopping, epochs without a better validation macro-F1
    lr_patience: int = 1
    lr_factor: float = 0.5
    seed: int = 0
    max_samples: int | None = None  # per stage, training set
    max_val_samples: int | None = None
    balance: str = "sampler"  # measured best of the four (benchmarks/model_choices.py, README)
    device: str = "auto"
    include_border: bool = False
    split: str = "sequence"
    val_fraction: float = 0.25
    val_sequences: tuple[str, ...] = ()
    cache: bool | None = None  # pixels in memory; None: when they fit in CACHE_BYTES
    workers: int = 0
    progress: bool = True


@dataclass(frozen=True)
class SuperblockConfig:
    """The superblock model (one pass per 64x64 superblock, every node's ten types)."""

    widths: tuple[int, ...] = (16, 24, 32, 48, 64)  # channels at strides 4, 8, 16, 32, 64 (measured: README)
    level_weights: str = "node"  # "node": each node weighs the same in the loss; "equal": each tree level
    uncoded: str = "mask"  # nodes the encoder never coded: "mask" (no loss) or "implied" (NONE inside a NONE)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SuperblockConfig:
        d = dict(d)
        d["widths"] = tuple(d["widths"])
        return cls(**d)


ARCHS = ("staged", "superblock")


@dataclass(frozen=True)
class TrainJob:
    """One ``train`` run: data, where it goes, and the model and training settings."""

    data: tuple[str, ...]
    out: Path
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    stages: tuple[str, ...] = STAGE_ORDER
    arch: str = "staged"  # "staged" (the reference study's) or "superblock"
    superblock: SuperblockConfig = field(default_factory=SuperblockConfig)
    stream: bool = False  # superblock model: read shards in worker processes (bounded memory)


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
class TransferConfig:
    """The study's settings. The defaults finish on a 2-core CPU in under an hour on the
    demo's data (README); ``quick`` is a smoke run of the whole study."""

    data: tuple[str, ...]
    out: Path
    seeds: int | None = None  # None: 3, or 2 for a quick run (the fewest that give an interval)
    first_seed: int = 0
    epochs: int = 6
    max_samples: int | None = 12000  # training nodes per stage (Stage 1 and Stage 2)
    max_val_samples: int | None = 6000
    patience: int = 3
    quick: bool = False
    device: str = "auto"
    ablations: bool = True  # the reduction sweep and the layer ablation besides the three strategies

    def seed_list(self) -> list[int]:
        n = self.seeds or (2 if self.quick else 3)
        return list(range(self.first_seed, self.first_seed + n))

    def training(self, seed: int) -> TrainConfig:
        if self.quick:
            return TrainConfig(
                epochs=min(self.epochs, 4),
                max_samples=min(self.max_samples or 6000, 6000),
                max_val_samples=min(self.max_val_samples or 3000, 3000),
                patience=3,
                seed=seed,
                device=self.device,
                progress=False,
            )
        return TrainConfig(
            epochs=self.epochs,
            max_samples=self.max_samples,
            max_val_samples=self.max_val_samples,
            patience=self.patience,
            seed=seed,
            device=self.device,
            progress=False,
        )
