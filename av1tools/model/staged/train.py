"""Training the staged model, stage by stage, on av1tools datasets."""

from __future__ import annotations

import copy
import csv
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from av1tools.configs import plain, write_config
from av1tools.model.common import TrainResult, pick_device, seed_everything, use_threads
from av1tools.model.config import BALANCE, TrainConfig, TrainJob
from av1tools.model.hierarchy import STAGE_ORDER, STAGES, allowed_class_masks
from av1tools.model.metrics import confusion, macro_f1, report
from av1tools.model.nodes import NodeIndex, load_index
from av1tools.model.staged.checkpoint import save_stage
from av1tools.model.staged.config import StagedConfig
from av1tools.model.staged.data import NodeDataset, SizeBatchSampler, Split, class_counts, split_index, stage_rows
from av1tools.model.staged.net import StagedNet
from av1tools.paths import output_dir, write_text_atomic

CACHE_BYTES = 2 << 30
Log = Callable[[str], None]


def parameter_counts(model: StagedNet, stage: str) -> dict:
    """Trainable and frozen parameters of what a stage runs: the modules it trains, plus the
    shared Stage-1 trunk unless it carries a trunk copy of its own."""
    trained = model.stage_modules(stage)
    used = model.modules_run(stage)
    n_train = sum(p.numel() for m in trained for p in m.parameters())
    total = sum(p.numel() for m in used for p in m.parameters())
    out = {
        "trainable": n_train,
        "frozen": total - n_train,
        "total": total,
        "trainable_percent": 100.0 * n_train / total,
    }
    if stage != "stage1":
        branch = model.branches[stage]
        adapters = branch.adapters_to_run()
        out["adapters"] = sum(p.numel() for p in adapters.parameters()) if adapters is not None else 0
        out["head"] = sum(p.numel() for p in branch.head.parameters())
    return out


def _class_weights(counts: np.ndarray) -> torch.Tensor:
    """Inverse frequency, normalised to mean 1 over present classes; absent classes 0."""
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max((counts > 0).sum(), 1), 0.0)
    return torch.tensor(w, dtype=torch.float32)


def stage_loss(logits: torch.Tensor, labels: torch.Tensor, balance: str, weights: torch.Tensor | None) -> torch.Tensor:
    if balance == "focal":
        logp = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
        return (-((1 - logp.exp()) ** 2) * logp).mean()
    return F.cross_entropy(logits, labels, weight=weights if balance == "weights" else None)


