"""The superblock model at prediction time: checkpoints, whole frames, dataset nodes, and
the model shipped with av1tools (``--model default``)."""

from __future__ import annotations

import os
import pickle
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

from av1tools.extract.dataset import node_pixels
from av1tools.model.checkpoint import CheckpointError
from av1tools.model.config import AGREEMENT_DECISION, DECISIONS, SuperblockConfig
from av1tools.model.stages import AB_TYPES, RECT_TYPES, greedy_decision
from av1tools.model.superblock import (
    LEVEL_OFFSET,
    LEVEL_SIZES,
    LEVEL_SLOTS,
    SB,
    SLOT_DX,
    SLOT_DY,
    SLOT_SIZE,
    SLOTS,
    SuperblockNet,
    frame_allowed,
    slot_index,
)
from av1tools.model.train import pick_device
from av1tools.partition import NUM_PARTITIONS, Partition
from av1tools.paths import atomic_output

SUPERBLOCK_CHECKPOINT = "superblock.pt"
KIND = "av1tools-superblock"
FORMAT = 1
ZOO = Path(__file__).resolve().parent.parent / "zoo"


def default_model_dir() -> Path:
    """The superblock model shipped inside the package (trained by `make default-model`)."""
    path = ZOO / "default"
    if not (path / SUPERBLOCK_CHECKPOINT).is_file():
        raise CheckpointError(f"{path}: the default model is missing from this installation")
    return path


def save_superblock(net: SuperblockNet, run_dir: Path, extra: dict) -> Path:
    path = Path(run_dir) / SUPERBLOCK_CHECKPOINT
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    with atomic_output(path) as tmp:
        torch.save(
            {"kind": KIND, "format": FORMAT, "config": net.config.to_dict(), "state": state, "extra": extra}, tmp
        )
    return path


