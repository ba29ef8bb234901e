"""Every report's figures (matplotlib, PNG), drawn from the result data the JSON holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np


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
    """RD curves (PSNR-Y and SSIM-Y against bitrate) and time saving against BD-rate."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for row in r["rows"]:
        if "kbps" in row:
            style = {"baseline": "k-o", "oracle": "g--s", "model": "-^", "preset": ":x"}[row["kind"]]
            axes[0].plot(row["kbps"], row["psnr_y"], style, label=row["label"])
            axes[1].plot(row["kbps"], row["ssim_y"], style, label=row["label"])
    for ax, name in zip(axes, ("PSNR-Y (dB)", "SSIM-Y")):
        ax.set_xlabel("kbps")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"RD curves: {r['settings']['sequence']}")
    rd = _save(fig, out / "rd_curves.png")

    fig, ax = plt.subplots(figsize=(6, 4.5))
    ladder = [(0.0, 0.0)] + sorted(
        (100 * row["time_saving_encoder"], row["bd_rate_psnr_y_cubic"])
        for row in r["rows"]
        if row["kind"] == "preset" and row.get("bd_rate_psnr_y_cubic") is not None
    )
    ax.plot(*zip(*ladder), color="C3", lw=1, ls=":", label="libaom preset ladder")
    ax.scatter([0], [0], color="k", marker="o")
    ax.annotate("baseline", (0, 0), fontsize=8, xytext=(4, -10), textcoords="offset points")
    for row in r["rows"]:
        if row["kind"] == "baseline" or row.get("bd_rate_psnr_y_cubic") is None:
            continue
        marker = {"oracle": "s", "model": "^", "preset": "x"}[row["kind"]]
        color = {"oracle": "green", "model": "C0", "preset": "C3"}[row["kind"]]
        ax.scatter(100 * row["time_saving_encoder"], row["bd_rate_psnr_y_cubic"], marker=marker, color=color)
        ax.annotate(
            row["label"],
            (100 * row["time_saving_encoder"], row["bd_rate_psnr_y_cubic"]),
            fontsize=8,
            xytext=(4, 4),
            textcoords="offset points",
        )
        if row["kind"] == "model" and row.get("time_saving_end_to_end") is not None:
            ax.scatter(
                100 * row["time_saving_end_to_end"],
                row["bd_rate_psnr_y_cubic"],
                marker="^",
                facecolors="none",
                edgecolors=color,
            )
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_xlabel("encoder time saving vs baseline (%)  (hollow: with inference)")
    ax.set_ylabel("BD-rate PSNR-Y (%)")
    ax.grid(alpha=0.3)
    ax.set_title("time saving vs BD-rate")
    return [rd, _save(fig, out / "ts_vs_bdrate.png")]
