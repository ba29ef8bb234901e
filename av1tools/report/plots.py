"""Every report's figures (matplotlib, PNG), drawn from the result data the JSON holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from av1tools.report import bd


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return path


def confusion_plots(r: dict, out: Path) -> list[Path]:
    """One row-normalised confusion matrix per stage and for the ten types."""
    plt = _pyplot()
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
                    ax.text(
                        j,
                        i,
                        int(m[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black",
                    )
        ax.set_xlabel("predicted")
        ax.set_ylabel("encoder")
        ax.set_title(f"{name}: macro-F1 {100 * s['macro_f1']:.1f}%")
        paths.append(_save(fig, out / f"confusion_{name}.png"))
    return paths


def transfer_plots(r: dict, out: Path) -> list[Path]:
    """The first seed's Stage-2 validation curves of the three strategies, and F1 (mean and
    interval over seeds) against adapter size."""
    plt = _pyplot()
    first = r["seeds"][0]
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in r["runs"]:
        if row["seed"] == first and row["group"] == "strategy" and row["history"]:
            ax.plot(
                [h["epoch"] for h in row["history"]],
                [h["val_macro_f1"] for h in row["history"]],
                marker="o",
                label=row["variant"],
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel("Stage-2 val macro-F1")
    ax.set_title(f"seed {first}")
    ax.legend()
    ax.grid(alpha=0.3)
    curves = _save(fig, out / "stage2_curves.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    sweep = sorted(
        [v for k, v in r["summary"].items() if v["group"] == "reduction" or k == "strategy:adapter"],
        key=lambda v: v["adapter_params"],
    )
    x = [v["adapter_params"] for v in sweep]
    mean = np.array([v["val_macro_f1"]["mean"] for v in sweep])
    low = np.array([v["val_macro_f1"]["low"] for v in sweep])
    high = np.array([v["val_macro_f1"]["high"] for v in sweep])
    err = None if np.isnan(low).any() else [mean - low, high - mean]
    ax.errorbar(x, mean, yerr=err, marker="o", capsize=3)
    for v, m in zip(sweep, mean):
        ax.annotate(f"γ={v['config']['adapter_reduction']}", (v["adapter_params"], m))
    ax.set_xscale("log")
    ax.set_xlabel("adapter parameters")
    ax.set_ylabel("Stage-2 val macro-F1 (95% interval)")
    ax.grid(alpha=0.3)
    return [curves, _save(fig, out / "reduction_sweep.png")]


def encode_plots(r: dict, out: Path) -> list[Path]:
    """Per verdict, time saving against BD-rate (its preset ladder, the oracle, each guided
    point encoder only and end to end); and each run's bitrate and PSNR-Y difference to its
    baseline per cq-level (what four overlapping RD curves would hide)."""
    paths = [_ts_vs_bd(v, name, out / f"ts_vs_bdrate_{name}.png") for name, v in r["verdicts"].items()]
    return paths + [_deltas(r, out / "delta_quality.png")]


MARKERS = {"model": "^", "heuristic": "v"}  # other curves (the swap, the other guided features): "o"


def _color(source: str) -> str:
    return {"model": "C0", "heuristic": "C2", "swap": "C4", "key frames searched": "C5"}.get(source, "C1")


def _ts_vs_bd(v: dict, verdict: str, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    rows = [row for row in v["rows"] if bd(row) is not None]
    ladder = v.get("ladder", {}).get("points")
    if ladder:
        xs, ys = zip(*ladder)
        ax.plot([100 * x for x in xs], ys, color="C3", lw=1.5, marker="x", label=f"libaom preset ladder ({verdict})")
    for row in rows:
        x, y = 100 * row["time_saving_encoder"], bd(row)
        if row["on_ladder"]:
            ax.annotate(
                row["label"].replace("cpu-used ", "cpu "),
                (x, y),
                fontsize=8,
                color="C3",
                xytext=(0, -12),
                textcoords="offset points",
                ha="center",
            )
        elif row["end_to_end"]:
            marker, color = MARKERS.get(row["source"], "o"), _color(row["source"])
            e2e = 100 * row["time_saving_end_to_end"]
            ax.scatter(x, y, marker=marker, color=color, zorder=3)
            ax.scatter(e2e, y, marker=marker, facecolors="none", edgecolors=color, zorder=3)
            ax.plot([e2e, x], [y, y], color=color, lw=0.8, alpha=0.6)
            ax.annotate(row["label"], (x, y), fontsize=7, xytext=(4, 5), textcoords="offset points")
        elif row["guided"]:
            ax.scatter(x, y, marker="s", color="green", zorder=3, label="oracle (forced baseline partitions)")
    for source in dict.fromkeys(row["source"] for row in rows if row["end_to_end"]):
        ax.scatter([], [], marker=MARKERS.get(source, "o"), color=_color(source), label=f"{source}: encoder time")
    ax.scatter([], [], marker="^", facecolors="none", edgecolors="C0", label="hollow: with inference")
    ax.scatter([0], [0], color="k", zorder=3, label="baseline")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel(f"CPU time saved vs the {verdict} baseline (%)")
    ax.set_ylabel("BD-rate PSNR-Y vs the baseline (%)  (lower is better)")
    ax.set_title(f"{verdict} verdict: right and low beats the ladder")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def _deltas(r: dict, path: Path) -> Path:
    plt = _pyplot()
    clip = r["settings"]["clips"][0]["name"]
    verdict = next(iter(r["verdicts"]))
    runs = [run for run in r["runs"] if run["ok"] and run["clip"] == clip and run["verdict"] == verdict]
    base = {run["cq_level"]: run for run in runs if run["kind"] == "baseline"}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    labels = [lb for lb in dict.fromkeys(run["label"] for run in runs) if lb != "baseline"]
    for i, label in enumerate(labels):
        mine = sorted(
            (run for run in runs if run["label"] == label and run["cq_level"] in base), key=lambda run: run["cq_level"]
        )
        cq = [run["cq_level"] for run in mine]
        rate = [100 * (run["kbps"] / base[run["cq_level"]]["kbps"] - 1) for run in mine]
        psnr = [run["quality"]["psnr_y"] - base[run["cq_level"]]["quality"]["psnr_y"] for run in mine]
        style = {"oracle": "--", "preset": "-.", "model": "-"}.get(mine[0]["kind"] if mine else "", "-")
        top.plot(cq, rate, style, marker="o", label=label, color=f"C{i % 10}")
        bottom.plot(cq, psnr, style, marker="o", color=f"C{i % 10}")
    top.set_ylabel("bitrate vs baseline (%)")
    bottom.set_ylabel("PSNR-Y vs baseline (dB)")
    bottom.set_xlabel("cq-level")
    for ax in (top, bottom):
        ax.axhline(0, color="k", lw=0.5)
        ax.grid(alpha=0.3)
    top.legend(fontsize=7, ncol=2)
    top.set_title(f"{clip} ({verdict}): each run against its baseline, per cq-level")
    return _save(fig, path)


def superblock_plots(r: dict, out: Path) -> list[Path]:
    """The reliability diagram before and after the temperatures."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="k", lw=0.8, label="perfectly calibrated")
    for key, label, style in (("reliability_before", "before", "o--"), ("reliability_after", "after", "o-")):
        bins = [b for b in r["calibration"][key]["bins"] if b["nodes"]]
        ece = r["calibration"][key]["ece"]
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], style, label=f"{label} (ECE {ece:.3f})")
    ax.set_xlabel("confidence of the most probable type")
    ax.set_ylabel("how often it is the encoder's")
    ax.set_title("reliability on the validation split")
    ax.grid(alpha=0.3)
    ax.legend()
    return [_save(fig, out / "reliability.png")]
