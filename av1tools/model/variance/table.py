"""The variance heuristic's table: per (node size, qindex bin, log-variance bin), how often
the encoder chose each of the ten types."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from av1tools.model.common import CheckpointError
from av1tools.model.variance.config import CHECKPOINT, VarianceConfig
from av1tools.partition import NUM_PARTITIONS, allowed_mask
from av1tools.paths import write_text_atomic

SIZES = (64, 32, 16, 8)
KIND = "av1tools-variance-table"
FORMAT = 1


def block_variance(pixels: np.ndarray, max_value: float | np.ndarray) -> np.ndarray:
    """(N,) luma variance of blocks (N, S, S) on the 8-bit scale (so 10-bit data shares the table)."""
    scale = 255.0 / np.asarray(max_value, dtype=np.float64).reshape(-1, 1, 1)
    return (pixels.astype(np.float64) * scale).var(axis=(1, 2))


def bins_of(config: VarianceConfig, variance: np.ndarray, qindex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(variance bin, qindex bin) of each node."""
    v = np.clip((np.log2(1.0 + variance) * 2).astype(int), 0, config.variance_bins - 1)
    q = np.clip(np.asarray(qindex, dtype=int) * config.qindex_bins // 256, 0, config.qindex_bins - 1)
    return v, q


class VarianceTable:
    def __init__(self, config: VarianceConfig, counts: np.ndarray):
        self.config = config
        self.counts = counts  # (sizes, qindex bins, variance bins, 10)

    @classmethod
    def empty(cls, config: VarianceConfig) -> VarianceTable:
        return cls(config, np.zeros((len(SIZES), config.qindex_bins, config.variance_bins, NUM_PARTITIONS), np.int64))

    def add(self, size: int, variance: np.ndarray, qindex: np.ndarray, partition: np.ndarray) -> None:
        v, q = bins_of(self.config, variance, qindex)
        np.add.at(self.counts[SIZES.index(size)], (q, v, np.asarray(partition, dtype=int)), 1)

    def probs(self, size: int, variance: np.ndarray, qindex: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """(N, 10) type probabilities of nodes of ``size``, over their ``allowed`` types."""
        v, q = bins_of(self.config, variance, qindex)
        counts = self.counts[SIZES.index(size)][q, v].astype(np.float64)
        p = (counts + self.config.prior * allowed_mask(size)) * allowed
        total = p.sum(axis=1, keepdims=True)
        return np.where(total > 0, p / np.maximum(total, 1e-12), 0.0)

    def save(self, run_dir: Path, extra: dict) -> Path:
        obj = {"kind": KIND, "format": FORMAT, "config": self.config.to_dict(), "counts": self.counts.tolist()}
        return write_text_atomic(Path(run_dir) / CHECKPOINT, json.dumps(obj | {"extra": extra}))

    @classmethod
    def load(cls, run_dir: Path) -> VarianceTable:
        path = Path(run_dir) / CHECKPOINT
        try:
            obj = json.loads(path.read_text())
        except OSError:
            raise CheckpointError(f"{path}: no such variance table") from None
        except ValueError as e:
            raise CheckpointError(f"{path}: not readable JSON ({e})") from None
        if not isinstance(obj, dict) or obj.get("kind") != KIND or obj.get("format") != FORMAT:
            raise CheckpointError(f"{path}: not an av1tools variance table (format {FORMAT})")
        try:
            config = VarianceConfig(**obj["config"])
            counts = np.asarray(obj["counts"], dtype=np.int64)
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path}: malformed variance table ({e})") from None
        want = (len(SIZES), config.qindex_bins, config.variance_bins, NUM_PARTITIONS)
        if counts.shape != want or (counts < 0).any():
            raise CheckpointError(f"{path}: counts of shape {counts.shape}, expected {want}")
        return cls(config, counts)
