"""The ``av1tools`` command line: parse options, call one function, print what was written."""

from __future__ import annotations

import json
import sys
import threading
import traceback
from pathlib import Path

import click

from av1tools import __version__

EXAMPLES = {
    "extract": "av1tools extract --seq foreman.y4m --out data/ --qp 27 --qp 32 --frames 30",
    "info": "av1tools info data/foreman_intra_cpu3_sb64_q32_f30.h5",
    "samples": "av1tools samples carphone",
    "doctor": "av1tools doctor",
    "demo": "av1tools demo --quick",
    "train": "av1tools train --data data/ --out runs/first --epochs 10 --max-samples 20000",
    "predict": "av1tools predict --model runs/first --seq foreman.y4m --qp 32 --out preds.h5",
    "transfer": "av1tools experiment transfer --data data/ --out reports/transfer --quick",
    "evaluate": "av1tools evaluate --model runs/first --data data/heldout/ --out reports/first-f1",
    "eval-encode": "av1tools eval-encode --seq foreman.y4m --model runs/first --out reports/foreman --frames 10",
}


def _epilog(name: str) -> str:
    return f"\b\nExample:\n  {EXAMPLES[name]}"


class ProgressBars:
    """One tqdm bar per label (sequence x QP), safe to call from worker threads."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bars: dict[str, object] = {}  # the open ones; finished bars leave their line
        self.lock = threading.Lock()

    def __call__(self, label: str, done: int, total: int) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        with self.lock:
            bar = self.bars.get(label)
            if bar is None:
                bar = self.bars[label] = tqdm(total=total, desc=label, unit="frame",
                                              position=len(self.bars), leave=True, file=sys.stderr)
            bar.update(done - bar.n)
            if done >= total:
                bar.close()
                del self.bars[label]

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="av1tools")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.option("--aom-dir", type=click.Path(file_okay=False), envvar="AV1TOOLS_AOM_DIR",
              help="Your own libaom build (a directory with aomenc, aomdec, inspect). "
                   "Default: $AV1TOOLS_AOM_DIR, else av1tools' cached build.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, aom_dir: str | None) -> None:
    """AV1 partition research with the real libaom encoder.

    Extract partition-labelled datasets from libaom encodes, train a staged
    predictor, and measure what it is worth.
    """
    ctx.obj = {"debug": debug, "aom_dir": aom_dir}


def _tools(ctx: click.Context):
    from av1tools.extract.aom import find_tools
    return find_tools(ctx.obj["aom_dir"])


@cli.command(epilog=_epilog("doctor"))
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Show what av1tools found (libaom, inspection, SIMD, Python packages)."""
    from av1tools.doctor import run_checks

    checks = run_checks(ctx.obj["aom_dir"])
    if as_json:
        click.echo(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        for c in checks:
            mark = "ok " if c.ok else "MISSING"
            fix = f"\n        fix: {c.fix}" if not c.ok and c.fix else ""
            click.echo(f"{mark:>7}  {c.name:<14} {c.detail}{fix}")
    if not all(c.ok for c in checks):
        ctx.exit(1)


@cli.command(epilog=_epilog("samples"))
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print name, description, path as JSON.")
def samples(names: tuple[str, ...], as_json: bool) -> None:
    """List the embedded sample clips, or materialise NAMES as y4m and print their paths."""
    from av1tools.extract.sequences import SAMPLES, sample_path
    from av1tools.paths import cache_root

    if not names:
        rows = [{"name": s.name, "description": s.description,
                 "cached": (cache_root() / "samples" / f"{s.name}.y4m").exists()}
                for s in SAMPLES.values()]
        if as_json:
            click.echo(json.dumps(rows, indent=2))
        else:
            for r in rows:
                click.echo(f"{r['name']:<17} {'cached ' if r['cached'] else '       '} {r['description']}")
        return
    paths = {n: str(sample_path(n)) for n in names}
    click.echo(json.dumps(paths, indent=2) if as_json else "\n".join(paths.values()))


@cli.command(epilog=_epilog("extract"))
@click.option("--seq", "seqs", multiple=True, required=True,
              help="A y4m file, any video PyAV decodes, or a sample name (repeatable).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for the .h5 datasets and .ivf bitstreams.")
@click.option("--qp", "qps", type=click.IntRange(0, 63), multiple=True, default=(32,),
              show_default=True, help="libaom --cq-level (repeatable).")
@click.option("--frames", type=click.IntRange(min=1), help="Encode only the first N frames.")
@click.option("--cpu-used", type=click.IntRange(0, 9), default=3, show_default=True)
@click.option("--mode", type=click.Choice(["intra", "inter"]), default="intra", show_default=True,
              help="intra: libaom's all-intra usage; inter: good quality, one pass.")
@click.option("--sb-size", type=click.Choice(["64", "128"]), default="64", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="QPs encoded in parallel.")
@click.option("--json", "as_json", is_flag=True, help="Print the written files as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def extract(ctx: click.Context, seqs, out: Path, qps, frames, cpu_used, mode, sb_size, workers,
            as_json: bool, quiet: bool) -> None:
    """Encode sequences with libaom and write partition-labelled HDF5 datasets."""
    from av1tools.extract.aom import EncodeSettings
    from av1tools.extract.pipeline import extract as run_extract

    tools = _tools(ctx)
    base = EncodeSettings(cq_level=qps[0], cpu_used=cpu_used, mode=mode, sb_size=int(sb_size),
                          frames=frames)
    bars = ProgressBars(quiet or as_json)
    results = []
    try:
        for seq in seqs:
            results += run_extract(tools, seq, out, sorted(set(qps)), base, workers, bars)
    finally:
        bars.close()
    rows = [{"dataset": str(r.dataset), "bitstream": str(r.bitstream), "skipped": r.skipped,
             "encode_seconds": round(r.encode_seconds, 3), "total_seconds": round(r.total_seconds, 3)}
            for r in results]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for r in rows:
            note = "  (already there, skipped)" if r["skipped"] else ""
            click.echo(f"{r['dataset']}{note}")


@cli.command(epilog=_epilog("info"))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print settings and counts as JSON.")
def info(files: tuple[Path, ...], as_json: bool) -> None:
    """Print a dataset's settings and, per node size, the count of each partition type."""
    from av1tools.extract.dataset import format_summary, read_summary

    summaries = [read_summary(f) for f in files]
    if as_json:
        click.echo(json.dumps([s.to_json() for s in summaries], indent=2))
    else:
        click.echo("\n\n".join(format_summary(s) for s in summaries))


@cli.command(epilog=_epilog("train"))
@click.option("--data", "data", multiple=True, required=True,
              help="Dataset files or directories of .h5 files (repeatable).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run directory for checkpoints, histories and metrics.json.")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--stage2-strategy", type=click.Choice(["adapter", "frozen", "finetune"]),
              default="adapter", show_default=True, help="How stages after Stage 1 use its trunk.")
