"""The seed's transfer study, re-run on our data.

One Stage-1 trunk is trained; Stage 2 (SPLIT/RECT/AB) is then trained on it several ways:
fine-tuning a copy of the trunk, frozen trunk + head, and Conv-Adapters, plus a reduction
sweep, a layer ablation, an alpha -> 0 ablation of the adapters, and the cosine similarity
between Stage-1 features and the features each Stage-2 variant uses (preservation).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from av1tools.model.checkpoint import save_stage
from av1tools.model.data import load_index, split_index, stage_rows
from av1tools.model.metrics import confusion, macro_f1
from av1tools.model.network import ModelConfig, StagedPredictor
from av1tools.model.stages import STAGES, STAGE_ORDER, allowed_class_masks
from av1tools.model.train import (
    TrainConfig, evaluate_stage, make_loader, pick_device, seed_everything, train_stage,
)

SEED_NUMBERS = {"finetune": 0.32, "frozen": 0.46, "adapter": 0.5821}  # the seed's Stage-2 val F1
Log = Callable[[str], None]


def _variants() -> list[tuple[str, str, ModelConfig]]:
    base = ModelConfig()
    out = [("strategy", "finetune", replace(base, stage_strategy="finetune")),
           ("strategy", "frozen", replace(base, stage_strategy="frozen")),
           ("strategy", "adapter", base)]
    out += [("reduction", f"gamma={g}", replace(base, adapter_reduction=g)) for g in (2, 8, 16)]
    out += [("layers", "+".join(ls), replace(base, adapter_layers=ls))
            for ls in (("layer2",), ("layer3",), ("layer4",), ("layer2", "layer3", "layer4"))]
    return out


def _fresh(config: ModelConfig, base: StagedPredictor, device: torch.device) -> StagedPredictor:
    """A model with ``config``'s Stage-2 branch on top of ``base``'s trained Stage 1."""
    m = StagedPredictor(config, {s: len(STAGES[s].classes) for s in STAGE_ORDER}).to(device)
    m.trunk.load_state_dict(base.trunk.state_dict())
    m.heads["stage1"].load_state_dict(base.heads["stage1"].state_dict())
    return m


@torch.no_grad()
def _features(model: StagedPredictor, stage: str, loader, device) -> np.ndarray:
    model.eval()
    out = []
    for pixels, _, size, _ in loader:
        out.append(model.features(stage, pixels.to(device), size).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 512))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    num = (a * b).sum(axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.mean(num / np.maximum(den, 1e-12))) if len(a) else float("nan")


@torch.no_grad()
def _f1_without_adapters(model: StagedPredictor, loader, device) -> float:
    """Stage-2 val macro-F1 with every adapter's alpha set to 0 (adapters switched off,
    head kept): what the adapters contribute."""
    branch = model.branches["stage2"]
    saved = {n: a.alpha.detach().clone() for n, a in branch.adapters.items()}
    for a in branch.adapters.values():
        a.alpha.zero_()
    masks = torch.from_numpy(allowed_class_masks("stage2")).to(device)
    truth, pred, _ = evaluate_stage(model, "stage2", loader, device, masks)
    for n, a in branch.adapters.items():
        a.alpha.copy_(saved[n])
    return macro_f1(confusion(truth, pred, 3))


def run_transfer(data: Sequence[str | os.PathLike], out: Path, quick: bool = False,
                 epochs: int | None = None, max_samples: int | None = None, device: str = "auto",
                 seed: int = 0, log: Log = print, progress: bool = True) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    dev = pick_device(device)
    tc = TrainConfig(epochs=epochs or (4 if quick else 15), max_samples=max_samples or (6000 if quick else None),
                     max_val_samples=3000 if quick else None, patience=3 if quick else 5,
                     seed=seed, device=str(dev), progress=progress)
    index = load_index(data)
    split = split_index(index, tc.split, tc.val_fraction, None, seed)
    log(f"transfer study on {len(index)} nodes; split {split.record}")

    base = StagedPredictor(ModelConfig(), {s: len(STAGES[s].classes) for s in STAGE_ORDER}).to(dev)
    s1 = train_stage(base, "stage1", index, split, tc, dev, log)
    (out / "stage1").mkdir(exist_ok=True)
    save_stage(base, "stage1", out / "stage1")
    va_rows, va_labels = stage_rows(index, "stage2", split.val, False, tc.max_val_samples, seed)
    val_loader = make_loader(index, va_rows, va_labels, tc, False)
    base_features = _features(base, "stage1", val_loader, dev)

    rows = []
    for group, name, config in _variants():
        seed_everything(seed)
        model = _fresh(config, base, dev)
        log(f"--- Stage 2, {group}: {name}")
        res = train_stage(model, "stage2", index, split, tc, dev, log)
        run_dir = out / "runs" / f"{group}-{name.replace('=', '').replace('+', '-')}"
        run_dir.mkdir(parents=True, exist_ok=True)
        ckpt = save_stage(model, "stage2", run_dir)
        row = {"group": group, "variant": name, "config": config.to_dict(),
               "val_macro_f1": res.best_val_f1, "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
               "train_val_gap": res.train_f1_at_best - res.best_val_f1,
               "trainable": res.parameters["trainable"], "trainable_percent": res.parameters["trainable_percent"],
               "adapter_params": res.parameters.get("adapters", 0), "head_params": res.parameters.get("head", 0),
               "checkpoint_bytes": ckpt.stat().st_size, "seconds": res.seconds,
               "history": [{k: h[k] for k in ("epoch", "train_macro_f1", "val_macro_f1", "lr")} for h in res.history],
               "feature_cosine_vs_stage1": _cosine(base_features, _features(model, "stage2", val_loader, dev)),
               "trunk_unchanged": bool(torch.equal(
                   torch.cat([p.flatten() for p in model.trunk.state_dict().values() if p.is_floating_point()]),
                   torch.cat([p.flatten() for p in base.trunk.state_dict().values() if p.is_floating_point()])))}
        if config.stage_strategy == "adapter" and config.adapter_layers:
            row["val_macro_f1_alpha0"] = _f1_without_adapters(model, val_loader, dev)
        rows.append(row)
        log(f"{group} {name}: val macro-F1 {res.best_val_f1:.4f}")

    result = {"split": split.record, "train": {k: (list(v) if isinstance(v, tuple) else v)
                                               for k, v in asdict(tc).items()},
              "stage1": {"val_macro_f1": s1.best_val_f1, "best_epoch": s1.best_epoch,
                         "class_counts": s1.class_counts},
              "stage2_class_counts": train_counts(index, split, tc),
              "variants": rows, "seed_numbers": SEED_NUMBERS, "quick": quick}
    json_path = out / "transfer.json"
    json_path.write_text(json.dumps(result, indent=2))
    md_path = out / "transfer.md"
    plots = _plots(rows, out)
    md_path.write_text(transfer_markdown(result, [p.name for p in plots]))
    return [md_path, json_path, *plots]


def train_counts(index, split, tc: TrainConfig) -> dict:
    _, tr = stage_rows(index, "stage2", split.train, False, tc.max_samples, tc.seed)
    _, va = stage_rows(index, "stage2", split.val, False, tc.max_val_samples, tc.seed)
    names = STAGES["stage2"].classes
    return {"train": dict(zip(names, np.bincount(tr, minlength=3).tolist())),
            "val": dict(zip(names, np.bincount(va, minlength=3).tolist()))}


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def transfer_markdown(result: dict, plots: list[str]) -> str:
    rows = result["variants"]
    by = {(r["group"], r["variant"]): r for r in rows}
    lines = ["# Stage-2 transfer study", "",
             f"Split: {result['split']['mode']}"
             + (f", validation sequences {', '.join(result['split']['val_sequences'])}"
                if result["split"]["mode"] == "sequence" else ""),
             f"Stage-1 (NONE vs PARTITION) val macro-F1: {_pct(result['stage1']['val_macro_f1'])} "
             f"(epoch {result['stage1']['best_epoch']}).",
             f"Stage-2 nodes: {result['stage2_class_counts']}.",
             f"Training: {result['train']['epochs']} epochs max, up to {result['train']['max_samples']} nodes, "
             f"balance={result['train']['balance']}, seed {result['train']['seed']}"
             + (" (quick mode: small samples, indicative only)" if result["quick"] else "") + ".", "",
             "## Fine-tuning vs frozen vs Conv-Adapter", "",
             "| strategy | Stage-2 val macro-F1 | seed's | trainable | trainable % | best epoch | train-val gap | checkpoint |",
             "|---|---|---|---|---|---|---|---|"]
    for name in ("finetune", "frozen", "adapter"):
        r = by[("strategy", name)]
        lines.append(f"| {name} | {_pct(r['val_macro_f1'])} | {_pct(SEED_NUMBERS[name])} | {r['trainable']:,} | "
                     f"{r['trainable_percent']:.2f}% | {r['best_epoch']} | {r['train_val_gap']:+.3f} | "
                     f"{r['checkpoint_bytes'] / 1e6:.1f} MB |")
    ad, fr, ft = by[("strategy", "adapter")], by[("strategy", "frozen")], by[("strategy", "finetune")]
    holds = ad["val_macro_f1"] > fr["val_macro_f1"] and ad["val_macro_f1"] > ft["val_macro_f1"]
    lines += ["", f"**The seed's claim (adapters beat both fine-tuning and a frozen trunk) "
                  f"{'holds' if holds else 'does not hold'} here:** adapter {_pct(ad['val_macro_f1'])}, "
                  f"frozen {_pct(fr['val_macro_f1'])}, fine-tuning {_pct(ft['val_macro_f1'])}. "
                  f"{'Negative transfer (fine-tuning below frozen) is seen.' if ft['val_macro_f1'] < fr['val_macro_f1'] else 'No negative transfer (fine-tuning is not below frozen).'}",
              "", "## Reduction sweep (adapters on layer3+layer4)", "",
              "| gamma | adapter params | val macro-F1 | best epoch |", "|---|---|---|---|"]
    sweep = [by[("strategy", "adapter")]] + [r for r in rows if r["group"] == "reduction"]
    for r in sorted(sweep, key=lambda r: r["config"]["adapter_reduction"]):
        lines.append(f"| {r['config']['adapter_reduction']} | {r['adapter_params']:,} | "
                     f"{_pct(r['val_macro_f1'])} | {r['best_epoch']} |")
    lines += ["", "## Layer ablation (gamma 4)", "", "| adapted layers | adapter params | val macro-F1 |",
              "|---|---|---|"]
    for r in [by[("strategy", "adapter")]] + [r for r in rows if r["group"] == "layers"]:
        lines.append(f"| {'+'.join(r['config']['adapter_layers'])} | {r['adapter_params']:,} | "
                     f"{_pct(r['val_macro_f1'])} |")
    lines += ["", "## What the adapters contribute (alpha -> 0)", "",
              "| variant | with adapters | alpha = 0 | difference |", "|---|---|---|---|"]
    for r in rows:
        if "val_macro_f1_alpha0" in r:
            lines.append(f"| {r['variant']} | {_pct(r['val_macro_f1'])} | {_pct(r['val_macro_f1_alpha0'])} | "
                         f"{100 * (r['val_macro_f1'] - r['val_macro_f1_alpha0']):+.2f} points |")
    lines += ["", "## Feature preservation", "",
              "Mean cosine similarity, over validation Stage-2 nodes, between the Stage-1 trunk's pooled "
              "features and the features each Stage-2 variant feeds its head; and whether the shared "
              "Stage-1 trunk (weights and BatchNorm statistics) is bit-identical after Stage-2 training.", "",
              "| variant | cosine vs Stage 1 | Stage-1 trunk unchanged |", "|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['group']}: {r['variant']} | {r['feature_cosine_vs_stage1']:.4f} | "
                     f"{'yes' if r['trunk_unchanged'] else 'NO'} |")
    lines += [""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _plots(rows: list[dict], out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        if r["group"] == "strategy":
            ax.plot([h["epoch"] for h in r["history"]], [h["val_macro_f1"] for h in r["history"]],
                    marker="o", label=r["variant"])
    ax.set_xlabel("epoch")
    ax.set_ylabel("Stage-2 val macro-F1")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(out / "stage2_curves.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    sweep = sorted([r for r in rows if r["group"] == "reduction" or r["variant"] == "adapter"],
                   key=lambda r: r["adapter_params"])
    ax.plot([r["adapter_params"] for r in sweep], [r["val_macro_f1"] for r in sweep], marker="o")
    for r in sweep:
        ax.annotate(f"γ={r['config']['adapter_reduction']}", (r["adapter_params"], r["val_macro_f1"]))
    ax.set_xscale("log")
    ax.set_xlabel("adapter parameters")
    ax.set_ylabel("Stage-2 val macro-F1")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(out / "reduction_sweep.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths
