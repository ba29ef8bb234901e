"""``predict``: every frame's predicted trees of a sequence, written in the dataset's layout."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from av1tools.configs import plain
from av1tools.extract.sequences import open_sequence
from av1tools.extract.y4m import Y4MReader
from av1tools.model.config import PredictConfig
from av1tools.model.families import load_predictor
from av1tools.model.predictor import FramePrediction, Predictor
from av1tools.partition import cq_level_to_qindex
from av1tools.paths import atomic_output, output_dir


def write_predictions(path: Path, preds: list[FramePrediction], attrs: dict) -> None:
    """Predictions in the dataset's layout: ``blocks/SxS/{display_index,x,y,probs,decision}``."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        for k, v in attrs.items():
            f.attrs[k] = v
        size = np.concatenate([p.size for p in preds])
        columns = {
            "display_index": np.concatenate([np.full(len(p.x), p.display_index, np.int32) for p in preds]),
            "x": np.concatenate([p.x for p in preds]).astype(np.int32),
            "y": np.concatenate([p.y for p in preds]).astype(np.int32),
            "probs": np.concatenate([p.probs for p in preds]).astype(np.float32),
            "decision": np.concatenate([p.decision for p in preds]),
        }
        for s in np.unique(size):
            g = f.create_group(f"blocks/{s}x{s}")
            for name, values in columns.items():
                g.create_dataset(name, data=values[size == s], compression="gzip")
        f.create_dataset("frame_seconds", data=np.array([p.seconds for p in preds]))


def predict_sequence(
    predictor: Predictor,
    reader: Y4MReader,
    qindex: int,
    sb_size: int = 64,
    walk: str = "split",
    frames: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[FramePrediction]:
    n = min(frames or len(reader), len(reader))
    max_value = float((1 << reader.bit_depth) - 1)
    out = []
    for i in range(n):
        out.append(predictor.predict_frame(reader.read_luma(i), max_value, qindex, sb_size, walk, i))
        if progress:
            progress(i + 1, n)
    return out


@dataclass(frozen=True)
class PredictResult:
    path: Path
    frames: int
    nodes: int
    seconds: float  # the model's time over all frames

    def to_dict(self) -> dict:
        return {
            "predictions": str(self.path),
            "frames": self.frames,
            "nodes": self.nodes,
            "seconds": round(self.seconds, 3),
        }


def predict(config: PredictConfig, progress: Callable[[int, int], None] | None = None) -> PredictResult:
    """Every frame's predicted trees of ``config.sequence``, written to ``config.out``."""
    predictor = load_predictor(config.model, config.device, config.decision)
    qindex = cq_level_to_qindex(config.cq_level)
    ref, reader = open_sequence(config.sequence)
    with reader, output_dir(config.out.parent):  # made before the work, removed if it fails
        preds = predict_sequence(predictor, reader, qindex, config.sb_size, config.walk, config.frames, progress)
        attrs = {
            "model": str(Path(config.model).resolve()),
            "sequence": ref.name,
            "sequence_path": str(Path(reader.path).resolve()),
            "width": reader.width,
            "height": reader.height,
            "cq_level": config.cq_level,
            "qindex": qindex,
            "sb_size": config.sb_size,
            "walk": config.walk,
            "decision": config.decision,
            "frames": len(preds),
            "device": str(predictor.device),
            "config": json.dumps(plain(config), sort_keys=True),  # the whole job, as every run saves it
        }
        write_predictions(config.out, preds, attrs)
    return PredictResult(config.out, len(preds), int(sum(len(p.x) for p in preds)), sum(p.seconds for p in preds))