@click.option("--adapter-reduction", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--adapter-layers", default="layer3,layer4", show_default=True,
              help="Comma-separated ResNet layers followed by an adapter.")
@click.option("--input-mode", type=click.Choice(["native", "resize"]), default="native",
              show_default=True, help="Blocks at their own size, or all resized to 64x64.")
@click.option("--balance", type=click.Choice(["weights", "sampler", "focal", "none"]),
              default="sampler", show_default=True,
              help="Class imbalance: a balancing sampler (measured best), class weights, focal loss, none.")
@click.option("--split", type=click.Choice(["sequence", "frame"]), default="sequence", show_default=True,
              help="Hold out whole sequences (default) or frames.")
@click.option("--val-seq", "val_seqs", multiple=True, help="Validation sequence (repeatable).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-samples", type=click.IntRange(min=1), help="Cap on training nodes per stage.")
@click.option("--patience", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="DataLoader workers (0: load in the training process).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or epoch lines.")
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json's summary as JSON.")
def train(data, out: Path, epochs, batch_size, lr, device, stage2_strategy, adapter_reduction,
          adapter_layers, input_mode, balance, split, val_seqs, seed, max_samples, patience, workers,
          quiet: bool, as_json: bool) -> None:
    """Train the staged partition predictor (Stage 1, 2, 3-RECT, 3-AB) on extracted datasets."""
    from av1tools.model.network import LAYERS, ModelConfig
    from av1tools.model.train import TrainConfig, train_run

    layers = tuple(l.strip() for l in adapter_layers.split(",") if l.strip())
    bad = [l for l in layers if l not in LAYERS]
    if bad:
        raise click.BadParameter(f"unknown layer(s) {', '.join(bad)}; choose from {', '.join(LAYERS)}",
                                 param_hint="--adapter-layers")
    mc = ModelConfig(input_mode=input_mode, adapter_layers=layers, adapter_reduction=adapter_reduction,
                     stage_strategy=stage2_strategy)
    tc = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, max_samples=max_samples,
                     balance=balance, device=device, split=split, val_sequences=tuple(val_seqs),
                     patience=patience, workers=workers, progress=not (quiet or as_json))
    log = (lambda m: None) if quiet or as_json else (lambda m: click.echo(m, err=True))
    metrics = train_run(data, out, mc, tc, log=log)
    summary = {s: {"val_macro_f1": round(r["best_val_f1"], 4), "best_epoch": r["best_epoch"],
                   "trainable_percent": round(r["parameters"]["trainable_percent"], 3),
                   "checkpoint": str(out / r["checkpoint"]), "checkpoint_bytes": r["checkpoint_bytes"],
                   **({"skipped": r["skipped"]} if r["skipped"] else {})}
               for s, r in metrics["stages"].items()}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        for s, r in summary.items():
            note = f"  SKIPPED: {r['skipped']}" if "skipped" in r else ""
            click.echo(f"{s:<12} val macro-F1 {r['val_macro_f1']:.4f} (epoch {r['best_epoch']}), "
                       f"trainable {r['trainable_percent']:.2f}%, {r['checkpoint']} "
                       f"({r['checkpoint_bytes'] / 1e6:.1f} MB){note}")
        click.echo(str(out / "metrics.json"))


