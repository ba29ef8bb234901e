"""The staged model's settings and its transfer study's (no torch: the command line reads
its defaults from here without loading the network code)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

from av1tools.model.config import TrainConfig

LAYERS = ("layer1", "layer2", "layer3", "layer4")
STRATEGIES = ("adapter", "frozen", "finetune")
INPUT_MODES = ("native", "resize")
CHECKPOINT = "stage1.pt"  # a staged run directory holds this file (later stages add theirs)


@dataclass(frozen=True)
class StagedConfig:
    """The staged network: a ResNet-18 trunk, Conv-Adapter branches, heads."""

    CHOICES: ClassVar[dict] = {"input_mode": INPUT_MODES, "adapter_layers": LAYERS, "stage_strategy": STRATEGIES}

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
    def from_dict(cls, d: dict) -> StagedConfig:
        d = dict(d)
        d["adapter_layers"] = tuple(d.get("adapter_layers", ()))
        return cls(**d)


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
