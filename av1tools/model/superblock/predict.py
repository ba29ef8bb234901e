"""The superblock model at prediction time: whole frames (one forward pass for all their
superblocks) and the nodes of a dataset."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from av1tools.model.common import pick_device
from av1tools.model.config import AGREEMENT_DECISION, DECISIONS
from av1tools.model.hierarchy import greedy_decision, stage_probs_from_types
from av1tools.model.predictor import Expand, FrameContext, FramePrediction, expander
from av1tools.model.superblock.checkpoint import load_superblock
from av1tools.model.superblock.data import allowed_bool, batch_tensors, file_superblocks, frame_size_input, windows
from av1tools.model.superblock.layout import (
    LEVEL_OF_SLOT,
    LEVEL_SIZES,
    SB,
    SLOT_DX,
    SLOT_DY,
    SLOT_SIZE,
    SLOTS,
    SuperblockIndex,
    frame_allowed,
    level_cells,
    parent_cells,
    slot_index,
    superblock_keys,
)
from av1tools.partition import NUM_PARTITIONS


class SuperblockPredictor:
    """A trained superblock model ready to predict (a ``Predictor``): one forward pass per
    superblock, all superblocks of a frame at once."""

    kind = "superblock"

    def __init__(self, run_dir: str | os.PathLike, device: str = "auto", decision: str = AGREEMENT_DECISION):
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}")
        self.run_dir = Path(run_dir)
        self.device = pick_device(device)
        self.decision = decision
        self.net, self.extra = load_superblock(self.run_dir)
        self.net.to(self.device)
        self.margin = self.net.config.margin
        # per level, fitted on the validation split (older checkpoints: none, 1)
        temperatures = torch.tensor(self.extra.get("temperatures", [1.0] * len(LEVEL_SIZES)), dtype=torch.float32)
        self.slot_temperature = temperatures[torch.from_numpy(LEVEL_OF_SLOT)].view(1, -1, 1).to(self.device)
        self._frames: dict[tuple[int, int], tuple] = {}

    @torch.inference_mode()
    def type_probs(self, batch: dict[str, torch.Tensor]) -> np.ndarray:
        """(N, 85, 10) probabilities over each node's allowed types (0 elsewhere) of a batch
        as ``batch_tensors`` makes it (the superblocks' windows and what else the net reads)."""
        b = {k: v.to(self.device) for k, v in batch.items()}
        logits = self.net(b["pixels"], b["qindex"], b["frame_size"], b["frame_info"]) / self.slot_temperature
        probs = torch.softmax(logits.masked_fill(~b["allowed"], float("-inf")), dim=-1)
        return torch.nan_to_num(probs, nan=0.0).cpu().numpy()  # nodes outside the frame: all zero

    def frame_batch(
        self, luma: np.ndarray, max_value: float, qindex: int, allowed: np.ndarray, xs, ys, context=None
    ) -> dict[str, torch.Tensor]:
        """A frame's superblocks as one batch: their windows, their frame's references' (from
        ``context``, a FrameContext; none: the frame itself), the frame's size and place."""
        h, w = luma.shape
        n, config = len(xs), self.net.config
        references = list(getattr(context, "references", []))[: config.references]
        references += [luma] * (config.references - len(references))  # no reference: the frame itself
        stack = np.stack([windows(picture, xs, ys, self.margin) for picture in [luma, *references]], axis=1)
        info = np.array([getattr(context, name, 0) for name in ("pyramid_level", "hidden", "inter")], np.float32)
        return {
            "pixels": torch.from_numpy(stack.astype(np.float32) / max_value),
            "qindex": torch.full((n,), qindex / 255.0),
            "frame_size": torch.from_numpy(np.tile(frame_size_input(np.array([w]), np.array([h])), (n, 1))),
            "frame_info": torch.from_numpy(np.tile(info * [1 / 6.0, 1, 1], (n, 1)).astype(np.float32)),
            "allowed": torch.from_numpy(allowed),
        }

    def _decide(self, probs: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        if self.decision == "product":
            return probs.argmax(axis=1)
        return greedy_decision(stage_probs_from_types(probs), allowed)

    def _frame_layout(self, width: int, height: int):
        if (width, height) not in self._frames:
            self._frames[(width, height)] = frame_allowed(width, height)
        return self._frames[(width, height)]

    def predict_frame(
        self,
        luma: np.ndarray,
        max_value: float,
        qindex: int,
        sb_size: int = SB,
        walk: str | Expand = "split",
        display_index: int = 0,
        context: FrameContext | None = None,
    ) -> FramePrediction:
        """Every node the walk reaches (``walk``: "split", "all" or a function of (probs,
        decisions, node size)); one forward pass for all the frame's superblocks."""
        if sb_size != SB:
            raise ValueError("the superblock model predicts 64x64 superblocks only")
        start = time.perf_counter()
        h, w = luma.shape
        xs, ys, allowed = self._frame_layout(w, h)
        probs = self.type_probs(self.frame_batch(luma, max_value, qindex, allowed, xs, ys, context))
        expand = expander(walk)
        n = len(xs)
        reach = np.zeros((n, SLOTS), bool)
        reach[:, 0] = allowed[:, 0].any(axis=1)
        decision = np.zeros((n, SLOTS), np.int64)
        for lv in range(len(LEVEL_SIZES)):
            cells = level_cells(lv)
            p, a = probs[:, cells].reshape(-1, NUM_PARTITIONS), allowed[:, cells].reshape(-1, NUM_PARTITIONS)
            valid = a.any(axis=1)
            d = np.zeros(len(p), np.int64)
            d[valid] = self._decide(p[valid], a[valid])
            decision[:, cells] = d.reshape(n, -1)
            if lv + 1 < len(LEVEL_SIZES):
                go = np.zeros(len(p), bool)
                go[valid] = expand(p[valid], d[valid], LEVEL_SIZES[lv])
                go = go.reshape(n, -1) & reach[:, cells]
                child = level_cells(lv + 1)
                reach[:, child] = go[:, parent_cells(lv + 1)] & allowed[:, child].any(axis=2)
        rows, slots = np.nonzero(reach)
        return FramePrediction(
            display_index,
            xs[rows] + SLOT_DX[slots],
            ys[rows] + SLOT_DY[slots],
            SLOT_SIZE[slots],
            probs[rows, slots],
            decision[rows, slots].astype(np.uint8),
            time.perf_counter() - start,
            bool(getattr(context, "hidden", False)),
        )

    def file_node_predictions(self, ds, rows: dict[int, np.ndarray]) -> dict[int, tuple[dict, np.ndarray]]:
        """Per node size, the (derived) stage probabilities and decisions of the nodes
        ``rows`` of an open dataset: its superblocks go through the model once."""
        sbs = file_superblocks(ds, self.net.config)
        allowed = allowed_bool(torch.from_numpy(sbs.allowed.astype(np.int32))).numpy()
        probs = np.concatenate(
            [self.type_probs(batch_tensors(sbs, np.arange(i, min(i + 512, len(sbs))))) for i in range(0, len(sbs), 512)]
        )
        index = SuperblockIndex(superblock_keys(ds.column(SB, "decode_index"), ds.column(SB, "x"), ds.column(SB, "y")))
        out = {}
        for size, sel in rows.items():
            x, y = ds.column(size, "x")[sel].astype(np.int64), ds.column(size, "y")[sel].astype(np.int64)
            sb_rows = index.rows(superblock_keys(ds.column(size, "decode_index")[sel], x, y))
            slots = slot_index(x % SB, y % SB, np.full(len(x), size))
            p, a = probs[sb_rows, slots], allowed[sb_rows, slots]
            out[size] = (stage_probs_from_types(p), self._decide(p, a))
        return out