@cli.command(epilog=_epilog("predict"))
@click.option("--model", "run_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A run directory written by `av1tools train`.")
@click.option("--seq", required=True, help="A y4m file, another container, or a sample name.")
@click.option("--qp", type=click.IntRange(0, 63), required=True,
              help="libaom --cq-level the encode will use (sets the model's qindex input).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--frames", type=click.IntRange(min=1))
@click.option("--sb-size", type=click.Choice(["64", "128"]), default="64", show_default=True)
@click.option("--walk", type=click.Choice(["split", "all"]), default="split", show_default=True,
              help="Descend through predicted SPLITs only, or through every node.")
@click.option("--decision", type=click.Choice(["greedy", "product"]), default="greedy", show_default=True,
              help="Stage-by-stage best class, or the most probable of the ten types.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def predict(run_dir: Path, seq, qp, out: Path, frames, sb_size, walk, decision, device, quiet, as_json) -> None:
    """Predict every frame's partition trees with a trained model."""
    from av1tools.extract.sequences import open_sequence
    from av1tools.model.predict import Predictor, predict_sequence, write_predictions
    from av1tools.partition import cq_level_to_qindex

    predictor = Predictor(run_dir, device, decision=decision)
    name, reader = open_sequence(seq)
    qindex = cq_level_to_qindex(qp)
    bar = None
    if not (quiet or as_json):
        from tqdm import tqdm
        bar = tqdm(total=min(frames or len(reader), len(reader)), desc=f"predict {name}", unit="frame")
    with reader:
        preds = predict_sequence(predictor, reader, qindex, int(sb_size), walk, frames,
                                 (lambda d, n: bar.update(d - bar.n)) if bar else None)
        attrs = {"model": str(run_dir), "sequence": name, "sequence_path": str(reader.path),
                 "width": reader.width, "height": reader.height, "cq_level": qp, "qindex": qindex,
                 "sb_size": int(sb_size), "walk": walk, "decision": decision, "frames": len(preds),
                 "device": str(predictor.device)}
    if bar:
        bar.close()
    write_predictions(out, preds, attrs)
    seconds = sum(p.seconds for p in preds)
    result = {"predictions": str(out), "frames": len(preds), "nodes": int(sum(len(p.x) for p in preds)),
              "seconds": round(seconds, 3)}
    click.echo(json.dumps(result, indent=2) if as_json else
               f"{out}  ({result['nodes']} nodes, {len(preds)} frames, {seconds / max(len(preds), 1):.3f} s/frame)")


@cli.command(epilog=_epilog("evaluate"))
@click.option("--model", "run_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--data", "data", multiple=True, required=True, help="Dataset files or directories.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--include-border", is_flag=True, help="Also score nodes crossing the frame edge.")
@click.option("--calibration", type=click.Path(dir_okay=False, path_type=Path),
              help="report.json of an eval-encode run: relate the maps' work to libaom's own search.")
@click.option("--decision", type=click.Choice(["greedy", "product"]), default="greedy", show_default=True,
              help="Stage-by-stage best class, or the most probable of the ten types.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="Print the headline numbers as JSON.")
def evaluate(run_dir, data, out: Path, include_border, calibration, decision, device, quiet, as_json) -> None:
    """Per-stage and end-to-end F1 of a model against the encoder's decisions."""
    from av1tools.eval.evaluate import evaluate as run_evaluate
    from av1tools.eval.speedup import Calibration
    from av1tools.model.predict import Predictor

    cal = None
    if calibration:
        try:
            cal = Calibration(**json.loads(calibration.read_text())["calibration"])
        except (OSError, ValueError, KeyError, TypeError):
            raise click.BadParameter(f"{calibration}: not an eval-encode report with a calibration",
                                     param_hint="--calibration") from None
    log = (lambda m: None) if quiet or as_json else (lambda m: click.echo(m, err=True))
    result = run_evaluate(Predictor(run_dir, device, decision=decision), data, out, include_border, cal, log)
    head = {s: round(r["macro_f1"], 4) for s, r in result["stages"].items()}
    head["end_to_end"] = round(result["end_to_end"]["macro_f1"], 4)
    head["identical_tree_share"] = round(result["trees"]["identical_tree_share"], 4)
    if as_json:
        click.echo(json.dumps({"macro_f1": head, "report": str(out / "evaluation.md"),
                               "json": str(out / "evaluation.json")}, indent=2))
    else:
        for k, v in head.items():
            click.echo(f"{k:<22} {100 * v:6.2f}%")
        click.echo(str(out / "evaluation.md"))
        click.echo(str(out / "evaluation.json"))


@cli.command("eval-encode", epilog=_epilog("eval-encode"))
@click.option("--seq", required=True, help="A y4m file, another container, or a sample name.")
@click.option("--model", "run_dir", type=click.Path(file_okay=False, path_type=Path),
              help="A trained run; without it only baseline, oracle and presets are encoded.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--qp", "qps", type=click.IntRange(0, 63), multiple=True,
              help="cq-levels (repeatable); default 23 31 39 47, four points spread over the useful "
                   "range as BD-rate needs.")
@click.option("--mode", type=click.Choice(["intra", "inter"]), default="intra", show_default=True)
@click.option("--cpu-used", type=click.IntRange(0, 7), default=3, show_default=True)
@click.option("--frames", type=click.IntRange(min=1), help="Encode only the first N frames.")
@click.option("--top-k", "top_ks", type=click.IntRange(1, 10), multiple=True,
              help="Operating point: allow the k most probable types (repeatable; default 1).")
@click.option("--threshold", "thresholds", type=click.FloatRange(0, 1), multiple=True,
              help="Operating point: allow types with probability >= T (repeatable).")
@click.option("--presets", default="1,2", show_default=True,
              help="libaom presets to compare, as steps above --cpu-used (comma-separated; '' for none).")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Encodes per run; the median CPU time is reported.")
@click.option("--sb-size", type=click.Choice(["64", "128"]), default="64", show_default=True)
@click.option("--decision", type=click.Choice(["greedy", "product"]), default="product", show_default=True,
              help="The type a top-1 map forces: the most probable of the ten (measured better for "
                   "the encoder), or the stage-by-stage best class.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary rows as JSON.")
@click.pass_context
def eval_encode(ctx, seq, run_dir, out: Path, qps, mode, cpu_used, frames, top_ks, thresholds, presets, repeat,
                sb_size, decision, device, quiet, as_json) -> None:
    """Encoder time saving vs quality loss when the model replaces libaom's partition search."""
    from av1tools.eval.encode_eval import DEFAULT_QPS, OperatingPoint, eval_encode as run_eval
    from av1tools.eval.report import write_report

    try:
        steps = tuple(int(p) for p in presets.split(",") if p.strip())
    except ValueError:
        raise click.BadParameter(f"{presets!r} is not a comma-separated list of integers",
                                 param_hint="--presets") from None
    predictor = None
    if run_dir is not None:
        from av1tools.model.predict import Predictor
        predictor = Predictor(run_dir, device, decision=decision)
    points = [OperatingPoint(top_k=k) for k in top_ks] + [OperatingPoint(threshold=t) for t in thresholds]
    bar = None
    if not (quiet or as_json):
        from tqdm import tqdm
        per_qp = 2 + len(points or [1]) * (predictor is not None) + len([s for s in steps if cpu_used + s <= 9])
        bar = tqdm(total=per_qp * len(qps or DEFAULT_QPS), desc="eval-encode", unit="run")

    def progress(label: str) -> None:
        if bar:
            bar.set_postfix_str(label)
            bar.update(1)

    report = run_eval(_tools(ctx), seq, out, predictor, tuple(sorted(qps or DEFAULT_QPS)), mode, cpu_used, frames,
                      points or None, steps, repeat, int(sb_size), progress=progress)
    if bar:
        bar.close()
    paths = write_report(report, out)
    if as_json:
        click.echo(json.dumps({"rows": report["rows"], **{k: str(v) for k, v in paths.items()}}, indent=2))
        return
    from av1tools.eval.report import summary_table
    for row in summary_table(report):
        click.echo("  ".join(f"{c:<14}" for c in row[:6]))
    for p in paths.values():
        click.echo(str(p))


@cli.group()
def experiment() -> None:
    """Studies that train several models and write a report."""


@experiment.command(epilog=_epilog("transfer"))
@click.option("--data", "data", multiple=True, required=True, help="Dataset files or directories.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--quick", is_flag=True, help="Small samples and few epochs (about 15 minutes on 2 cores).")
@click.option("--epochs", type=click.IntRange(min=1), help="Override the epochs per training.")
@click.option("--max-samples", type=click.IntRange(min=1), help="Override the nodes per stage.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="Print each variant's Stage-2 macro-F1 as JSON.")
def transfer(data, out: Path, quick, epochs, max_samples, device, seed, quiet, as_json) -> None:
    """The seed's Stage-2 transfer study: fine-tune vs frozen vs Conv-Adapter, and ablations."""
    from av1tools.model.experiments import run_transfer

    quiet = quiet or as_json
    log = (lambda m: None) if quiet else (lambda m: click.echo(m, err=True))
    paths = run_transfer(data, out, quick=quick, epochs=epochs, max_samples=max_samples,
                         device=device, seed=seed, log=log, progress=not quiet)
    if as_json:
        result = json.loads((out / "transfer.json").read_text())
        click.echo(json.dumps({"val_macro_f1": {f"{v['group']}:{v['variant']}": v["val_macro_f1"]
                                                for v in result["variants"]},
                               "files": [str(p) for p in paths]}, indent=2))
        return
    for p in paths:
        click.echo(str(p))


@cli.command(epilog=_epilog("demo"))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"),
              show_default=True, help="Where the demo writes everything.")
@click.option("--quick", is_flag=True, help="A smoke version (a few minutes): fewer clips, frames, epochs.")
@click.option("--fresh", is_flag=True, help="Retrain and re-evaluate even if earlier results exist.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--json", "as_json", is_flag=True, help="Print the headline numbers as JSON.")
@click.pass_context
def demo(ctx: click.Context, out: Path, quick: bool, fresh: bool, quiet: bool, as_json: bool) -> None:
    """The main job on the embedded clips: extract, train, evaluate F1, eval-encode, report."""
    from av1tools.demo import format_headline, run_demo

    quiet = quiet or as_json
    log = (lambda m: None) if quiet else (lambda m: click.echo(m, err=True))
    bars = None if quiet else ProgressBars(False)
    try:
        head = run_demo(_tools(ctx), out, quick=quick, progress=bars, log=log, fresh=fresh)
    finally:
        if bars:
            bars.close()
    click.echo(json.dumps(head, indent=2) if as_json else format_headline(head))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    if isinstance(exc, (OSError,)) and getattr(exc, "filename", None) and exc.filename not in message:
        message = f"{exc.filename}: {message}"
    return message


def main(argv: list[str] | None = None) -> None:
    """Entry point: exit 0 on success, 2 on a usage error, 1 on a failure, with a one-line
    message (``--debug`` for the traceback)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="av1tools", standalone_mode=False)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("av1tools: interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the one place errors become messages
        if debug:
            traceback.print_exc()
        else:
            click.echo(f"av1tools: error: {_one_line(e)}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
