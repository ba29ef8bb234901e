"""The main job on the embedded clips, end to end.

extract (training clips and a held-out clip, four QPs) -> train (all stages) -> evaluate
(F1 on the held-out clip) -> eval-encode (the held-out clip, all-intra, the staged model and
the shipped superblock model) -> eval-encode in random access (the shipped random-access
model, a whole group of frames with its alt-ref) -> report.html.
Each step skips work an earlier run finished, so a second run is quick.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from av1tools.configs import same_config, write_config
from av1tools.eval.config import DEFAULT_CQ_LEVELS, EvalEncodeConfig, EvaluateConfig, OperatingPoint
from av1tools.extract.aom import AomTools, EncodeSettings
from av1tools.extract.pipeline import ExtractConfig, Progress, extract
from av1tools.model.config import ENCODING_DECISION, TrainConfig, TrainJob
from av1tools.model.staged.config import StagedConfig

Log = Callable[[str], None]


@dataclass(frozen=True)
class DemoPlan:
    train_clips: tuple[tuple[str, int], ...]  # (sample, frames)
    heldout: str
    heldout_frames: int
    val_sequences: tuple[str, ...]  # named, so adding a clip never moves the split
    cq_levels: tuple[int, ...]
    epochs: int
    max_samples: int
    points: tuple[OperatingPoint, ...]  # the staged model trained here
    superblock_points: tuple[OperatingPoint, ...]  # the shipped superblock model (--model default)
    presets: tuple[int, ...]
    repeat: int
    ra: tuple[str, int, int, tuple[int, ...]]  # random access: (clip, frames, baseline cpu-used, presets)
    ra_points: tuple[OperatingPoint, ...]


FULL = DemoPlan(
    train_clips=(("carphone", 30), ("astronaut-pan", 30), ("coffee-pan", 30), ("bikes", 15)),
    heldout="bigbuckbunny-cif",
    heldout_frames=10,
    val_sequences=("coffee-pan",),
    cq_levels=DEFAULT_CQ_LEVELS,
    epochs=8,
    max_samples=15000,
    points=(
        OperatingPoint(top_k=1),
        OperatingPoint(top_k=2),
        OperatingPoint(threshold=0.2),
        OperatingPoint(threshold=0.1),
    ),
    superblock_points=(
        OperatingPoint(top_k=1),
        OperatingPoint(top_k=2),
        OperatingPoint(coverage=0.8),
        OperatingPoint(coverage=0.9),
        OperatingPoint(coverage=0.95),
    ),
    presets=(4, 5, 6),
    repeat=3,
    ra=("bigbuckbunny-cif", 17, 3, (4, 5, 6)),
    ra_points=(OperatingPoint(top_k=2), OperatingPoint(coverage=0.8)),
)
QUICK = DemoPlan(
    train_clips=(("carphone", 4), ("astronaut-pan", 4)),
    heldout="coffee-pan",
    heldout_frames=3,
    val_sequences=("astronaut-pan",),
    cq_levels=DEFAULT_CQ_LEVELS,
    epochs=2,
    max_samples=1500,
    points=(OperatingPoint(top_k=1),),
    superblock_points=(OperatingPoint(coverage=0.9),),
    presets=(4,),
    repeat=1,
    ra=("coffee-pan", 9, 5, (6,)),
    ra_points=(OperatingPoint(coverage=0.8),),
)


def run_demo(
    tools: AomTools,
    out: Path,
    quick: bool = False,
    progress: Progress | None = None,
    log: Log = print,
    fresh: bool = False,
) -> dict:
    """Run (or resume) the demo; returns its headline numbers and output paths."""
    plan = QUICK if quick else FULL
    out = Path(out)
    data, heldout_data = out / "data", out / "heldout"
    run_dir, f1_dir, enc_dir = out / "runs" / "demo", out / "reports" / "f1", out / "reports" / "encode"
    sb_dir = out / "reports" / "encode-superblock"

    log(
        f"[1/6] extracting {len(plan.train_clips)} training clips and {plan.heldout} at cq-levels "
        f"{list(plan.cq_levels)}"
    )
    for seq, frames in plan.train_clips + ((plan.heldout, plan.heldout_frames),):
        target = heldout_data if seq == plan.heldout else data
        result = extract(ExtractConfig((seq,), target, plan.cq_levels, EncodeSettings(frames=frames)), progress, log)
        if result.failed:
            raise RuntimeError(f"extraction failed: {result.failed[0]}")

    job = TrainJob(
        (str(data),),
        run_dir,
        net=StagedConfig(),
        train=TrainConfig(
            epochs=plan.epochs,
            max_samples=plan.max_samples,
            val_sequences=plan.val_sequences,
            progress=progress is not None,
        ),
    )
    if fresh or not same_config(run_dir, job, TrainConfig.NOT_RESULTS):
        from av1tools.model.families import train

        log(f"[2/6] training all stages ({plan.epochs} epochs, up to {plan.max_samples} nodes per stage)")
        train(job, log=log)
        fresh = True  # a new model: its F1 and encodes are new too
    else:
        log(f"[2/6] reusing the trained model in {run_dir}")
    metrics = json.loads((run_dir / "metrics.json").read_text())

    from av1tools.eval.encode.study import eval_encode
    from av1tools.eval.evaluate import evaluate
    from av1tools.report import write_report
    from av1tools.report.plots import confusion_plots, encode_plots

    f1_config = EvaluateConfig(run_dir, (str(heldout_data),), f1_dir)
    if fresh or not same_config(f1_dir, f1_config) or not (f1_dir / "evaluation.json").exists():
        log(f"[3/6] evaluating F1 on the held-out clip {plan.heldout}")
        result = evaluate(f1_config, log=log)
        write_report(
            "evaluation",
            result.to_dict(),
            f1_dir,
            "Partition prediction: agreement",
            confusion_plots,
            stem="evaluation",
        )
        write_config(f1_dir, f1_config)
    else:
        log(f"[3/6] reusing {f1_dir / 'evaluation.json'}")
    f1 = json.loads((f1_dir / "evaluation.json").read_text())

    def encode_study(config: EvalEncodeConfig, step: str, new: bool) -> dict:
        where, clip = Path(config.out), config.sequences[0]
        if new or not same_config(where, config) or not (where / "report.json").exists():
            log(f"{step} eval-encode ({config.mode}) on {clip} with {config.model}: baseline, oracle, model, presets")
            result = eval_encode(config, tools, progress, log)
            write_report("encode", result.to_dict(), where, f"eval-encode: {clip} ({config.model})", encode_plots)
            write_config(where, config)
        else:
            log(f"{step} reusing {where / 'report.json'}")
        return json.loads((where / "report.json").read_text())

    def intra(model: str, where: Path, points: tuple) -> EvalEncodeConfig:
        return EvalEncodeConfig(
            (plan.heldout,),
            where,
            model,
            plan.cq_levels,
            frames=plan.heldout_frames,
            points=points,
            presets=plan.presets,
            repeat=plan.repeat,
            decision=ENCODING_DECISION,
            exact_runs="check",  # the instrument's check; the headline is the stock verdict
        )

    clip, frames, cpu_used, presets = plan.ra
    random_access = EvalEncodeConfig(
        (clip,),
        out / "reports" / "encode-ra",
        "default",  # the shipped model of the mode: the random-access one
        plan.cq_levels,
        mode="ra",
        cpu_used=cpu_used,
        frames=frames,
        points=plan.ra_points,
        presets=presets,
        repeat=1,
        decision=ENCODING_DECISION,
        exact_runs="check",
    )
    report = encode_study(intra(str(run_dir), enc_dir, plan.points), "[4/6]", fresh)
    shipped = encode_study(intra("default", sb_dir, plan.superblock_points), "[5/6]", False)
    ra = encode_study(random_access, "[6/6]", False)
    return headline(metrics, f1, report, shipped, out) | {
        "encode_ra": _encode_rows(ra),
        "ra_report_html": str(out / "reports" / "encode-ra" / "report.html"),
    }


def _encode_rows(report: dict) -> dict:
    """The headline verdict's rows, as the demo prints them."""
    head = next(iter(report["verdicts"].values()))
    verdicts = head.get("ladder", {})
    return {
        r["label"]: {
            "time_saving_encoder": r.get("time_saving_encoder"),
            "time_saving_end_to_end": r.get("time_saving_end_to_end"),
            "bd_rate_psnr_y": r["bd_rate"].get("psnr_y", {}).get("cubic"),
            "bd_rate_ssim_y": r["bd_rate"].get("ssim_y", {}).get("cubic"),
            "vs_presets": verdicts.get(r["label"], {})
            .get("end_to_end", verdicts.get(r["label"], {}).get("encoder", {}))
            .get("difference"),
        }
        for r in head["rows"]
        if r["kind"] != "baseline"
    }


