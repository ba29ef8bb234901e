"""Simulated speed-up: how much partition-search work a decision map leaves the encoder.

Work unit: luma pixels covered by RD mode searches (the patched encoder counts exactly
this, ``mode_pixels``). Evaluating a non-SPLIT type at a node of size S searches S*S
pixels (its sub-blocks tile the node); SPLIT adds nothing of its own, its children count.

- A guided node evaluates exactly its allowed types: S*S per allowed non-SPLIT type (at
  the frame edge, those the edge allows; the normal search's one rectangular type when
  none is left).
- The unguided baseline searches a fraction ``rho`` of the exhaustive work (every allowed
  type at every node of the full quadtree): libaom's own pruning; ``rho`` is measured.
- Encoder time = ``fixed`` + work, in the same units: ``fixed`` is the per-frame work that
  does not depend on the partition search (loop filters, entropy coding, ...).

``rho`` and ``fixed`` are calibrated by least squares from real encodes' counters and CPU
times (``calibrate``); the report shows how well the simulation then predicts measured runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from av1tools.eval.guided import MapEntry
from av1tools.partition import MIN_NODE_SIZE, Partition, allowed_partitions, edge_allowed, mi_grid_shape

SPLIT_BIT = 1 << Partition.SPLIT


@dataclass(frozen=True)
class Calibration:
    rho: float  # baseline mode pixels / exhaustive-search mode pixels
    fixed_per_frame: float  # per-frame work outside the partition search, in mode pixels
    seconds_per_unit: float  # encoder CPU seconds per mode pixel
    runs: int  # how many encodes it was fitted on

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def exhaustive_pixels(width: int, height: int, sb_size: int) -> int:
    """Mode-search pixels of a search that tries every allowed type at every node."""
    mi_rows, mi_cols = mi_grid_shape(width, height)
    total = 0
    size = sb_size
    xs, ys = np.meshgrid(np.arange(0, mi_cols * 4, sb_size), np.arange(0, mi_rows * 4, sb_size))
    nodes = list(zip(xs.ravel(), ys.ravel()))
    while size >= MIN_NODE_SIZE and nodes:
        per_node = len([p for p in allowed_partitions(size) if p != Partition.SPLIT])
        total += len(nodes) * per_node * size * size
        half = size // 2
        nodes = [
            (x + dx, y + dy)
            for x, y in nodes
            for dy in (0, half)
            for dx in (0, half)
            if (y + dy) // 4 < mi_rows and (x + dx) // 4 < mi_cols
        ]
        size = half
    return total


def guided_pixels(entries: Iterable[MapEntry], width: int, height: int) -> int:
    """Mode-search pixels the patched encoder spends on the nodes of a decision map."""
    mi_rows, mi_cols = mi_grid_shape(width, height)
    total = 0
    for e in entries:
        mask = e.mask
        edge = edge_allowed(e.x, e.y, e.size, mi_rows, mi_cols)
        if edge is not None:
            mask &= sum(1 << int(p) for p in edge)
            if not mask:
                total += e.size * e.size
                continue
        total += bin(mask & ~SPLIT_BIT).count("1") * e.size * e.size
    return total


def calibrate(runs: list[dict]) -> Calibration:
    """Fit from encodes, each {"cpu_seconds", "frames", "mode_pixels", "exhaustive_pixels"}
    (baseline runs must be among them): cpu = a * frames + b * mode_pixels."""
    A = np.array([[r["frames"], r["mode_pixels"]] for r in runs], dtype=float)
    t = np.array([r["cpu_seconds"] for r in runs], dtype=float)
    (a, b), *_ = np.linalg.lstsq(A, t, rcond=None)
    b = max(b, 1e-15)
    baselines = [r for r in runs if r.get("baseline")]
    rho = float(np.mean([r["mode_pixels"] / r["exhaustive_pixels"] for r in baselines])) if baselines else 1.0
    return Calibration(rho=rho, fixed_per_frame=float(max(a, 0.0) / b), seconds_per_unit=float(b), runs=len(runs))


def simulated_time_saving(guided_work: float, frames: int, exhaustive: float, cal: Calibration) -> float:
    """Expected fraction of baseline encoder time saved by a map of ``guided_work`` pixels."""
    fixed = cal.fixed_per_frame * frames
    baseline = fixed + cal.rho * exhaustive
    return 1.0 - (fixed + guided_work) / baseline


def search_work_fraction(guided_work: float, exhaustive: float, cal: Calibration) -> float:
    """Fraction of the baseline's partition-search work the map leaves."""
    return guided_work / (cal.rho * exhaustive)
