"""The superblock model's settings (no torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

LEVEL_WEIGHTS = ("node", "equal")
UNCODED = ("mask", "implied")


@dataclass(frozen=True)
class SuperblockConfig:
    """The superblock model (one pass per 64x64 superblock, every node's ten types)."""

    CHOICES: ClassVar[dict] = {"level_weights": LEVEL_WEIGHTS, "uncoded": UNCODED}

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


CHECKPOINT = "superblock.pt"  # a superblock run directory holds this file
