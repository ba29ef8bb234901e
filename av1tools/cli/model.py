"""Model commands: train, predict."""

from __future__ import annotations

from pathlib import Path

import click

from av1tools.cli import cli
from av1tools.cli.common import Output, cq_level_option, decision_option, default, device_option, epilog, output_options
from av1tools.model.config import (
    AGREEMENT_DECISION,
    ARCHS,
    LAYERS,
    ModelConfig,
    PredictConfig,
    SuperblockConfig,
    TrainConfig,
    TrainJob,
)


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
    help="Run directory for checkpoints, histories and metrics.json.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=default(TrainConfig, "epochs"), show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=default(TrainConfig, "batch_size"), show_default=True)
@click.option(
    "--lr", type=click.FloatRange(min=0, min_open=True), default=default(TrainConfig, "lr"), show_default=True
)
@device_option
@click.option(
    "--stage2-strategy",
    type=click.Choice(["adapter", "frozen", "finetune"]),
    default=default(ModelConfig, "stage_strategy"),
    show_default=True,
    help="How stages after Stage 1 use its trunk.",
)
@click.option(
    "--adapter-reduction",
    type=click.IntRange(min=1),
    default=default(ModelConfig, "adapter_reduction"),
    show_default=True,
)
@click.option(
    "--adapter-layers",
    default=",".join(default(ModelConfig, "adapter_layers")),
    show_default=True,
    help="Comma-separated ResNet layers followed by an adapter.",
)
@click.option(
    "--input-mode",
    type=click.Choice(["native", "resize"]),
    default=default(ModelConfig, "input_mode"),
    show_default=True,
    help="Blocks at their own size, or all resized to 64x64.",
)
@click.option(
    "--balance",
    type=click.Choice(["weights", "sampler", "focal", "none"]),
    default=default(TrainConfig, "balance"),
    show_default=True,
    help="Class imbalance: a balancing sampler (measured best), class weights, focal loss, none.",
)
@click.option(
    "--split",
    type=click.Choice(["sequence", "frame"]),
    default=default(TrainConfig, "split"),
    show_default=True,
    help="Hold out whole sequences (default) or frames.",
)
@click.option("--val-seq", "val_seqs", multiple=True, help="Validation sequence or group (repeatable).")
@click.option("--seed", type=int, default=default(TrainConfig, "seed"), show_default=True)
@click.option("--max-samples", type=click.IntRange(min=1), help="Cap on training nodes per stage.")
@click.option("--patience", type=click.IntRange(min=1), default=default(TrainConfig, "patience"), show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=default(TrainConfig, "workers"),
    show_default=True,
    help="DataLoader workers (0: load in the training process).",
)
@click.option(
    "--arch",
    type=click.Choice(ARCHS),
    default=default(TrainJob, "arch"),
    show_default=True,
    help="staged: the reference study's ResNet-18 + Conv-Adapter stages; superblock: one pass per "
    "64x64 superblock predicts every node (cheap enough for one CPU core).",
)
@click.option(
    "--widths",
    default=",".join(map(str, default(SuperblockConfig, "widths"))),
    show_default=True,
    help="superblock: channels at strides 4, 8, 16, 32, 64.",
)
@click.option(
    "--level-weights",
    type=click.Choice(["equal", "node"]),
    default=default(SuperblockConfig, "level_weights"),
    show_default=True,
    help="superblock: each tree level weighs the same in the loss, or each node.",
)
@click.option(
    "--uncoded",
    type=click.Choice(["mask", "implied"]),
    default=default(SuperblockConfig, "uncoded"),
    show_default=True,
    help="superblock: nodes the encoder never coded get no loss (mask), or NONE "
    "when they lie inside a block coded whole (implied).",
)
@click.option("--stream", is_flag=True, help="superblock: read shards in worker processes (bounded memory).")
@output_options("Print each stage's summary as JSON.")
def train(
    data,
    out: Path,
    epochs,
    batch_size,
    lr,
    device,
    stage2_strategy,
    adapter_reduction,
    adapter_layers,
    input_mode,
    balance,
    split,
    val_seqs,
    seed,
    max_samples,
    patience,
    workers,
    arch,
    widths,
    level_weights,
    uncoded,
    stream,
    quiet: bool,
    as_json: bool,
) -> None:
    """Train a partition predictor on extracted datasets: the staged model (Stage 1, 2,
    3-RECT, 3-AB) or the superblock model. Under torchrun the superblock model trains with
    DDP (one process per GPU, or gloo on CPUs)."""
    from av1tools.model.train import train_run

    layers = tuple(name.strip() for name in adapter_layers.split(",") if name.strip())
    bad = [name for name in layers if name not in LAYERS]
    if bad:
        raise click.BadParameter(
            f"unknown layer(s) {', '.join(bad)}; choose from {', '.join(LAYERS)}", param_hint="--adapter-layers"
        )
    try:
        width_list = tuple(int(w) for w in widths.split(","))
    except ValueError:
        raise click.BadParameter(f"{widths!r}: five comma-separated integers", param_hint="--widths") from None
    if len(width_list) != 5 or min(width_list) < 1:
        raise click.BadParameter(f"{widths!r}: five positive integers", param_hint="--widths")
    output = Output(quiet, as_json)
    job = TrainJob(
        arch=arch,
        superblock=SuperblockConfig(widths=width_list, level_weights=level_weights, uncoded=uncoded),
        stream=stream,
        data=tuple(data),
        out=out,
        model=ModelConfig(
            input_mode=input_mode,
            adapter_layers=layers,
            adapter_reduction=adapter_reduction,
            stage_strategy=stage2_strategy,
        ),
        train=TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            max_samples=max_samples,
            balance=balance,
            device=device,
            split=split,
            val_sequences=tuple(val_seqs),
            patience=patience,
            workers=workers,
            progress=not output.quiet,
        ),
    )
    result = train_run(job, log=output.log)
    summary = result.summary()

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
        return "\n".join(lines + [str(out / "metrics.json")])

    output.emit(summary, text)


