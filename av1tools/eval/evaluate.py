"""evaluate: how often a model agrees with the encoder.

Per stage and end to end (the ten types), on every node that lies inside the frame:
macro-F1, per-class precision/recall/F1, accuracy and confusion matrices, broken down by
node size and cq-level; plus the share of superblocks whose whole predicted tree (the
top-down walk) equals the encoder's, and the search work the predicted trees would leave.
Computation only: ``av1tools.report`` renders the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from av1tools.eval.config import EvaluateConfig, OperatingPoint
from av1tools.eval.guided import prediction_entries
from av1tools.eval.speedup import CostModel, exhaustive_pixels, guided_pixels, simulate_map, simulated_time_saving
from av1tools.extract.dataset import open_dataset
from av1tools.model.families import load_predictor
from av1tools.model.hierarchy import STAGE_ORDER, STAGES
from av1tools.model.metrics import confusion, report
from av1tools.model.nodes import NodeIndex, load_index
from av1tools.partition import NODE_SIZES, PARTITION_NAMES, Node, Partition, frame_nodes

Log = Callable[[str], None]


@dataclass(frozen=True)
class EvaluationResult:
    model: str
    decision: str
    data: list[str]
    nodes: int
    border_nodes_included: bool
    stages: dict  # stage -> metrics report (+ by_size, by_cq_level)
    end_to_end: dict
    trees: dict
    calibration: dict | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def headline(self) -> dict:
        head = {s: round(r["macro_f1"], 4) for s, r in self.stages.items()}
        head["end_to_end"] = round(self.end_to_end["macro_f1"], 4)
        head["identical_tree_share"] = round(self.trees["identical_tree_share"], 4)
        return head


def _node_predictions(predictor, index: NodeIndex, log: Log) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Stage probabilities and the 10-type decision of every node in the index."""
    n = len(index)
    stage = {s: np.zeros((n, len(STAGES[s].classes))) for s in STAGE_ORDER}
    types = np.zeros(n, dtype=np.int64)
    for fi, path in enumerate(index.files):
        log(f"predicting {path.name}")
        positions = {}
        rows = {}
        for size in NODE_SIZES:
            sel = np.flatnonzero((index.file == fi) & (index.size == size))
            if len(sel):
                positions[size], rows[size] = sel, index.row[sel]
        with open_dataset(path) as ds:
            found = predictor.file_node_predictions(ds, rows)
        for size, (probs, decisions) in found.items():
            for s in STAGE_ORDER:
                stage[s][positions[size]] = probs[s]
            types[positions[size]] = decisions
    return stage, types


def _breakdown(truth: np.ndarray, pred: np.ndarray, k: int, names, groups: np.ndarray) -> dict:
    return {
        str(g): {
            "macro_f1": report(confusion(truth[groups == g], pred[groups == g], k), names)["macro_f1"],
            "samples": int((groups == g).sum()),
        }
        for g in np.unique(groups)
    }


def _by_superblock(nodes, size: int) -> dict[tuple[int, int], set]:
    """The nodes grouped by the superblock they lie in (one pass, not one per superblock)."""
    out: dict[tuple[int, int], set] = {}
    for n in nodes:
        out.setdefault((n.x - n.x % size, n.y - n.y % size), set()).add(n)
    return out


def _simulation_for(calibration: dict | None, cq_level: int) -> tuple[CostModel, float] | None:
    """An eval-encode report's cost model at ``cq_level`` and its clips' mean simulated
    baseline time per frame pixel, when it has them."""
    if not calibration or str(cq_level) not in calibration.get("cost_models", {}):
        return None
    per_pixel = [v for k, v in calibration.get("baseline_ns_per_pixel", {}).items() if k.endswith(f":{cq_level}")]
    if not per_pixel:
        return None
    known = {f.name for f in fields(CostModel)}  # an older report's model may hold more
    model = {k: v for k, v in calibration["cost_models"][str(cq_level)].items() if k in known}
    return CostModel(**model), float(np.mean(per_pixel))


