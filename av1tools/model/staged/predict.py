"""The staged model at prediction time: it walks each superblock's tree top-down, a frame at
a time.

At every visited node it gives the ten types' probabilities (the product of the stage
probabilities along each type's path, restricted to what the node's size and the frame edge
allow) and a decision (the most probable allowed type, or stage by stage). It descends only
through predicted SPLITs, or through every node with ``walk="all"``. All nodes of one tree
level of a frame go through the network as one batch, and the trunk layers the stages share
run once.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from av1tools.model.common import pick_device
from av1tools.model.config import AGREEMENT_DECISION, DECISIONS
from av1tools.model.hierarchy import STAGE_ORDER, allowed_class_masks, combine, greedy_decision
from av1tools.model.predictor import Expand, FramePrediction, expander, walk_frame
from av1tools.model.staged.checkpoint import checkpoint_path, load_staged_net, read_checkpoint
from av1tools.model.staged.data import SIZE_INDEX
from av1tools.model.staged.net import StagedNet
from av1tools.partition import NUM_PARTITIONS, allowed_mask


class StagedPredictor:
    """A trained staged model (a ``train`` run directory) ready to predict: per-node stage
    probabilities, ten-type probabilities and decisions, and whole frames' trees."""

    kind = "staged"

    def __init__(
        self,
        run_dir: str | os.PathLike,
        device: str = "auto",
        batch_size: int = 1024,
        decision: str = AGREEMENT_DECISION,
    ):
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}")
        self.decision = decision
        self.run_dir = Path(run_dir)
        self.device = pick_device(device)
        self.model: StagedNet = load_staged_net(self.run_dir, device=self.device)
        self.untrained = {
            s for s in STAGE_ORDER if read_checkpoint(checkpoint_path(self.run_dir, s))["extra"].get("untrained")
        }
        self.batch_size = batch_size
        self.masks = {s: allowed_class_masks(s) for s in STAGE_ORDER}

    @torch.no_grad()
    def stage_probs(self, pixels: np.ndarray, qindex: np.ndarray, size: int) -> dict[str, np.ndarray]:
        """Per stage, (N, classes) probabilities of same-size blocks ``pixels`` in [0, 1]."""
        out: dict[str, list[np.ndarray]] = {s: [] for s in STAGE_ORDER}
        size_row = SIZE_INDEX[size]
        for i in range(0, len(pixels), self.batch_size):
            px = torch.from_numpy(np.ascontiguousarray(pixels[i : i + self.batch_size], dtype=np.float32))
            px = px[:, None].to(self.device)
            q = torch.from_numpy(qindex[i : i + self.batch_size].astype(np.float32) / 255.0).to(self.device)
            s = torch.full((len(px),), size_row, dtype=torch.long, device=self.device)
            prefix = self.model.trunk_prefix(px, size_row)
            for stage in STAGE_ORDER:
                allowed = torch.from_numpy(self.masks[stage][size_row]).to(self.device)
                if not allowed.any():  # e.g. AB at 8x8: the stage's path has probability 0
                    out[stage].append(np.zeros((len(px), len(allowed)), dtype=np.float32))
                    continue
                if stage in self.untrained:  # no data to learn from: uniform over allowed classes
                    logits = torch.zeros(len(px), len(allowed), device=self.device)
                else:
                    logits = self.model(stage, px, q, s, prefix=prefix)
                logits = logits.masked_fill(~allowed, float("-inf"))
                out[stage].append(torch.softmax(logits, dim=1).cpu().numpy())
        return {s: np.concatenate(v) for s, v in out.items()}

    def predict_nodes(
        self, pixels: np.ndarray, qindex: np.ndarray, size: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(N, 10) probabilities over the allowed types and (N,) decisions for same-size
        blocks; ``allowed`` (N, 10) narrows the size's types further (frame edges)."""
        return self.decide(self.stage_probs(pixels, qindex, size), size, allowed)

    def file_node_predictions(self, ds, rows: dict[int, np.ndarray]) -> dict[int, tuple[dict, np.ndarray]]:
        """Per node size, the stage probabilities and decisions of the nodes ``rows`` of an
        open dataset (rows within its blocks/SxS)."""
        out = {}
        for size, sel in rows.items():
            pixels = ds.pixels(size)[sel].astype(np.float32) / ds.attrs.max_value
            probs = self.stage_probs(pixels, ds.column(size, "qindex")[sel], size)
            out[size] = (probs, self.decide(probs, size)[1])
        return out

    def decide(
        self, stage_probs: dict[str, np.ndarray], size: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``predict_nodes`` from stage probabilities already computed."""
        n = len(stage_probs["stage1"])
        if allowed is None:
            allowed = np.broadcast_to(allowed_mask(size), (n, NUM_PARTITIONS))
        probs = combine(stage_probs) * allowed
        probs /= np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
        if self.decision == "product":
            decision = probs.argmax(axis=1)
        else:
            decision = greedy_decision(stage_probs, allowed)
        return probs, decision.astype(np.uint8)

    def predict_frame(
        self,
        luma: np.ndarray,
        max_value: float,
        qindex: int,
        sb_size: int = 64,
        walk: str | Expand = "split",
        display_index: int = 0,
        context=None,  # a FrameContext: this model reads a frame's own luma only
    ) -> FramePrediction:
        """The frame's nodes, level by level from the superblocks: ``walk`` "split" descends
        below predicted SPLITs, "all" below every node, or a function of (probs, decisions)
        says below which (an operating point visits only the nodes it needs)."""

        def level(pixels: np.ndarray, size: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return self.predict_nodes(pixels, np.full(len(pixels), qindex), size, allowed)

        hidden = bool(getattr(context, "hidden", False))
        return walk_frame(luma, max_value, sb_size, level, expander(walk), display_index, hidden)
