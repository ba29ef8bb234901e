"""Evaluation commands: evaluate, eval-encode, experiment transfer, and demo (the main job)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from av1tools.cli.app import cli
from av1tools.cli.common import (
    Coverage,
    IntList,
    Output,
    config_from,
    cq_level_option,
    decision_option,
    default,
    device_option,
    epilog,
    explicit,
    output_options,
    paths_text,
    sb_size_option,
    tools,
)
from av1tools.eval.config import (
    CONDITIONS,
    FEATURES,
    INFERENCE,
    VERDICTS,
    EvalEncodeConfig,
    EvaluateConfig,
    OperatingPoint,
)
from av1tools.extract.aom import CPU_USED_RANGE, MODES
from av1tools.model.staged.config import TransferConfig


@cli.command(epilog=epilog("evaluate"))
@click.option(
    "--model",
    required=True,
    help="A trained run (either model), or 'default' (the shipped superblock model).",
)
@click.option(
    "--data", "data", multiple=True, required=True, help="Shard files, directories or manifest.json files (repeatable)."
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--include-border", is_flag=True, help="Also score nodes crossing the frame edge.")
@click.option(
    "--calibration",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=lambda ctx, param, value: _simulation_of(value) if value else None,
    help="report.json of an eval-encode run made with --calibration CLIP: its cost model turns the top-1 maps "
    "into a simulated time saving.",
)
@decision_option(default(EvaluateConfig, "decision"))
@device_option(EvaluateConfig)
@output_options("Print the headline numbers as JSON.")
def evaluate(quiet, as_json, **opts) -> None:
    """Per-stage and end-to-end F1 of a model against the encoder's decisions."""
    from av1tools.configs import write_config
    from av1tools.eval.evaluate import evaluate as run_evaluate
    from av1tools.paths import output_dir
    from av1tools.report import write_report
    from av1tools.report.plots import confusion_plots

    output = Output(quiet, as_json)
    config = config_from(EvaluateConfig, opts, data=tuple(opts["data"]))
    result = run_evaluate(config, output.log)
    with output_dir(config.out):
        paths = write_report(
            "evaluation",
            result.to_dict(),
            config.out,
            "Partition prediction: agreement",
            confusion_plots,
            stem="evaluation",
        )
        write_config(config.out, config)
    head = result.headline()
    output.emit(
        {"macro_f1": head, "report": str(paths["md"]), "json": str(paths["json"])},
        lambda: "\n".join(
            [f"{k:<22} {100 * v:6.2f}%" for k, v in head.items()] + [str(paths["md"]), str(paths["json"])]
        ),
    )


def _simulation_of(report: Path) -> dict:
    """The calibrated simulation of an eval-encode report's first verdict (a usage error otherwise)."""
    try:
        data = json.loads(report.read_text())
        simulation = data["simulation"]
        cal = {"calibration_clip": simulation["calibration_clip"], **simulation[next(iter(data["verdicts"]))]}
        if not cal.get("cost_models"):
            raise KeyError("cost_models")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise click.BadParameter(
            f"{report}: not an eval-encode report with a calibrated simulation (eval-encode makes one with "
            "--calibration CLIP)",
            param_hint="--calibration",
        ) from None
    return cal