def masked_logits(logits: torch.Tensor, size_index: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Classes a node size cannot take get -inf (e.g. AB at 8x8)."""
    return logits.masked_fill(~masks[size_index], float("-inf"))


@dataclass
class StageResult:
    stage: str
    skipped: str = ""  # why, when the stage had nothing to learn from
    notes: list = field(default_factory=list)  # anything a reader must know about the result
    best_epoch: int = 0
    best_val_f1: float = 0.0
    train_f1_at_best: float = 0.0
    epochs_run: int = 0
    class_counts: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    val_report: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    checkpoint: str = ""
    checkpoint_bytes: int = 0
    seconds: float = 0.0


def make_loader(
    index: NodeIndex,
    rows: np.ndarray,
    labels: np.ndarray,
    tc: TrainConfig,
    shuffle: bool,
    weights: np.ndarray | None = None,
) -> DataLoader:
    cache = tc.cache
    if cache is None:  # 2 bytes a sample covers 10-bit data too
        cache = int((index.size[rows].astype(np.int64) ** 2).sum()) * 2 < CACHE_BYTES
    ds = NodeDataset(index, rows, labels, cache=cache)
    sampler = SizeBatchSampler(ds.sizes, tc.batch_size, shuffle, tc.seed, weights)
    return DataLoader(
        ds, batch_sampler=sampler, num_workers=tc.loader_workers, persistent_workers=tc.loader_workers > 0
    )


def evaluate_stage(
    model: StagedNet, stage: str, loader: DataLoader, device: torch.device, masks: torch.Tensor
) -> tuple[np.ndarray, np.ndarray, float]:
    """(truth, prediction, mean loss) over a loader, in eval mode."""
    model.eval()
    truth, pred, losses = [], [], []
    with torch.no_grad():
        for pixels, q, size, label in loader:
            pixels, q, size, label = (t.to(device) for t in (pixels, q, size, label))
            logits = masked_logits(model(stage, pixels, q, size), size, masks)
            losses.append(F.cross_entropy(logits, label, reduction="sum").item())
            truth.append(label.cpu().numpy())
            pred.append(logits.argmax(1).cpu().numpy())
    n = sum(len(t) for t in truth)
    return (
        np.concatenate(truth) if truth else np.zeros(0, int),
        np.concatenate(pred) if pred else np.zeros(0, int),
        sum(losses) / max(n, 1),
    )


def _set_trainable(model: StagedNet, stage: str) -> list[torch.nn.Parameter]:
    params = model.stage_parameters(stage)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    return params


def _train_mode(model: StagedNet, stage: str) -> None:
    model.train()
    for m in model.frozen_modules(stage):
        m.eval()  # the reference study's defect: a frozen trunk in train mode drifts its BN statistics


def train_stage(
    model: StagedNet, stage: str, index: NodeIndex, split: Split, tc: TrainConfig, device: torch.device, log: Log
) -> StageResult:
    """Train one stage on its nodes of ``split.train``, keep the epoch with the best
    validation macro-F1 (the last epoch when the stage has no validation nodes, which the
    result says), and leave those weights in ``model``."""
    start = time.perf_counter()
    spec = STAGES[stage]
    k = len(spec.classes)
    result = StageResult(stage)
    tr_rows, tr_labels = stage_rows(index, stage, split.train, tc.include_border, tc.max_samples, tc.seed)
    va_rows, va_labels = stage_rows(index, stage, split.val, tc.include_border, tc.max_val_samples, tc.seed)
    counts = class_counts(tr_labels, k)
    result.class_counts = {
        "train": dict(zip(spec.classes, counts.tolist())),
        "val": dict(zip(spec.classes, class_counts(va_labels, k).tolist())),
    }
    log(
        f"{stage}: train {len(tr_rows)} nodes {result.class_counts['train']}, "
        f"val {len(va_rows)} nodes {result.class_counts['val']}"
    )
    if stage != "stage1":
        model.branches[stage].start_from(model.trunk)
    result.parameters = parameter_counts(model, stage)
    if (counts > 0).sum() < 2:
        result.skipped = f"fewer than two classes in its training data ({len(tr_rows)} nodes)"
        log(f"{stage}: skipped, {result.skipped}")
        return result

    masks = torch.from_numpy(allowed_class_masks(stage)).to(device)
    weights = _class_weights(counts).to(device)
    sample_weights = (1.0 / counts[tr_labels]) if tc.balance == "sampler" else None
    train_loader = make_loader(index, tr_rows, tr_labels, tc, True, sample_weights)
    val_loader = make_loader(index, va_rows, va_labels, tc, False)
    params = _set_trainable(model, stage)
    opt = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=tc.lr_factor, patience=tc.lr_patience)
    if not len(va_rows):
        result.notes.append("no validation nodes for this stage: kept the last epoch")
        log(f"{stage}: {result.notes[-1]}")
    best_state, best_f1, stale = None, -1.0, 0
    for epoch in range(1, tc.epochs + 1):
        t0 = time.perf_counter()
        _train_mode(model, stage)
        tr_conf = np.zeros((k, k), dtype=np.int64)
        loss_sum, seen = 0.0, 0
        batches = train_loader
        if tc.progress:
            from tqdm import tqdm

            batches = tqdm(
                train_loader, desc=f"{stage} epoch {epoch}/{tc.epochs}", unit="batch", leave=False, mininterval=1.0
            )
        for pixels, q, size, label in batches:
            pixels, q, size, label = (t.to(device) for t in (pixels, q, size, label))
            logits = masked_logits(model(stage, pixels, q, size), size, masks)
            loss = stage_loss(logits, label, tc.balance, weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(label)
            seen += len(label)
            tr_conf += confusion(label.cpu().numpy(), logits.argmax(1).cpu().numpy(), k)
        truth, pred, val_loss = evaluate_stage(model, stage, val_loader, device, masks)
        va_conf = confusion(truth, pred, k)
        val_f1, train_f1 = macro_f1(va_conf), macro_f1(tr_conf)
        sched.step(val_f1)
        row = {
            "epoch": epoch,
            "train_loss": loss_sum / max(seen, 1),
            "val_loss": val_loss,
            "train_macro_f1": train_f1,
            "val_macro_f1": val_f1,
            "val_f1_per_class": {c: v["f1"] for c, v in report(va_conf, spec.classes)["per_class"].items()},
            "lr": opt.param_groups[0]["lr"],
            "seconds": time.perf_counter() - t0,
        }
        result.history.append(row)
        log(
            f"{stage} epoch {epoch}: loss {row['train_loss']:.4f}/{val_loss:.4f} "
            f"macro-F1 train {train_f1:.4f} val {val_f1:.4f} lr {row['lr']:.2e}"
        )
        if val_f1 > best_f1 or not len(va_rows):
            best_f1, stale = val_f1, 0
            best_state = [copy.deepcopy(m.state_dict()) for m in model.stage_modules(stage)]
            result.best_epoch, result.best_val_f1, result.train_f1_at_best = epoch, val_f1, train_f1
            result.val_report = report(va_conf, spec.classes)
        else:
            stale += 1
            if stale >= tc.patience:
                log(f"{stage}: early stop after epoch {epoch} (best {result.best_epoch})")
                break
    result.epochs_run = len(result.history)
    if best_state is not None:  # parameters and BN statistics of the best epoch
        for m, state in zip(model.stage_modules(stage), best_state):
            m.load_state_dict(state)
    result.seconds = time.perf_counter() - start
    return result


def write_history(result: StageResult, run_dir: Path) -> None:
    (run_dir / f"{result.stage}_history.json").write_text(json.dumps(result.history, indent=2))
    if not result.history:
        return
    with open(run_dir / f"{result.stage}_history.csv", "w", newline="") as f:
        w = csv.writer(f)
        classes = list(result.history[0]["val_f1_per_class"])
        w.writerow(
            ["epoch", "train_loss", "val_loss", "train_macro_f1", "val_macro_f1", "lr", "seconds"]
            + [f"val_f1_{c}" for c in classes]
        )
        for r in result.history:
            w.writerow(
                [
                    r["epoch"],
                    r["train_loss"],
                    r["val_loss"],
                    r["train_macro_f1"],
                    r["val_macro_f1"],
                    r["lr"],
                    r["seconds"],
                ]
                + [r["val_f1_per_class"][c] for c in classes]
            )


def staged_summary(stages: dict[str, StageResult], run_dir: Path) -> dict:
    """Per stage: its best validation macro-F1, epoch, trainable share and checkpoint."""
    return {
        s: {
            "val_macro_f1": round(r.best_val_f1, 4),
            "best_epoch": r.best_epoch,
            "trainable_percent": round(r.parameters["trainable_percent"], 3),
            "checkpoint": str(run_dir / r.checkpoint),
            "checkpoint_bytes": r.checkpoint_bytes,
            **({"skipped": r.skipped} if r.skipped else {}),
            **({"notes": r.notes} if r.notes else {}),
        }
        for s, r in stages.items()
    }


def train_staged(
    job: TrainJob, log: Log = print, model: StagedNet | None = None, index: NodeIndex | None = None
) -> TrainResult:
    """Train ``job.stages`` in order into ``job.out`` (checkpoints, histories, metrics.json,
    config.json). Pass ``model`` with a trained Stage 1 to train only later stages against it."""
    mc, tc = job.net or StagedConfig(), job.train
    if tc.balance not in BALANCE:
        raise ValueError(f"balance must be one of {BALANCE}")
    seed_everything(tc.seed)
    use_threads(tc.threads)
    device = pick_device(tc.device)
    index = index or load_index(job.data)
    split = split_index(index, tc.split, tc.val_fraction, tc.val_sequences or None, tc.seed)
    with output_dir(job.out) as run_dir:
        model = (model or StagedNet(mc, {s: len(STAGES[s].classes) for s in STAGE_ORDER})).to(device)
        log(f"{len(index)} nodes from {len(index.files)} files; split {split.words()}")
        results = {}
        for stage in job.stages:
            res = train_stage(model, stage, index, split, tc, device, log)
            path = save_stage(model, stage, run_dir, extra={"untrained": bool(res.skipped), "job": plain(job)})
            res.checkpoint, res.checkpoint_bytes = path.name, path.stat().st_size
            write_history(res, run_dir)
            results[stage] = res
        metrics = {
            "arch": "staged",
            "data": [str(p) for p in index.files],
            "split": split.record,
            "model": mc.to_dict(),
            "train": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(tc).items()},
            "device": str(device),
            "stages": {s: asdict(r) | {"history": None} for s, r in results.items()},
        }
        write_text_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=2))
        write_config(run_dir, job)
    return TrainResult(run_dir, metrics, staged_summary(results, run_dir))
