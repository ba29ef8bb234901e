"""The reference study's transfer experiment, re-run on our data over several seeds.

Per seed, one Stage-1 trunk is trained; Stage 2 (SPLIT/RECT/AB) is then trained on it several
ways: fine-tuning a copy of the trunk, frozen trunk + head, and Conv-Adapters, plus a
reduction sweep, a layer ablation, an alpha -> 0 ablation of the adapters, and the cosine
similarity between Stage-1 features and the features each variant feeds its head. Across
seeds every number gets a mean, a standard deviation and a t-interval; differences between
variants are paired by seed (same trunk, same data) and the reference study's claim is
judged from their intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from av1tools.configs import write_config
from av1tools.model.common import pick_device, seed_everything
from av1tools.model.config import TrainConfig
from av1tools.model.hierarchy import STAGE_ORDER, STAGES, allowed_class_masks
from av1tools.model.metrics import confusion, macro_f1, per_class
from av1tools.model.nodes import NodeIndex, load_index
from av1tools.model.staged.checkpoint import save_stage
from av1tools.model.staged.config import StagedConfig, TransferConfig
from av1tools.model.staged.data import Split, split_index, stage_rows
from av1tools.model.staged.net import StagedNet
from av1tools.model.staged.train import evaluate_stage, make_loader, train_stage
from av1tools.paths import output_dir
from av1tools.stats import mean_interval, paired_difference, verdict

# The reference study's Stage-2 validation macro-F1 (its own data: 16x16 luma, 10-bit UVG).
REFERENCE_F1 = {"finetune": 0.32, "frozen": 0.46, "adapter": 0.5821}
Log = Callable[[str], None]


@dataclass
class TransferResult:
    config: dict
    split: dict
    seeds: list[int]
    stage1: list[dict]  # per seed
    stage2_class_counts: dict
    runs: list[dict]  # one row per (seed, variant)
    summary: dict  # per variant: intervals of macro-F1 and per-class F1
    differences: dict  # paired differences with intervals
    claim: dict  # the verdict on the reference study's claim
    reference_f1: dict = field(default_factory=lambda: dict(REFERENCE_F1))

    def to_dict(self) -> dict:
        return asdict(self)


def variants(ablations: bool = True) -> list[tuple[str, str, StagedConfig]]:
    base = StagedConfig()
    out = [
        ("strategy", "finetune", replace(base, stage_strategy="finetune")),
        ("strategy", "frozen", replace(base, stage_strategy="frozen")),
        ("strategy", "adapter", base),
    ]
    if not ablations:
        return out
    out += [("reduction", f"gamma={g}", replace(base, adapter_reduction=g)) for g in (2, 8, 16)]
    out += [
        ("layers", "+".join(ls), replace(base, adapter_layers=ls))
        for ls in (("layer2",), ("layer3",), ("layer4",), ("layer2", "layer3", "layer4"))
    ]
    return out


def _fresh(config: StagedConfig, base: StagedNet, device: torch.device) -> StagedNet:
    """A model with ``config``'s Stage-2 branch on top of ``base``'s trained Stage 1."""
    m = StagedNet(config, {s: len(STAGES[s].classes) for s in STAGE_ORDER}).to(device)
    m.trunk.load_state_dict(base.trunk.state_dict())
    m.heads["stage1"].load_state_dict(base.heads["stage1"].state_dict())
    return m


@torch.no_grad()
def _features(model: StagedNet, stage: str, loader, device) -> np.ndarray:
    model.eval()
    out = [model.features(stage, pixels.to(device), size).cpu().numpy() for pixels, _, size, _ in loader]
    return np.concatenate(out) if out else np.zeros((0, 512))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    num = (a * b).sum(axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.mean(num / np.maximum(den, 1e-12))) if len(a) else float("nan")


@torch.no_grad()
def _f1_without_adapters(model: StagedNet, loader, device) -> float:
    """Stage-2 val macro-F1 with every adapter's alpha set to 0 (adapters switched off,
    head kept): what the adapters contribute."""
    adapters = model.branches["stage2"].adapters
    saved = {n: a.alpha.detach().clone() for n, a in adapters.items()}
    for a in adapters.values():
        a.alpha.zero_()
    masks = torch.from_numpy(allowed_class_masks("stage2")).to(device)
    truth, pred, _ = evaluate_stage(model, "stage2", loader, device, masks)
    for n, a in adapters.items():
        a.alpha.copy_(saved[n])
    return macro_f1(confusion(truth, pred, 3))


def _same_tensors(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def _one_seed(
    index: NodeIndex,
    split: Split,
    tc: TrainConfig,
    dev: torch.device,
    out: Path | None,
    log: Log,
    ablations: bool = True,
) -> tuple[dict, list[dict]]:
    """Stage 1 and every Stage-2 variant under one seed; checkpoints only when ``out``."""
    seed_everything(tc.seed)
    base = StagedNet(StagedConfig(), {s: len(STAGES[s].classes) for s in STAGE_ORDER}).to(dev)
    s1 = train_stage(base, "stage1", index, split, tc, dev, log)
    if out is not None:
        (out / "stage1").mkdir(parents=True, exist_ok=True)
        save_stage(base, "stage1", out / "stage1")
    va_rows, va_labels = stage_rows(index, "stage2", split.val, False, tc.max_val_samples, tc.seed)
    val_loader = make_loader(index, va_rows, va_labels, tc, False)
    base_features = _features(base, "stage1", val_loader, dev)
    base_trunk = {k: v.clone() for k, v in base.trunk.state_dict().items()}
    masks = torch.from_numpy(allowed_class_masks("stage2")).to(dev)
    rows = []
    for group, name, config in variants(ablations):
        seed_everything(tc.seed)
        model = _fresh(config, base, dev)
        log(f"--- seed {tc.seed}, Stage 2, {group}: {name}")
        res = train_stage(model, "stage2", index, split, tc, dev, log)
        truth, pred, _ = evaluate_stage(model, "stage2", val_loader, dev, masks)
        row = {
            "seed": tc.seed,
            "group": group,
            "variant": name,
            "config": config.to_dict(),
            "val_macro_f1": res.best_val_f1,
            "best_epoch": res.best_epoch,
            "epochs_run": res.epochs_run,
            "val_f1_per_class": dict(
                zip(STAGES["stage2"].classes, per_class(confusion(truth, pred, 3))["f1"].tolist())
            ),
            "train_val_gap": res.train_f1_at_best - res.best_val_f1,
            "trainable": res.parameters["trainable"],
            "trainable_percent": res.parameters["trainable_percent"],
            "adapter_params": res.parameters.get("adapters", 0),
            "head_params": res.parameters.get("head", 0),
            "seconds": res.seconds,
            "history": [{k: h[k] for k in ("epoch", "train_macro_f1", "val_macro_f1", "lr")} for h in res.history],
            "feature_cosine_vs_stage1": _cosine(base_features, _features(model, "stage2", val_loader, dev)),
            "trunk_unchanged": _same_tensors(base_trunk, model.trunk.state_dict()),
        }
        if config.stage_strategy == "adapter" and config.adapter_layers:
            row["val_macro_f1_alpha0"] = _f1_without_adapters(model, val_loader, dev)
        if out is not None:
            run_dir = out / "runs" / f"{group}-{name.replace('=', '').replace('+', '-')}"
            run_dir.mkdir(parents=True, exist_ok=True)
            row["checkpoint_bytes"] = save_stage(model, "stage2", run_dir).stat().st_size
        rows.append(row)
        log(f"seed {tc.seed} {group} {name}: val macro-F1 {res.best_val_f1:.4f}")
    return {
        "seed": tc.seed,
        "val_macro_f1": s1.best_val_f1,
        "best_epoch": s1.best_epoch,
        "class_counts": s1.class_counts,
    }, rows


def _summaries(runs: list[dict]) -> dict:
    out = {}
    for key in dict.fromkeys(f"{r['group']}:{r['variant']}" for r in runs):
        mine = [r for r in runs if f"{r['group']}:{r['variant']}" == key]
        first = mine[0]
        out[key] = {
            "group": first["group"],
            "variant": first["variant"],
            "config": first["config"],
            "val_macro_f1": mean_interval([r["val_macro_f1"] for r in mine]).to_dict(),
            "per_class": {
                c: mean_interval([r["val_f1_per_class"][c] for r in mine]).to_dict() for c in first["val_f1_per_class"]
            },
            "feature_cosine_vs_stage1": mean_interval([r["feature_cosine_vs_stage1"] for r in mine]).to_dict(),
            "trunk_unchanged": all(r["trunk_unchanged"] for r in mine),
            "best_epoch": [r["best_epoch"] for r in mine],
            "train_val_gap": mean_interval([r["train_val_gap"] for r in mine]).to_dict(),
            "trainable": first["trainable"],
            "trainable_percent": first["trainable_percent"],
            "adapter_params": first["adapter_params"],
            "checkpoint_bytes": first.get("checkpoint_bytes"),
        }
        if "val_macro_f1_alpha0" in first:
            out[key]["alpha0_drop"] = paired_difference(
                [r["val_macro_f1"] for r in mine], [r["val_macro_f1_alpha0"] for r in mine]
            ).to_dict()
    return out


def _f1_by_seed(runs: list[dict], key: str) -> list[float]:
    return [r["val_macro_f1"] for r in sorted(runs, key=lambda r: r["seed"]) if f"{r['group']}:{r['variant']}" == key]


def _differences(runs: list[dict]) -> dict:
    pairs = {
        "adapter - finetune": ("strategy:adapter", "strategy:finetune"),
        "adapter - frozen": ("strategy:adapter", "strategy:frozen"),
        "finetune - frozen": ("strategy:finetune", "strategy:frozen"),
    }
    for r in runs:
        key = f"{r['group']}:{r['variant']}"
        if r["group"] in ("reduction", "layers"):
            pairs[f"{r['variant']} - default adapter"] = (key, "strategy:adapter")
    return {
        name: paired_difference(_f1_by_seed(runs, a), _f1_by_seed(runs, b)).to_dict() for name, (a, b) in pairs.items()
    }


def _claim(differences: dict) -> dict:
    from av1tools.stats import Interval

    tested = {k: Interval(**differences[k]) for k in ("adapter - finetune", "adapter - frozen")}
    negative = Interval(**differences["finetune - frozen"])
    return {
        "statement": "Conv-Adapters beat both fine-tuning and a frozen trunk in Stage 2",
        "verdict": verdict(tested),
        "negative_transfer": verdict(
            {
                "frozen - finetune": Interval(
                    -negative.mean, negative.sd, -negative.high, -negative.low, negative.n, negative.confidence
                )
            }
        ),
        "reference_differences": {
            "adapter - finetune": REFERENCE_F1["adapter"] - REFERENCE_F1["finetune"],
            "adapter - frozen": REFERENCE_F1["adapter"] - REFERENCE_F1["frozen"],
        },
    }


def stage2_counts(index: NodeIndex, split: Split, tc: TrainConfig) -> dict:
    _, tr = stage_rows(index, "stage2", split.train, False, tc.max_samples, tc.seed)
    _, va = stage_rows(index, "stage2", split.val, False, tc.max_val_samples, tc.seed)
    names = STAGES["stage2"].classes
    return {
        "train": dict(zip(names, np.bincount(tr, minlength=3).tolist())),
        "val": dict(zip(names, np.bincount(va, minlength=3).tolist())),
    }


def run_transfer(config: TransferConfig, log: Log = print) -> TransferResult:
    """The whole study; checkpoints of the first seed's runs go under ``config.out``."""
    dev = pick_device(config.device)
    index = load_index(config.data)
    seeds = config.seed_list()
    # One split for every seed: the seeds vary training, not which sequences are held out.
    split = split_index(index, "sequence", 0.25, None, config.first_seed)
    log(f"transfer study on {len(index)} nodes, seeds {seeds}; split {split.words()}")
    stage1, runs = [], []
    with output_dir(config.out) as out:
        write_config(out, config)
        for i, seed in enumerate(seeds):
            s1, rows = _one_seed(
                index, split, config.training(seed), dev, out if i == 0 else None, log, config.ablations
            )
            stage1.append(s1)
            runs += rows
    differences = _differences(runs)
    tc0 = config.training(seeds[0])
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    settings["training"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(tc0).items()}
    return TransferResult(
        settings,
        split.record,
        seeds,
        stage1,
        stage2_counts(index, split, tc0),
        runs,
        _summaries(runs),
        differences,
        _claim(differences),
    )
