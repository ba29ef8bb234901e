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
}


def _epilog(name: str) -> str:
    return f"\b\nExample:\n  {EXAMPLES[name]}"


class ProgressBars:
    """One tqdm bar per label (sequence x QP), safe to call from worker threads."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bars: dict[str, object] = {}
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
                click.echo(f"{r['name']:<14} {'cached ' if r['cached'] else '       '} {r['description']}")
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


@cli.command(epilog=_epilog("demo"))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"),
              show_default=True, help="Where the demo writes everything.")
@click.option("--quick", is_flag=True, help="A smoke version: fewer frames and QPs.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def demo(ctx: click.Context, out: Path, quick: bool, quiet: bool) -> None:
    """The main job on the embedded clips: extract datasets and summarise them."""
    from av1tools.demo import run_demo

    summary = run_demo(_tools(ctx), out, quick=quick, progress=ProgressBars(quiet))
    click.echo(summary)


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
