"""The clips a study encodes: the evaluated ones and the calibration clip."""

from __future__ import annotations

from dataclasses import dataclass

from av1tools.extract.sequences import SequenceRef
from av1tools.extract.y4m import Y4MReader


@dataclass(frozen=True)
class Clip:
    ref: SequenceRef
    width: int
    height: int
    frames: int
    bit_depth: int
    calibration: bool = False  # encoded only to calibrate the speed-up simulation

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @classmethod
    def open(cls, ref: SequenceRef, frames: int | None, calibration: bool = False) -> Clip:
        with Y4MReader(ref.path) as r:
            return cls(ref, r.width, r.height, min(frames or len(r), len(r)), r.bit_depth, calibration)
