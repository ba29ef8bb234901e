"""evaluate: how often the staged model agrees with the encoder.

Per stage and end to end (the ten types), on every node that lies inside the frame:
macro-F1, per-class precision/recall/F1, accuracy and confusion matrices, broken down by
node size and QP; plus the share of superblocks whose whole predicted tree (the top-down
walk) equals the encoder's, and the search work the predicted trees would leave.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Sequence

import h5py
import numpy as np

from av1tools.eval.guided import prediction_entries
from av1tools.eval.speedup import Calibration, exhaustive_pixels, guided_pixels, search_work_fraction
from av1tools.extract.dataset import node_group
from av1tools.model.data import load_index
from av1tools.model.metrics import confusion, report
from av1tools.model.stages import STAGES, STAGE_ORDER
from av1tools.partition import NODE_SIZES, PARTITION_NAMES, Node, Partition, frame_nodes

Log = Callable[[str], None]


def _frame_lumas(f: h5py.File, sb: int) -> dict[int, np.ndarray]:
    """Every shown frame's luma, re-assembled from its superblock nodes' pixels."""
    g = f[node_group(sb)]
    frames, xs, ys, pixels = g["frame"][:], g["x"][:], g["y"][:], g["pixels"][:]
    height, width = int(f.attrs["height"]), int(f.attrs["width"])
    out = {}
    for frame in np.unique(frames):
        sel = np.flatnonzero(frames == frame)
        canvas = np.zeros((int(ys[sel].max()) + sb, int(xs[sel].max()) + sb), dtype=pixels.dtype)
        for i in sel:
            canvas[ys[i]:ys[i] + sb, xs[i]:xs[i] + sb] = pixels[i]
        out[int(frame)] = canvas[:height, :width]
    return out


def _node_predictions(predictor, index, log: Log) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Stage probabilities and the 10-type decision of every node in the index."""
    n = len(index)
    stage = {s: np.zeros((n, len(STAGES[s].classes))) for s in STAGE_ORDER}
    types = np.zeros(n, dtype=np.int64)
    for fi, path in enumerate(index.files):
        log(f"predicting {path.name}")
        with h5py.File(path, "r") as f:
            for size in NODE_SIZES:
                rows = np.flatnonzero((index.file == fi) & (index.size == size))
                if not len(rows):
                    continue
                pixels = f[node_group(size)]["pixels"][:][index.row[rows]].astype(np.float32)
                pixels /= index.max_value[fi]
                probs = predictor.stage_probs(pixels, index.qindex[rows], size)
                for s in STAGE_ORDER:
                    stage[s][rows] = probs[s]
                types[rows] = predictor.decide(probs, size)[1]
    return stage, types


def _breakdown(truth: np.ndarray, pred: np.ndarray, k: int, names, groups: np.ndarray) -> dict:
    return {str(g): {"macro_f1": report(confusion(truth[groups == g], pred[groups == g], k), names)["macro_f1"],
                     "samples": int((groups == g).sum())}
            for g in np.unique(groups)}


def _within(nodes, x: int, y: int, size: int) -> set:
    return {n for n in nodes if x <= n.x < x + size and y <= n.y < y + size}


def _tree_agreement(predictor, index, calibration: Calibration | None) -> dict:
    """Share of superblocks whose predicted tree equals the encoder's, and the search work
    the predicted trees' decision maps would leave."""
    same = total = 0
    work = exhaustive = 0.0
    for path in index.files:
        with h5py.File(path, "r") as f:
            sb = int(f.attrs["sb_size"])
            width, height = int(f.attrs["width"]), int(f.attrs["height"])
            bit_depth = int(f.attrs["bit_depth"])
            shown = f["frames/show_frame"][:].astype(bool)
            lumas = _frame_lumas(f, sb)
            for grid, frame, qindex in zip(f["frames/block_size"][:][shown], f["frames/display_index"][:][shown],
                                           f["frames/base_qindex"][:][shown]):
                pred = predictor.predict_frame(lumas[int(frame)], float((1 << bit_depth) - 1), int(qindex), sb, "split", int(frame))
                truth = list(frame_nodes(grid, sb))
                predicted = {Node(int(x), int(y), int(s), Partition(int(d)))
                             for x, y, s, d in zip(pred.x, pred.y, pred.size, pred.decision)}
                for sx, sy in {(n.x, n.y) for n in truth if n.size == sb}:
                    total += 1
                    same += _within(truth, sx, sy, sb) == _within(predicted, sx, sy, sb)
                work += guided_pixels(prediction_entries([pred], sb), width, height)
                exhaustive += exhaustive_pixels(width, height, sb)
    out = {"superblocks": total, "identical_trees": same, "identical_tree_share": same / max(total, 1),
           "top1_work_vs_exhaustive": work / max(exhaustive, 1)}
    if calibration is not None:
        out["top1_work_vs_baseline"] = search_work_fraction(work, exhaustive, calibration)
    return out


