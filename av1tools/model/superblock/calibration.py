"""Confidence you can set: one temperature per tree level, fitted on the validation split
after training, so that a node's probabilities mean what they say (a coverage of 0.9 then
keeps the types that are right about 90% of the time, on clips the model never saw)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from av1tools.model.superblock.data import Superblocks, batch_tensors
from av1tools.model.superblock.layout import LEVEL_OF_SLOT, LEVEL_SIZES

GRID = np.exp(np.linspace(np.log(0.25), np.log(4.0), 97))  # temperatures tried, log-spaced


@dataclass
class ScoredNodes:
    """The coded nodes inside the frame of a set of superblocks, with the network's logits."""

    logits: np.ndarray  # (M, 10) float32, -inf where a type is not allowed
    labels: np.ndarray  # (M,) the encoder's type
    levels: np.ndarray  # (M,) tree level (0: 64x64 ... 3: 8x8)


@torch.no_grad()
def scored_nodes(net: torch.nn.Module, sb: Superblocks, batch_size: int, device) -> ScoredNodes:
    net.eval()
    logits, labels, levels = [], [], []
    level_of_slot = torch.from_numpy(LEVEL_OF_SLOT).to(device)
    for i in range(0, len(sb), batch_size):
        batch = {k: v.to(device) for k, v in batch_tensors(sb, np.arange(i, min(i + batch_size, len(sb)))).items()}
        out = net(batch["pixels"], batch["qindex"], batch["frame_size"], batch["frame_info"])
        out = out.masked_fill(~batch["allowed"], float("-inf"))
        scored = (batch["labels"] >= 0) & batch["inside"]
        logits.append(out[scored].cpu().numpy())
        labels.append(batch["labels"][scored].cpu().numpy())
        levels.append(level_of_slot.expand_as(scored)[scored].cpu().numpy())
    if not logits:
        return ScoredNodes(np.zeros((0, 10), np.float32), np.zeros(0, int), np.zeros(0, int))
    return ScoredNodes(np.concatenate(logits), np.concatenate(labels), np.concatenate(levels))


def log_probs(logits: np.ndarray, temperature: float | np.ndarray = 1.0) -> np.ndarray:
    """Log-softmax of logits / temperature (-inf entries stay -inf)."""
    t = np.asarray(temperature, dtype=np.float64)
    z = logits / (t.reshape(-1, 1) if t.ndim else t)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def nll(nodes: ScoredNodes, temperatures: np.ndarray | None = None) -> float:
    """Mean negative log-likelihood of the encoder's types (with per-level temperatures)."""
    if not len(nodes.labels):
        return float("nan")
    t = np.ones(len(nodes.labels)) if temperatures is None else np.asarray(temperatures)[nodes.levels]
    lp = log_probs(nodes.logits.astype(np.float64), t)
    return float(-lp[np.arange(len(nodes.labels)), nodes.labels].mean())


def fit_temperatures(nodes: ScoredNodes) -> np.ndarray:
    """Per level, the temperature (on a log-spaced grid) that minimises the validation NLL;
    1 for a level with no validation nodes."""
    out = np.ones(len(LEVEL_SIZES))
    for lv in range(len(LEVEL_SIZES)):
        sel = nodes.levels == lv
        if not sel.any():
            continue
        logits, labels = nodes.logits[sel].astype(np.float64), nodes.labels[sel]
        losses = [-log_probs(logits, t)[np.arange(len(labels)), labels].mean() for t in GRID]
        out[lv] = float(GRID[int(np.argmin(losses))])
    return out


def reliability(nodes: ScoredNodes, temperatures: np.ndarray | None = None, bins: int = 10) -> dict:
    """The reliability diagram of the most probable type: per confidence bin, the mean
    confidence, the accuracy and the node count; and the expected calibration error."""
    t = np.ones(len(nodes.labels)) if temperatures is None else np.asarray(temperatures)[nodes.levels]
    p = np.exp(log_probs(nodes.logits.astype(np.float64), t))
    confidence, predicted = p.max(axis=1), p.argmax(axis=1)
    correct = predicted == nodes.labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        sel = which == b
        rows.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "nodes": int(sel.sum()),
                "confidence": float(confidence[sel].mean()) if sel.any() else None,
                "accuracy": float(correct[sel].mean()) if sel.any() else None,
            }
        )
    n = max(len(confidence), 1)
    ece = sum(r["nodes"] / n * abs(r["confidence"] - r["accuracy"]) for r in rows if r["nodes"])
    return {"bins": rows, "ece": float(ece)}
