"""The staged hierarchy over the ten AV1 partition types.

    Stage 1      NONE | PARTITION
    Stage 2      SPLIT | RECT | AB                 (partitioned nodes)
    Stage 3-RECT HORZ | VERT | HORZ_4 | VERT_4     (RECT nodes)
    Stage 3-AB   HORZ_A | HORZ_B | VERT_A | VERT_B (AB nodes)

HORZ_4/VERT_4 sit inside RECT: they are directional stripes like HORZ/VERT, only finer, so
Stage 2 keeps the reference study's three classes (its numbers stay comparable) and Stage 3-RECT
resolves direction and granularity together. Every type is reachable: the probability of a
type is the product of the class probabilities along its path.

Both model families use it: the staged model predicts along it, and the ten-type
probabilities of any model map onto it (``stage_probs_from_types``), so ``evaluate`` scores
every model per stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from av1tools.partition import NODE_SIZES, NUM_PARTITIONS, Partition, allowed_mask


@dataclass(frozen=True)
class Stage:
    name: str
    classes: tuple[str, ...]
    members: tuple[tuple[Partition, ...], ...]  # the partition types of each class

    def label_of(self) -> np.ndarray:
        """A lookup table partition -> class index, -1 where the stage does not apply."""
        table = np.full(NUM_PARTITIONS, -1, dtype=np.int64)
        for c, parts in enumerate(self.members):
            table[list(parts)] = c
        return table

    def allowed(self, size: int) -> np.ndarray:
        """Boolean per class: can a node of ``size`` take this class at all?"""
        return self.classes_of(allowed_mask(size))

    def classes_of(self, mask: np.ndarray) -> np.ndarray:
        """Per class, whether it holds a type ``mask`` allows ((..., 10) booleans -> (..., classes))."""
        return np.stack([mask[..., list(parts)].any(axis=-1) for parts in self.members], axis=-1)


P = Partition
RECT_TYPES = (P.HORZ, P.VERT, P.HORZ_4, P.VERT_4)
AB_TYPES = (P.HORZ_A, P.HORZ_B, P.VERT_A, P.VERT_B)

STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage("stage1", ("NONE", "PARTITION"), ((P.NONE,), (P.SPLIT,) + RECT_TYPES + AB_TYPES)),
        Stage("stage2", ("SPLIT", "RECT", "AB"), ((P.SPLIT,), RECT_TYPES, AB_TYPES)),
        Stage("stage3_rect", tuple(p.name for p in RECT_TYPES), tuple((p,) for p in RECT_TYPES)),
        Stage("stage3_ab", tuple(p.name for p in AB_TYPES), tuple((p,) for p in AB_TYPES)),
    )
}
STAGE_ORDER = tuple(STAGES)


def allowed_class_masks(stage: str) -> np.ndarray:
    """(len(NODE_SIZES), classes) booleans, rows in NODE_SIZES order."""
    return np.stack([STAGES[stage].allowed(s) for s in NODE_SIZES])


def combine(probs: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 10) type probabilities from each stage's (N, classes) probabilities."""
    p1, p2 = probs["stage1"], probs["stage2"]
    out = np.zeros((len(p1), NUM_PARTITIONS), dtype=np.float64)
    out[:, P.NONE] = p1[:, 0]
    out[:, P.SPLIT] = p1[:, 1] * p2[:, 0]
    for i, t in enumerate(RECT_TYPES):
        out[:, t] = p1[:, 1] * p2[:, 1] * probs["stage3_rect"][:, i]
    for i, t in enumerate(AB_TYPES):
        out[:, t] = p1[:, 1] * p2[:, 2] * probs["stage3_ab"][:, i]
    return out


def greedy_decision(probs: dict[str, np.ndarray], allowed: np.ndarray) -> np.ndarray:
    """The staged pipeline's decision: the most probable class at Stage 1, then at Stage 2,
    then at Stage 3, each among the classes holding at least one ``allowed`` type
    ((N, 10) booleans). Unlike the argmax of the product probabilities, it does not let
    the two-way Stage 1 crowd out the rarer types below it. (Vectorised over the nodes: a
    frame's nodes at once.)"""
    allowed = np.asarray(allowed, dtype=bool)
    partition = _best_of(probs["stage1"], STAGES["stage1"].classes_of(allowed)) == 1
    c2 = _best_of(probs["stage2"], STAGES["stage2"].classes_of(allowed))
    rect = np.asarray(RECT_TYPES)[_best_of(probs["stage3_rect"], allowed[:, list(RECT_TYPES)])]
    ab = np.asarray(AB_TYPES)[_best_of(probs["stage3_ab"], allowed[:, list(AB_TYPES)])]
    below = np.where(c2 == 0, int(P.SPLIT), np.where(c2 == 1, rect, ab))
    return np.where(partition, below, int(P.NONE)).astype(np.int64)


def _best_of(p: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Per row, the most probable class among the ``ok`` ones (the first on a tie)."""
    return np.where(ok, np.asarray(p, dtype=float).reshape(ok.shape), -1.0).argmax(axis=1)


def stage_probs_from_types(p: np.ndarray) -> dict[str, np.ndarray]:
    """The hierarchy's class probabilities implied by ten-type probabilities ``p`` (N, 10)
    (conditional on each stage's parent class, as the staged model's heads are)."""

    def norm(x: np.ndarray) -> np.ndarray:
        total = x.sum(axis=1, keepdims=True)
        return np.where(total > 0, x / np.maximum(total, 1e-12), 1.0 / x.shape[1])

    part = p[:, [t for t in range(NUM_PARTITIONS) if t != P.NONE]].sum(axis=1)
    return {
        "stage1": np.stack([p[:, P.NONE], part], axis=1),
        "stage2": norm(np.stack([p[:, P.SPLIT], p[:, list(RECT_TYPES)].sum(1), p[:, list(AB_TYPES)].sum(1)], axis=1)),
        "stage3_rect": norm(p[:, list(RECT_TYPES)]),
        "stage3_ab": norm(p[:, list(AB_TYPES)]),
    }