@cli.command(epilog=epilog("predict"))
@click.option(
    "--model",
    "run_dir",
    required=True,
    help="A run directory written by `av1tools train` (either model), or 'default' (the shipped superblock model).",
)
@click.option("--seq", required=True, help="A y4m file, another container, or a sample name.")
@cq_level_option(
    multiple=False, required=True, help="libaom --cq-level the encode will use (sets the model's qindex input)."
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--frames", type=click.IntRange(min=1))
@click.option(
    "--sb-size", type=click.Choice(["64", "128"]), default=str(default(PredictConfig, "sb_size")), show_default=True
)
@click.option(
    "--walk",
    type=click.Choice(["split", "all"]),
    default=default(PredictConfig, "walk"),
    show_default=True,
    help="Descend through predicted SPLITs only, or through every node.",
)
@decision_option(AGREEMENT_DECISION)
@device_option
@output_options()
def predict(run_dir: Path, seq, cq_level, out: Path, frames, sb_size, walk, decision, device, quiet, as_json) -> None:
    """Predict every frame's partition trees with a trained model."""
    from av1tools.model.predict import predict as run_predict

    output = Output(quiet, as_json)
    config = PredictConfig(run_dir, seq, cq_level, out, frames, int(sb_size), walk, decision, device)
    bars = output.bars()  # the bar appears with the first frame, after the model loaded
    try:
        result = run_predict(config, (lambda done, total: bars(f"predict {seq}", done, total)) if bars else None)
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
@click.option("--jobs", "workers", type=click.IntRange(min=1), help="Encodes at once (default: the cores).")
@output_options("Print the trained model's metrics as JSON.")
def zoo_build(work: Path, out: Path | None, workers, quiet: bool, as_json: bool) -> None:
    """Train the default superblock model from scratch on the data its recipe names."""
    from av1tools.zoo import ZOO, build_default

    output = Output(quiet, as_json)
    target = out or ZOO / "default"
    metrics = build_default(work, target, workers, output.log)
    output.emit(metrics, lambda: f"val macro-F1 {metrics['best_val']['macro_f1']:.4f}\n{target}")


@zoo.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print the recipe and metrics as JSON.")
def zoo_info(as_json: bool) -> None:
    """What the default model is: its recipe, training data and validation numbers."""
    import json

    from av1tools.model.superblock_predict import default_model_dir

    where = default_model_dir()
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
            f"{where}\n  trained by: {recipe['command']} on {recipe['shards']} shards; photos: "
            f"{recipe['photos']}\n  validation macro-F1 {info['val']:.4f} {info['val_by_size']}\n"
            f"  checkpoint {info['checkpoint_bytes'] / 1e3:.0f} kB"
        )