def evaluate(predictor, data: Sequence[str | os.PathLike], out: Path, include_border: bool = False,
             calibration: Calibration | None = None, log: Log = print) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index = load_index(data)
    keep = np.ones(len(index), bool) if include_border else index.inside.astype(bool)
    qp_of_file = []
    for path in index.files:
        with h5py.File(path, "r") as f:
            qp_of_file.append(int(f.attrs["cq_level"]))
    qp = np.array(qp_of_file)[index.file]
    stage_probs, decisions = _node_predictions(predictor, index, log)
    result: dict = {"model": str(predictor.run_dir), "decision": predictor.decision,
                    "data": [str(p) for p in index.files],
                    "nodes": int(keep.sum()), "border_nodes_included": include_border, "stages": {}}
    for s in STAGE_ORDER:
        spec = STAGES[s]
        labels = spec.label_of()[index.partition]
        sel = keep & (labels >= 0)
        truth, pred = labels[sel], stage_probs[s][sel].argmax(axis=1)
        k = len(spec.classes)
        result["stages"][s] = report(confusion(truth, pred, k), spec.classes) | {
            "by_size": _breakdown(truth, pred, k, spec.classes, index.size[sel]),
            "by_qp": _breakdown(truth, pred, k, spec.classes, qp[sel])}
    truth, pred = index.partition[keep].astype(int), decisions[keep]
    result["end_to_end"] = report(confusion(truth, pred, 10), PARTITION_NAMES) | {
        "by_size": _breakdown(truth, pred, 10, PARTITION_NAMES, index.size[keep]),
        "by_qp": _breakdown(truth, pred, 10, PARTITION_NAMES, qp[keep])}
    log("walking predicted trees")
    result["trees"] = _tree_agreement(predictor, index, calibration)
    result["calibration"] = calibration.to_dict() if calibration else None
    plots = _confusion_plots(result, out)
    (out / "evaluation.json").write_text(json.dumps(result, indent=2))
    (out / "evaluation.md").write_text(evaluation_markdown(result, [p.name for p in plots]))
    return result


def evaluation_markdown(r: dict, plots: list[str]) -> str:
    pct = lambda x: f"{100 * x:.2f}%"
    lines = ["# Partition prediction: agreement with the encoder", "",
             f"Model `{r['model']}`, {len(r['data'])} datasets, {r['nodes']:,} nodes"
             + ("" if r["border_nodes_included"] else " (frame-border nodes excluded)") + ".", "",
             "| stage | macro-F1 | accuracy | nodes |", "|---|---|---|---|"]
    for name, s in list(r["stages"].items()) + [("end-to-end (10 types)", r["end_to_end"])]:
        lines.append(f"| {name} | {pct(s['macro_f1'])} | {pct(s['accuracy'])} | {s['samples']:,} |")
    lines += ["", "## End to end, per type", "", "| type | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for t, c in r["end_to_end"]["per_class"].items():
        lines.append(f"| {t} | {pct(c['precision'])} | {pct(c['recall'])} | {pct(c['f1'])} | {c['support']:,} |")
    for key, title in (("by_size", "node size"), ("by_qp", "QP (cq-level)")):
        lines += ["", f"## Macro-F1 by {title}", "", "| " + title + " | " + " | ".join(r["stages"]) + " | end-to-end |",
                  "|---" * (len(r["stages"]) + 2) + "|"]
        groups = sorted(r["end_to_end"][key], key=int)
        for g in groups:
            cells = [pct(r["stages"][s][key][g]["macro_f1"]) if g in r["stages"][s][key] else "-" for s in r["stages"]]
            lines.append(f"| {g} | " + " | ".join(cells) + f" | {pct(r['end_to_end'][key][g]['macro_f1'])} |")
    t = r["trees"]
    lines += ["", "## Whole trees", "",
              f"Superblocks whose predicted tree equals the encoder's: {t['identical_trees']:,} of "
              f"{t['superblocks']:,} ({pct(t['identical_tree_share'])}).",
              f"Mode-search work of the top-1 decision maps: {pct(t['top1_work_vs_exhaustive'])} of an exhaustive search"
              + (f", {pct(t['top1_work_vs_baseline'])} of the calibrated libaom baseline's." if "top1_work_vs_baseline" in t
                 else " (no calibration given: pass --calibration report.json from eval-encode)."), ""]
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _confusion_plots(r: dict, out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for name, s in list(r["stages"].items()) + [("end_to_end", r["end_to_end"])]:
        m = np.array(s["confusion"], dtype=float)
        norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(m), 1.0 + 0.6 * len(m)))
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(m)), s["classes"], rotation=45, ha="right")
        ax.set_yticks(range(len(m)), s["classes"])
        for i in range(len(m)):
            for j in range(len(m)):
                if m[i, j]:
                    ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("encoder")
        ax.set_title(f"{name}: macro-F1 {100 * s['macro_f1']:.1f}%")
        fig.tight_layout()
        paths.append(out / f"confusion_{name}.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths
