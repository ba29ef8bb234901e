"""Model commands: train, predict."""

from __future__ import annotations

from pathlib import Path

import click

from av1tools.cli.app import cli
from av1tools.cli.common import (
    IntList,
    NameList,
    Output,
    config_from,
    cq_level_option,
    decision_option,
    default,
    device_option,
    epilog,
    explicit,
    option_flag,
    output_options,
    sb_size_option,
)
from av1tools.model.config import BALANCE, SPLITS, WALKS, PredictConfig, TrainConfig, TrainJob
from av1tools.model.families import ARCHS, FAMILIES
from av1tools.zoo import DEFAULT

StagedConfig, SuperblockConfig = FAMILIES["staged"].config, FAMILIES["superblock"].config


@cli.command(epilog=epilog("train"))
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    help="Shard files, directories of shards, or manifest.json files (repeatable).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Run directory for checkpoints, histories, metrics.json and config.json.",
)
@click.option(
    "--arch",
    type=click.Choice(ARCHS),
    default=default(TrainJob, "arch"),
    show_default=True,
    help="; ".join(f"{f.name}: {f.summary}" for f in FAMILIES.values()) + ".",
)
@click.option("--epochs", type=click.IntRange(min=1), default=default(TrainConfig, "epochs"), show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=default(TrainConfig, "batch_size"), show_default=True)
@click.option(
    "--lr", type=click.FloatRange(min=0, min_open=True), default=default(TrainConfig, "lr"), show_default=True
)
@device_option(TrainConfig)
@click.option(
    "--split",
    type=click.Choice(SPLITS),
    default=default(TrainConfig, "split"),
    show_default=True,
    help="staged: hold out whole sequences (default) or frames.",
)
@click.option("--val-seq", "val_sequences", multiple=True, help="Validation sequence or group (repeatable).")
@click.option("--seed", type=int, default=default(TrainConfig, "seed"), show_default=True)
@click.option("--max-samples", type=click.IntRange(min=1), help="Cap on training samples (staged: per stage).")
@click.option("--max-val-samples", type=click.IntRange(min=1), help="Cap on validation samples (a seeded sample).")
@click.option("--patience", type=click.IntRange(min=1), default=default(TrainConfig, "patience"), show_default=True)
@click.option(
    "--loader-workers",
    type=click.IntRange(min=0),
    default=default(TrainConfig, "loader_workers"),
    show_default=True,
    help="DataLoader worker processes (0: load in the training process).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=0),
    default=default(TrainConfig, "threads"),
    show_default=True,
    help="torch's CPU threads (0: one per core). Use 1 when other work shares the cores.",
)
@click.option(
    "--stage2-strategy",
    "stage_strategy",
    type=click.Choice(StagedConfig.CHOICES["stage_strategy"]),
    default=default(StagedConfig, "stage_strategy"),
    show_default=True,
    help="staged: how stages after Stage 1 use its trunk.",
)
@click.option(
    "--adapter-reduction",
    type=click.IntRange(min=1),
    default=default(StagedConfig, "adapter_reduction"),
    show_default=True,
    help="staged: the adapters' channel reduction.",
)
@click.option(
    "--adapter-layers",
    type=NameList(StagedConfig.CHOICES["adapter_layers"]),
    default=default(StagedConfig, "adapter_layers"),
    show_default=True,
    help="staged: comma-separated ResNet layers followed by an adapter.",
)
@click.option(
    "--input-mode",
    type=click.Choice(StagedConfig.CHOICES["input_mode"]),
    default=default(StagedConfig, "input_mode"),
    show_default=True,
    help="staged: blocks at their own size, or all resized to 64x64.",
)
@click.option(
    "--balance",
    type=click.Choice(BALANCE),
    default=default(TrainConfig, "balance"),
    show_default=True,
    help="staged: class imbalance by a balancing sampler (measured best), class weights, focal loss, none.",
)
@click.option(
    "--widths",
    type=IntList(),
    default=default(SuperblockConfig, "widths"),
    show_default=True,
    help="superblock: channels at strides 4, 8, 16, 32, 64.",
)
@click.option(
    "--level-weights",
    type=click.Choice(SuperblockConfig.CHOICES["level_weights"]),
    default=default(SuperblockConfig, "level_weights"),
    show_default=True,
    help="superblock: each tree level weighs the same in the loss, or each node.",
)
@click.option(
    "--uncoded",
    type=click.Choice(SuperblockConfig.CHOICES["uncoded"]),
    default=default(SuperblockConfig, "uncoded"),
    show_default=True,
    help="superblock: nodes the encoder never coded get no loss (mask), or NONE "
    "when they lie inside a block coded whole (implied).",
)
@click.option(
    "--margin",
    type=click.Choice(["0", "16", "32"]),
    default=str(default(SuperblockConfig, "margin")),
    show_default=True,
    callback=lambda ctx, param, value: int(value),
    help="superblock: context pixels of the frame around each superblock, each side.",
)
@click.option(
    "--activity/--no-activity",
    default=default(SuperblockConfig, "activity"),
    show_default=True,
    help="superblock: a local-activity input channel (5x5 standard deviation).",
)
@click.option(
    "--frame-size/--no-frame-size",
    default=default(SuperblockConfig, "frame_size"),
    show_default=True,
    help="superblock: the frame's width and height as inputs beside the qindex.",
)
@click.option(
    "--references",
    type=click.Choice(["0", "1", "2"]),
    default=str(default(SuperblockConfig, "references")),
    show_default=True,
    callback=lambda ctx, param, value: int(value),
    help="superblock (inter frames): co-located windows of the frame's nearest past (1) and future (2) reference.",
)
@click.option(
    "--frame-info/--no-frame-info",
    default=default(SuperblockConfig, "frame_info"),
    show_default=True,
    help="superblock (inter frames): the frame's pyramid level, hidden flag and type beside the qindex.",
)
@click.option(
    "--init",
    metavar="RUN",
    help="superblock: start from this run's weights (a run directory, or 'default': the shipped "
    "all-intra model); inputs only this model has start at zero.",
)
@click.option(
    "--stream", is_flag=True, default=default(TrainJob, "stream"), help="superblock: read shards in worker processes."
)
@output_options("Print each stage's summary as JSON.")
@click.pass_context
def train(ctx: click.Context, quiet: bool, as_json: bool, **opts) -> None:
    """Train a partition predictor on extracted datasets: the staged model (Stage 1, 2,
    3-RECT, 3-AB) or the superblock model. Under torchrun the superblock model trains with
    DDP (one process per GPU, or gloo on CPUs)."""
    from av1tools.model.families import train as run_train

    output = Output(quiet, as_json)
    result = run_train(train_job(ctx, opts, progress=not output.quiet), log=output.log)
    summary = result.summary
    if result.metrics.get("calibration"):  # a superblock run (rank 0): the report a person opens
        from av1tools.report import write_report
        from av1tools.report.plots import superblock_plots

        paths = write_report("superblock", result.metrics, result.run_dir, "Superblock model", superblock_plots)
        summary = {k: v | {"report": str(paths["html"])} for k, v in summary.items()}

    def text() -> str:
        lines = []
        for s, r in summary.items():
            note = f"  SKIPPED: {r['skipped']}" if "skipped" in r else ""
            note += "".join(f"  NOTE: {n}" for n in r.get("notes", []))
            trainable = f"trainable {r['trainable_percent']:.2f}%, " if "trainable_percent" in r else ""
            lines.append(
                f"{s:<12} val macro-F1 {r['val_macro_f1']:.4f} (epoch {r['best_epoch']}), {trainable}"
                f"{r['checkpoint']} ({r['checkpoint_bytes'] / 1e6:.1f} MB){note}"
            )
        return "\n".join(lines + [str(result.run_dir / "metrics.json")])

    output.emit(summary, text)