@cli.command("eval-encode", epilog=epilog("eval-encode"))
@click.option(
    "--seq",
    "sequences",
    multiple=True,
    required=True,
    help="Clips to evaluate: files, samples, catalogue names, directories, list files or globs "
    "(repeatable; one report over the set).",
)
@click.option(
    "--model",
    help="A trained run (either model) or 'default' (the shipped superblock model); "
    "without it only the baseline, oracle and presets are encoded.",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@cq_level_option(
    multiple=True,
    default_value=default(EvalEncodeConfig, "cq_levels"),
    help="cq-levels (repeatable); the default spreads four points over the useful range, as BD-rate needs.",
)
@click.option("--mode", type=click.Choice(MODES), default=default(EvalEncodeConfig, "mode"), show_default=True)
@click.option(
    "--cpu-used",
    type=click.IntRange(0, max(hi for _, hi in CPU_USED_RANGE.values())),
    default=default(EvalEncodeConfig, "cpu_used"),
    show_default=True,
    help="The baseline's preset.",
)
@click.option("--frames", type=click.IntRange(min=1), help="Encode only the first N frames.")
@click.option(
    "--top-k",
    "top_ks",
    type=click.IntRange(1, 10),
    multiple=True,
    help="Operating point: allow the k most probable types (repeatable).",
)
@click.option(
    "--threshold",
    "thresholds",
    type=click.FloatRange(0, 1),
    multiple=True,
    help="Operating point: the most probable type plus those of probability >= T (repeatable).",
)
@click.option(
    "--coverage",
    "coverages",
    type=Coverage(),
    multiple=True,
    help="Operating point: the fewest types whose probabilities reach P; nodes needing more than "
    "--max-types of them keep libaom's search (repeatable). 'P,64=Q,8=R': nodes of 64x64 need Q, "
    "of 8x8 R.",
)
@click.option(
    "--max-types",
    type=click.IntRange(1, 10),
    default=default(OperatingPoint, "max_types"),
    show_default=True,
    help="With --coverage: the most types a guided node may keep.",
)
@click.option(
    "--presets",
    type=IntList(),
    default=default(EvalEncodeConfig, "presets"),
    show_default=True,
    help="libaom's preset ladder to compare with, as cpu-used values (comma-separated; '' for none).",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=default(EvalEncodeConfig, "repeat"),
    show_default=True,
    help="Encodes per run (rounds); a time saving is each run's mean CPU time over its baseline's.",
)
@click.option(
    "--bracket/--no-bracket",
    default=default(EvalEncodeConfig, "bracket"),
    show_default=True,
    help="Time each baseline twice a round, before and after the runs compared with it (their mean is "
    "what the runs are paired with).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=default(EvalEncodeConfig, "threads"),
    show_default=True,
    help="Threads of the encoder and of the model alike.",
)
@click.option(
    "--verdict",
    "verdicts",
    type=click.Choice(VERDICTS),
    multiple=True,
    default=default(EvalEncodeConfig, "verdicts"),
    show_default=True,
    help="stock: against stock libaom and its stock presets (what a user runs); exact: every run with "
    "the exact switch, where the oracle must equal the baseline (repeatable; the first is the headline).",
)
@click.option(
    "--exact-runs",
    type=click.Choice(["all", "check"]),
    default=default(EvalEncodeConfig, "exact_runs"),
    show_default=True,
    help="Under the exact verdict, every run, or only its check (the baseline and the oracle).",
)
@click.option(
    "--guided-features",
    type=click.Choice(FEATURES),
    default=default(EvalEncodeConfig, "guided_features"),
    show_default=True,
    help="The speed features of the stock verdict's guided encodes (docs/guided.md: which is fastest).",
)
@click.option(
    "--compare-features",
    is_flag=True,
    default=default(EvalEncodeConfig, "compare_features"),
    help="Also run the model's points with the other guided speed features, in the same rounds: "
    "their own curve beside the model's (which features are faster at their quality).",
)
@click.option(
    "--inference",
    type=click.Choice(INFERENCE),
    default=default(EvalEncodeConfig, "inference"),
    show_default=True,
    help="native: the encoder runs the model itself (its time is the encoder's, the patch's timers give its "
    "share); python: the model writes a decision file first; auto: native where the encoder and model allow.",
)
@click.option(
    "--key-frames-searched",
    is_flag=True,
    default=default(EvalEncodeConfig, "key_frames_searched"),
    help="Inter modes: also run the model's points with the key frames left to libaom's search, their "
    "own curve in the same rounds (the model in Python).",
)
@click.option(
    "--swap",
    is_flag=True,
    default=default(EvalEncodeConfig, "swap"),
    help="Also libaom's own intra partition CNN switched off, alone and with the model in its place "
    "(stock verdict, at every operating point).",
)
@click.option(
    "--heuristic",
    help="A variance heuristic (a run of `train --arch variance`, or 'default') run at the same points.",
)
@click.option(
    "--conditions",
    type=click.Choice(CONDITIONS),
    help="aom-ctc: the AOM common test conditions' six rate points (the cq-levels nearest their qindex), "
    "frame counts (--frames shortens), every CTC metric and AVM's BD-rate; options given explicitly win.",
)
@click.option(
    "--budget",
    "budgets",
    type=click.FloatRange(min=0),
    multiple=True,
    default=default(EvalEncodeConfig, "budgets"),
    show_default=True,
    help="BD-rate budgets (%) the verdict names the best point for (repeatable).",
)
@click.option(
    "--calibration",
    default=default(EvalEncodeConfig, "calibration"),
    show_default=True,
    callback=lambda ctx, param, value: value or None,
    help="A clip to fit the speed-up simulation's two scales on (default none: node costs as they are); "
    "never an evaluated one.",
)
@sb_size_option(EvalEncodeConfig, dynamic=True)
@decision_option(default(EvalEncodeConfig, "decision"))
@device_option(EvalEncodeConfig)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=default(EvalEncodeConfig, "jobs"),
    show_default=True,
    help="Encodes at once (1 gives the cleanest CPU times on a small machine).",
)
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="Run the encodes on this dask.distributed scheduler.")
@output_options("Print the summary rows as JSON.")
@click.pass_context
def eval_encode(ctx, quiet, as_json, **opts) -> None:
    """Encoder time saving vs quality loss when a model replaces or prunes libaom's partition
    search, against the oracle and libaom's own presets."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # no spinning threads billed as inference
    from av1tools.configs import write_config
    from av1tools.eval.encode.study import eval_encode as run_eval
    from av1tools.paths import output_dir
    from av1tools.report import pct, signed, write_report
    from av1tools.report.plots import encode_plots

    config = eval_encode_config(ctx, opts)
    output = Output(quiet, as_json)
    bars = output.bars()
    try:
        with output_dir(config.out):
            result = run_eval(config, tools(ctx), bars, output.log)
            title = f"eval-encode: {', '.join(c['name'] for c in result.settings['clips'])}"
            paths = write_report("encode", result.to_dict(), config.out, title, encode_plots)
            write_config(config.out, config)
    finally:
        if bars:
            bars.close()

    head = result.headline

    def text() -> str:
        rows = [["run", "TS encoder", "TS end-to-end", "BD-rate PSNR-Y", "vs presets"]]
        for r in head.rows:
            diff = head.ladder.get(r.label, {}).get("end_to_end", {}).get("difference")
            rows.append(
                [
                    r.label,
                    pct(r.time_saving_encoder),
                    pct(r.time_saving_end_to_end),
                    signed(r.bd()),
                    signed(diff, unit=" pts") if diff is not None else "",
                ]
            )
        title = f"{head.name} verdict (the headline)"
        return title + "\n" + "\n".join("  ".join(f"{c:<15}" for c in row) for row in rows) + "\n" + paths_text(paths)

    data = result.to_dict()
    verdicts = {k: {"rows": v["rows"], "ladder": v["ladder"], "best": v["best"]} for k, v in data["verdicts"].items()}
    output.emit({"verdicts": verdicts, **{k: str(v) for k, v in paths.items()}}, text)


def eval_encode_config(ctx: click.Context, opts: dict) -> EvalEncodeConfig:
    """The eval-encode command's study, built by keyword."""
    points = (
        tuple(OperatingPoint(top_k=k) for k in opts["top_ks"])
        + tuple(OperatingPoint(threshold=t) for t in opts["thresholds"])
        + tuple(
            OperatingPoint(coverage=c, max_types=opts["max_types"], size_coverage=by_size)
            for c, by_size in opts["coverages"]
        )
    )
    given = {
        "sequences": tuple(opts["sequences"]),
        "cq_levels": tuple(opts["cq_levels"]),
        "verdicts": tuple(dict.fromkeys(opts["verdicts"])),
        "budgets": tuple(opts["budgets"]),
        "aom_dir": ctx.obj["aom_dir"],
    }
    if points:
        given["points"] = points
    if opts["conditions"]:  # the CTC's values, where the user gave none of their own
        from av1tools.eval.config import study_conditions

        mine = explicit(ctx, ("cq_levels", "frames"))
        given |= {k: v for k, v in study_conditions(opts["mode"]).items() if k not in mine}
    given["cq_levels"] = tuple(sorted(given["cq_levels"]))
    return config_from(EvalEncodeConfig, opts, **given)


