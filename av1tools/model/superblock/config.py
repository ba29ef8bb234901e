"""The superblock model's settings (no torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

LEVEL_WEIGHTS = ("node", "equal")
FRAME_INFO = 3  # the frame's pyramid level / 6, whether it is hidden, whether it is an inter frame
UNCODED = ("mask", "implied")


@dataclass(frozen=True)
class SuperblockConfig:
    """The superblock model (one pass per 64x64 superblock, every node's ten types)."""

    CHOICES: ClassVar[dict] = {"level_weights": LEVEL_WEIGHTS, "uncoded": UNCODED}

    widths: tuple[int, ...] = (16, 24, 32, 48, 64)  # channels at strides 4, 8, 16, 32, 64 (measured: README)
    level_weights: str = "node"  # "node": each node weighs the same in the loss; "equal": each tree level
    uncoded: str = "mask"  # nodes the encoder never coded: "mask" (no loss) or "implied" (NONE inside a NONE)
    margin: int = 0  # context: pixels of the frame around the superblock seen too, each side (0, 16, 32)
    activity: bool = False  # context: a local-activity channel (5x5 standard deviation) beside the luma
    frame_size: bool = False  # context: the frame's width and height (log2) beside the qindex
    references: int = 0  # motion: co-located windows of the frame's nearest past (1) and future (2) reference
    frame_info: bool = False  # motion: the frame's pyramid level, hidden flag and type beside the qindex

    def __post_init__(self) -> None:
        if len(self.widths) != 5 or min(self.widths) < 1:
            raise ValueError(f"widths must be five positive integers, not {self.widths}")
        if self.margin not in (0, 16, 32):
            raise ValueError(f"margin must be 0, 16 or 32 pixels, not {self.margin}")
        if self.references not in (0, 1, 2):
            raise ValueError(f"references must be 0, 1 or 2, not {self.references}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SuperblockConfig:
        d = dict(d)
        d["widths"] = tuple(d["widths"])
        return cls(**d)

    @property
    def input_channels(self) -> tuple[str, ...]:
        """The stem's input channels, in order (what a warm start matches by name)."""
        return ("luma",) + ("activity",) * self.activity + ("past", "future")[: self.references]

    @property
    def scalars(self) -> tuple[str, ...]:
        """The inputs beside the qindex embedding reads, in order."""
        size = ("log2 width", "log2 height") * self.frame_size
        return ("qindex",) + size + ("pyramid level", "hidden", "inter") * self.frame_info

    @property
    def window(self) -> int:
        """The side of the luma window the network reads: the superblock and its margin."""
        return 64 + 2 * self.margin


CHECKPOINT = "superblock.pt"  # a superblock run directory holds this file