def load_superblock(run_dir: Path) -> tuple[SuperblockNet, dict]:
    path = Path(run_dir) / SUPERBLOCK_CHECKPOINT
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError) as e:
        raise CheckpointError(f"{path}: corrupted or not a torch checkpoint ({str(e).splitlines()[0][:90]})") from None
    if not isinstance(obj, dict) or obj.get("kind") != KIND or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an av1tools superblock checkpoint (format {FORMAT})")
    net = SuperblockNet(SuperblockConfig.from_dict(obj["config"]))
    try:
        net.load_state_dict(obj["state"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: does not fit the model ({str(e).splitlines()[0][:90]})") from None
    return net.eval(), obj.get("extra", {})


def stage_probs_from_types(p: np.ndarray) -> dict[str, np.ndarray]:
    """The staged hierarchy's class probabilities implied by ten-type probabilities
    (conditional on each stage's parent class, as the staged model's heads are)."""

    def norm(x: np.ndarray) -> np.ndarray:
        total = x.sum(axis=1, keepdims=True)
        return np.where(total > 0, x / np.maximum(total, 1e-12), 1.0 / x.shape[1])

    part = p[:, [t for t in range(NUM_PARTITIONS) if t != Partition.NONE]].sum(axis=1)
    return {
        "stage1": np.stack([p[:, Partition.NONE], part], axis=1),
        "stage2": norm(
            np.stack([p[:, Partition.SPLIT], p[:, list(RECT_TYPES)].sum(1), p[:, list(AB_TYPES)].sum(1)], axis=1)
        ),
        "stage3_rect": norm(p[:, list(RECT_TYPES)]),
        "stage3_ab": norm(p[:, list(AB_TYPES)]),
    }


class SuperblockPredictor:
    """A trained superblock model ready to predict (the same interface as the staged
    ``Predictor``): one forward pass per superblock, all superblocks of a frame at once."""

    kind = "superblock"

    def __init__(self, run_dir: str | os.PathLike, device: str = "auto", decision: str = AGREEMENT_DECISION):
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}")
        self.run_dir = Path(run_dir)
        self.device = pick_device(device)
        self.decision = decision
        self.net, self.extra = load_superblock(self.run_dir)
        self.net.to(self.device)
        self._frames: dict[tuple[int, int], tuple] = {}

    @torch.inference_mode()
    def type_probs(self, pixels: np.ndarray, qindex: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """(N, 85, 10) probabilities over each node's allowed types (0 elsewhere) for N
        superblocks ``pixels`` (N, 64, 64) in [0, 1]."""
        x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))[:, None].to(self.device)
        q = torch.from_numpy(np.asarray(qindex, dtype=np.float32) / 255.0).to(self.device)
        mask = torch.from_numpy(allowed).to(self.device)
        logits = self.net(x, q).masked_fill(~mask, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        return torch.nan_to_num(probs, nan=0.0).cpu().numpy()  # nodes outside the frame: all zero

    def _decide(self, probs: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        if self.decision == "product":
            return probs.argmax(axis=1)
        return greedy_decision(stage_probs_from_types(probs), allowed)

    def _frame_layout(self, width: int, height: int):
        if (width, height) not in self._frames:
            self._frames[(width, height)] = frame_allowed(width, height)
        return self._frames[(width, height)]

    def predict_frame(
        self, luma: np.ndarray, max_value: float, qindex: int, sb_size: int = SB, walk="split", display_index: int = 0
    ):
        """Every node the walk reaches (``walk``: "split", "all" or a function of (probs,
        decisions)); one forward pass for all the frame's superblocks."""
        from av1tools.model.predict import FramePrediction, _expander

        if sb_size != SB:
            raise ValueError("the superblock model predicts 64x64 superblocks only")
        start = time.perf_counter()
        h, w = luma.shape
        xs, ys, allowed = self._frame_layout(w, h)
        pixels = node_pixels(luma, xs, ys, SB).astype(np.float32) / max_value
        probs = self.type_probs(pixels, np.full(len(xs), qindex), allowed)
        expand = _expander(walk)
        n = len(xs)
        reach = np.zeros((n, SLOTS), bool)
        reach[:, 0] = allowed[:, 0].any(axis=1)
        decision = np.zeros((n, SLOTS), np.int64)
        for lv, size in enumerate(LEVEL_SIZES):
            cells = slice(LEVEL_OFFSET[lv], LEVEL_OFFSET[lv] + LEVEL_SLOTS[lv])
            p, a = probs[:, cells].reshape(-1, NUM_PARTITIONS), allowed[:, cells].reshape(-1, NUM_PARTITIONS)
            valid = a.any(axis=1)
            d = np.zeros(len(p), np.int64)
            d[valid] = self._decide(p[valid], a[valid])
            decision[:, cells] = d.reshape(n, -1)
            if lv + 1 < len(LEVEL_SIZES):
                go = np.zeros(len(p), bool)
                go[valid] = expand(p[valid], d[valid])
                go = go.reshape(n, -1) & reach[:, cells]
                per_row = SB // size
                child = np.arange(LEVEL_OFFSET[lv + 1], LEVEL_OFFSET[lv + 1] + LEVEL_SLOTS[lv + 1])
                parent = (SLOT_DY[child] // size) * per_row + SLOT_DX[child] // size  # within this level
                reach[:, child] = go[:, parent] & allowed[:, child].any(axis=2)
        rows, slots = np.nonzero(reach)
        return FramePrediction(
            display_index,
            xs[rows] + SLOT_DX[slots],
            ys[rows] + SLOT_DY[slots],
            SLOT_SIZE[slots],
            probs[rows, slots],
            decision[rows, slots].astype(np.uint8),
            time.perf_counter() - start,
        )

    def file_node_predictions(self, ds, rows: dict[int, np.ndarray]) -> dict[int, tuple[dict, np.ndarray]]:
        """Per node size, the (derived) stage probabilities and decisions of the nodes
        ``rows`` of an open dataset: its superblocks go through the model once."""
        from av1tools.model.superblock_data import allowed_bool, file_superblocks

        sbs = file_superblocks(ds)
        allowed = allowed_bool(torch.from_numpy(sbs.allowed.astype(np.int32))).numpy()
        probs = np.concatenate(
            [
                self.type_probs(
                    sbs.pixels[i : i + 512].astype(np.float32) / sbs.max_value[i : i + 512, None, None],
                    sbs.qindex[i : i + 512],
                    allowed[i : i + 512],
                )
                for i in range(0, len(sbs), 512)
            ]
        )
        frame = ds.column(SB, "display_index").astype(np.int64)
        sx, sy = ds.column(SB, "x").astype(np.int64), ds.column(SB, "y").astype(np.int64)
        key = (frame << 32) | ((sy // SB) << 16) | (sx // SB)
        order = np.argsort(key)
        out = {}
        for size, sel in rows.items():
            f = ds.column(size, "display_index")[sel].astype(np.int64)
            x, y = ds.column(size, "x")[sel].astype(np.int64), ds.column(size, "y")[sel].astype(np.int64)
            sb_rows = order[np.searchsorted(key[order], (f << 32) | ((y // SB) << 16) | (x // SB))]
            slots = slot_index(x % SB, y % SB, np.full(len(x), size))
            p, a = probs[sb_rows, slots], allowed[sb_rows, slots]
            out[size] = (stage_probs_from_types(p), self._decide(p, a))
        return out