@cli.group()
def experiment() -> None:
    """Studies that train several models and write a report."""


@experiment.command(epilog=epilog("transfer"))
@click.option("--data", "data", multiple=True, required=True, help="Shard files, directories or manifests.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    help="Independent repetitions, each training its own Stage 1 (default 3; 2 with --quick); "
    "intervals need 2 or more.",
)
@click.option("--first-seed", type=int, default=default(TransferConfig, "first_seed"), show_default=True)
@click.option("--quick", is_flag=True, help="A smoke run of the whole study: small samples, few epochs.")
@click.option("--epochs", type=click.IntRange(min=1), default=default(TransferConfig, "epochs"), show_default=True)
@click.option(
    "--max-samples",
    type=click.IntRange(min=1),
    default=default(TransferConfig, "max_samples"),
    show_default=True,
    help="Training nodes per stage.",
)
@click.option(
    "--max-val-samples",
    type=click.IntRange(min=1),
    default=default(TransferConfig, "max_val_samples"),
    show_default=True,
    help="Validation nodes per stage.",
)
@click.option(
    "--ablations/--no-ablations",
    default=default(TransferConfig, "ablations"),
    show_default=True,
    help="Also run the reduction sweep and the layer ablation (7 more trainings per seed).",
)
@device_option(TransferConfig)
@output_options("Print each variant's Stage-2 macro-F1 interval as JSON.")
def transfer(quiet, as_json, **opts) -> None:
    """The reference study's Stage-2 transfer experiment over seeds: fine-tune vs frozen vs
    Conv-Adapter, and ablations, with intervals and a computed verdict."""
    from av1tools.model.staged.transfer import run_transfer
    from av1tools.report import write_report
    from av1tools.report.plots import transfer_plots

    output = Output(quiet, as_json)
    config = config_from(TransferConfig, opts, data=tuple(opts["data"]))
    result = run_transfer(config, output.log).to_dict()
    paths = write_report("transfer", result, config.out, "Stage-2 transfer study", transfer_plots, stem="transfer")
    output.emit(
        {
            "val_macro_f1": {k: v["val_macro_f1"] for k, v in result["summary"].items()},
            "claim": result["claim"],
            "files": [str(p) for p in paths.values()],
        },
        lambda: f"the reference study's claim {result['claim']['verdict']}\n" + paths_text(paths),
    )


@cli.command(epilog=epilog("demo"))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Where the demo writes everything.",
)
@click.option("--quick", is_flag=True, help="A smoke version (a few minutes): fewer clips, frames, epochs.")
@click.option("--fresh", is_flag=True, help="Retrain and re-evaluate even if earlier results exist.")
@output_options("Print the headline numbers as JSON.")
@click.pass_context
def demo(ctx: click.Context, out: Path, quick: bool, fresh: bool, quiet: bool, as_json: bool) -> None:
    """The main job on the embedded clips: extract, train, evaluate F1, eval-encode, report."""
    from av1tools.demo import format_headline, run_demo

    output = Output(quiet, as_json)
    bars = output.bars()
    try:
        head = run_demo(tools(ctx), out, quick=quick, progress=bars, log=output.log, fresh=fresh)
    finally:
        if bars:
            bars.close()
    output.emit(head, lambda: format_headline(head))
