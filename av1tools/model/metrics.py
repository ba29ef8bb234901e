"""Classification metrics: confusion matrices and per-class / macro F1."""

from __future__ import annotations

import numpy as np


def confusion(truth: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts, rows = truth, columns = prediction."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(truth, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    return m


def per_class(matrix: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(matrix).astype(np.float64)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual}


def macro_f1(matrix: np.ndarray) -> float:
    """Mean F1 over the classes that occur in the truth or the predictions (sklearn's
    convention for labels=None); 0 for an empty matrix."""
    present = (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0
    if not present.any():
        return 0.0
    return float(per_class(matrix)["f1"][present].mean())


def accuracy(matrix: np.ndarray) -> float:
    total = matrix.sum()
    return float(np.trace(matrix) / total) if total else 0.0


def report(matrix: np.ndarray, names: tuple[str, ...] | list[str]) -> dict:
    pc = per_class(matrix)
    return {
        "macro_f1": macro_f1(matrix),
        "accuracy": accuracy(matrix),
        "samples": int(matrix.sum()),
        "per_class": {
            n: {
                "precision": float(pc["precision"][i]),
                "recall": float(pc["recall"][i]),
                "f1": float(pc["f1"][i]),
                "support": int(pc["support"][i]),
            }
            for i, n in enumerate(names)
        },
        "confusion": matrix.tolist(),
        "classes": list(names),
    }