def _tree_agreement(predictor, index: NodeIndex, calibration: dict | None) -> dict:
    """Share of superblocks whose predicted tree equals the encoder's, the mode-search work
    the top-1 maps would leave, and (with an eval-encode report's simulation) the time
    saving the cost model expects from them."""
    same = total = 0
    work = exhaustive = 0.0
    simulated = []
    top1 = OperatingPoint(top_k=1)
    for path in index.files:
        with open_dataset(path) as ds:
            a = ds.attrs
            frames = ds.frames_table()
            lumas = ds.frame_lumas()
        cost = _simulation_for(calibration, a.cq_level)
        shown = frames["show_frame"].astype(bool)
        for grid, display, qindex in zip(
            frames["block_size"][shown], frames["display_index"][shown], frames["base_qindex"][shown]
        ):
            pred = predictor.predict_frame(
                lumas[int(display)], a.max_value, int(qindex), a.sb_size, "split", int(display)
            )
            truth = list(frame_nodes(grid, a.sb_size))
            predicted = {
                Node(int(x), int(y), int(s), Partition(int(d)))
                for x, y, s, d in zip(pred.x, pred.y, pred.size, pred.decision)
            }
            mine, theirs = _by_superblock(truth, a.sb_size), _by_superblock(predicted, a.sb_size)
            for sx, sy in {(n.x, n.y) for n in truth if n.size == a.sb_size}:
                total += 1
                same += mine[(sx, sy)] == theirs.get((sx, sy), set())
            entries = prediction_entries([pred], a.sb_size, top1)
            work += guided_pixels(entries, a.width, a.height)
            exhaustive += exhaustive_pixels(a.width, a.height, a.sb_size)
            if cost is not None:
                model, per_pixel = cost
                pixels = a.width * a.height
                simulated.append(simulated_time_saving(simulate_map(entries, model, pixels, 1), per_pixel * pixels))
    out = {
        "superblocks": total,
        "identical_trees": same,
        "identical_tree_share": same / max(total, 1),
        "top1_work_vs_exhaustive": work / max(exhaustive, 1),
    }
    if simulated:
        out["top1_simulated_time_saving"] = float(np.mean(simulated))
    return out


def evaluate(config: EvaluateConfig, log: Log = print) -> EvaluationResult:
    """Score ``config.model`` against the encoder's decisions in ``config.data``."""
    predictor = load_predictor(config.model, config.device, config.decision)
    index = load_index(config.data)
    keep = np.ones(len(index), bool) if config.include_border else index.inside.astype(bool)
    cq = np.array(index.cq_levels)[index.file]
    stage_probs, decisions = _node_predictions(predictor, index, log)
    stages = {}
    for s in STAGE_ORDER:
        spec = STAGES[s]
        labels = spec.label_of()[index.partition]
        sel = keep & (labels >= 0)
        truth, pred = labels[sel], stage_probs[s][sel].argmax(axis=1)
        k = len(spec.classes)
        stages[s] = report(confusion(truth, pred, k), spec.classes) | {
            "by_size": _breakdown(truth, pred, k, spec.classes, index.size[sel]),
            "by_cq_level": _breakdown(truth, pred, k, spec.classes, cq[sel]),
        }
    truth, pred = index.partition[keep].astype(int), decisions[keep]
    end_to_end = report(confusion(truth, pred, 10), PARTITION_NAMES) | {
        "by_size": _breakdown(truth, pred, 10, PARTITION_NAMES, index.size[keep]),
        "by_cq_level": _breakdown(truth, pred, 10, PARTITION_NAMES, cq[keep]),
    }
    log("walking predicted trees")
    trees = _tree_agreement(predictor, index, config.calibration)
    return EvaluationResult(
        str(config.model),
        predictor.decision,
        [str(p) for p in index.files],
        int(keep.sum()),
        config.include_border,
        stages,
        end_to_end,
        trees,
        {"calibration_clip": config.calibration.get("calibration_clip")} if config.calibration else None,
    )