def train_job(ctx: click.Context, opts: dict, progress: bool = True) -> TrainJob:
    """The train command's job, built by keyword; an option of the other family is refused."""
    family = FAMILIES[opts["arch"]]
    foreign = [
        n for f in FAMILIES.values() if f is not family for n in explicit(ctx, f.options) if n not in family.options
    ]
    if foreign:
        raise click.UsageError(
            f"{', '.join(option_flag(ctx, n) for n in foreign)}: not an option of the {family.name} model "
            f"(--arch {family.name})"
        )
    widths = opts["widths"]
    if len(widths) != 5 or min(widths) < 1:
        raise click.BadParameter(f"{','.join(map(str, widths))}: five positive integers", param_hint="--widths")
    return config_from(
        TrainJob,
        opts,
        data=tuple(opts["data"]),
        net=config_from(family.config, opts),
        train=config_from(TrainConfig, opts, val_sequences=tuple(opts["val_sequences"]), progress=progress),
    )


@cli.command(epilog=epilog("predict"))
@click.option(
    "--model",
    required=True,
    help="A run directory written by `av1tools train` (either model), or 'default' (the shipped superblock model).",
)
@click.option("--seq", "sequence", required=True, help="A y4m file, another container, or a sample name.")
@cq_level_option(
    multiple=False, required=True, help="libaom --cq-level the encode will use (sets the model's qindex input)."
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--frames", type=click.IntRange(min=1))
@sb_size_option(PredictConfig)
@click.option(
    "--walk",
    type=click.Choice(WALKS),
    default=default(PredictConfig, "walk"),
    show_default=True,
    help="Descend through predicted SPLITs only, or through every node.",
)
@decision_option(default(PredictConfig, "decision"))
@device_option(PredictConfig)
@output_options()
def predict(quiet, as_json, **opts) -> None:
    """Predict every frame's partition trees with a trained model."""
    from av1tools.model.predict import predict as run_predict

    output = Output(quiet, as_json)
    config = config_from(PredictConfig, opts)
    bars = output.bars()  # the bar appears with the first frame, after the model loaded
    try:
        result = run_predict(
            config, (lambda done, total: bars(f"predict {config.sequence}", done, total)) if bars else None
        )
    finally:
        if bars:
            bars.close()
    output.emit(
        result.to_dict(),
        lambda: (
            f"{result.path}  ({result.nodes} nodes, {result.frames} frames, "
            f"{result.seconds / max(result.frames, 1):.3f} s/frame)"
        ),
    )


@cli.group()
def zoo() -> None:
    """The models shipped with av1tools (--model default) and the recipe that trains them."""


@zoo.command("build")
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where the training shards and the run go (reused by a rerun).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the model goes (default: inside the package, replacing the shipped one).",
)
@click.option("--jobs", type=click.IntRange(min=1), help="Encodes at once (default: the cores).")
@click.option(
    "--mode",
    type=click.Choice(list(DEFAULT)),
    default="intra",
    show_default=True,
    help="Which shipped model: all-intra, or random access (the one that sees motion).",
)
@output_options("Print the trained model's metrics as JSON.")
def zoo_build(work: Path, out: Path | None, jobs, mode: str, quiet: bool, as_json: bool) -> None:
    """Train a default superblock model from scratch on the data its recipe names."""
    from av1tools.zoo.recipe import RECIPES, build_default

    output = Output(quiet, as_json)
    target = out or DEFAULT[mode]
    metrics = build_default(work, target, jobs, output.log, RECIPES[mode])
    output.emit(metrics, lambda: f"val macro-F1 {metrics['best_val']['macro_f1']:.4f}\n{target}")


@zoo.command("info")
@click.option("--mode", type=click.Choice(list(DEFAULT)), default="intra", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the recipe and metrics as JSON.")
def zoo_info(mode: str, as_json: bool) -> None:
    """What a default model is: its recipe, training data and validation numbers."""
    import json

    from av1tools.zoo import default_model_dir

    where = default_model_dir(mode)
    recipe = json.loads((where / "recipe.json").read_text())
    metrics = json.loads((where / "metrics.json").read_text())
    info = {
        "path": str(where),
        "recipe": recipe,
        "val": metrics["best_val"]["macro_f1"],
        "val_by_size": metrics["best_val"]["by_size"],
        "checkpoint_bytes": metrics["checkpoint_bytes"],
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        click.echo(
            f"{where}\n  trained by: {recipe['command']} on {recipe['shards']} shards of "
            f"{recipe['sequences']} sequences from {', '.join(recipe['sources'])}\n"
            f"  validation macro-F1 {info['val']:.4f} {info['val_by_size']}\n"
            f"  checkpoint {info['checkpoint_bytes'] / 1e3:.0f} kB"
        )