def headline(metrics: dict, f1: dict, report: dict, shipped: dict, out: Path) -> dict:
    return {
        "validation_macro_f1": {s: r["best_val_f1"] for s, r in metrics["stages"].items()},
        "heldout_macro_f1": {
            **{s: r["macro_f1"] for s, r in f1["stages"].items()},
            "end_to_end": f1["end_to_end"]["macro_f1"],
        },
        "encode": _encode_rows(report),
        "encode_superblock": _encode_rows(shipped),
        "report_html": str(out / "reports" / "encode" / "report.html"),
        "report_json": str(out / "reports" / "encode" / "report.json"),
        "superblock_report_html": str(out / "reports" / "encode-superblock" / "report.html"),
        "evaluation_md": str(out / "reports" / "f1" / "evaluation.md"),
    }


def format_headline(h: dict) -> str:
    from av1tools.report import pct, signed

    lines = [
        "",
        "Held-out macro-F1 (staged model): " + ", ".join(f"{k} {pct(v)}" for k, v in h["heldout_macro_f1"].items()),
    ]
    titles = (
        ("staged model, trained here", "encode"),
        ("shipped superblock model", "encode_superblock"),
        ("shipped random-access model (random access)", "encode_ra"),
    )
    for title, key in ((t, k) for t, k in titles if k in h):
        lines += [
            "",
            f"{title}:",
            f"{'run':<16} {'TS encoder':>11} {'TS end-to-end':>14} {'BD-rate PSNR-Y':>15} {'vs presets':>12}",
        ]
        for label, r in h[key].items():
            lines.append(
                f"{label:<16} {pct(r['time_saving_encoder']):>11} {pct(r['time_saving_end_to_end']):>14} "
                f"{signed(r['bd_rate_psnr_y']):>15} {signed(r['vs_presets'], unit=' pts'):>12}"
            )
    lines += [
        "",
        f"reports: {h['report_html']}",
        f"         {h['superblock_report_html']}",
        *([f"         {h['ra_report_html']}"] if "ra_report_html" in h else []),
        f"F1:      {h['evaluation_md']}",
    ]
    return "\n".join(lines)
