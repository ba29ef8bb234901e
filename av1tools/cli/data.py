"""Data commands: extract, info, samples, doctor."""

from __future__ import annotations

import json
from pathlib import Path

import click

from av1tools.cli.app import cli
from av1tools.cli.common import Output, cq_level_option, default, epilog, output_options, sb_size_option
from av1tools.extract.aom import CPU_USED_RANGE, MODES, EncodeSettings
from av1tools.jobs import default_workers


@cli.command(epilog=epilog("doctor"))
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Show what av1tools found (libaom, its patch, inspection, SIMD, Python packages)."""
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


@cli.command(epilog=epilog("samples"))
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print name, description, path as JSON.")
def samples(names: tuple[str, ...], as_json: bool) -> None:
    """List the embedded samples and the public catalogue, or materialise NAMES as y4m
    (catalogue sequences are downloaded once) and print their paths."""
    from av1tools.extract.catalogue import list_catalogue
    from av1tools.extract.sequences import SAMPLES, resolve_sequence
    from av1tools.paths import cache_root

    if not names:
        rows = [
            {
                "name": s.name,
                "kind": "sample",
                "description": s.description,
                "cached": (cache_root() / "samples" / f"{s.name}.y4m").exists(),
            }
            for s in SAMPLES.values()
        ]
        rows += [
            {
                "name": c.name,
                "kind": "catalogue",
                "description": f"{c.resolution}, {c.frames} frames"
                + (f", AOM CTC class {c.ctc_class}" if c.ctc_class else "")
                + f", {c.licence} (downloaded on first use)",
                "cached": c.cached,
            }
            for c in list_catalogue()
        ]
        if as_json:
            click.echo(json.dumps(rows, indent=2))
        else:
            for r in rows:
                click.echo(f"{r['name']:<20} {'cached ' if r['cached'] else '       '} {r['description']}")
        return
    paths = {n: str(resolve_sequence(n).path) for n in names}
    click.echo(json.dumps(paths, indent=2) if as_json else "\n".join(paths.values()))


@cli.command(epilog=epilog("extract"))
@click.option(
    "--seq",
    "seqs",
    multiple=True,
    required=True,
    help="A y4m, any video PyAV decodes, a still image, a sample or catalogue name, a directory "
    "(its sequences; its still images as one group), a list file (.txt, one per line) or a "
    "glob (repeatable).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for the shards (.h5 datasets, .ivf bitstreams) and manifest.json.",
)
@cq_level_option(multiple=True, default_value=(default(EncodeSettings, "cq_level"),))
@click.option("--frames", type=click.IntRange(min=1), help="Encode only the first N frames.")
@click.option(
    "--cpu-used",
    type=click.IntRange(min(lo for lo, _ in CPU_USED_RANGE.values()), max(hi for _, hi in CPU_USED_RANGE.values())),
    default=default(EncodeSettings, "cpu_used"),
    show_default=True,
    help="libaom's speed: "
    + ", ".join(f"{lo}-{hi} in {mode} mode" for mode, (lo, hi) in CPU_USED_RANGE.items())
    + " (libaom's good-quality usage has no faster speeds).",
)
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default=default(EncodeSettings, "mode"),
    show_default=True,
    help="intra: libaom's all-intra usage; good quality: inter (one pass, alt-refs), ra (random access: "
    "two passes, libaom's group structure), ld (low delay: one pass, no lag, no alt-refs).",
)
@sb_size_option(EncodeSettings)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=default_workers(),  # ExtractConfig's default: the cores this process may use
    show_default=True,
    help="Shards encoded at once on this machine (default: the number of cores).",
)
@click.option(
    "--scheduler", metavar="tcp://HOST:PORT", help="Run the shards on this dask.distributed scheduler instead."
)
@click.option(
    "--skip-missing", is_flag=True, help="Report and skip missing or unreadable sequences instead of failing."
)
@click.option(
    "--overwrite", is_flag=True, help="Redo shards that exist but were made from another source, settings or encoder."
)
@output_options()
@click.pass_context
def extract(
    ctx: click.Context,
    seqs,
    out: Path,
    cq_levels,
    frames,
    cpu_used,
    mode,
    sb_size,
    jobs,
    scheduler,
    skip_missing,
    overwrite,
    quiet: bool,
    as_json: bool,
) -> None:
    """Encode sequences with libaom and write partition-labelled HDF5 shards."""
    from av1tools.extract.pipeline import ExtractConfig, ExtractError
    from av1tools.extract.pipeline import extract as run_extract

    output = Output(quiet, as_json)
    config = ExtractConfig(
        sequences=tuple(seqs),
        out=out,
        cq_levels=tuple(sorted(set(cq_levels))),
        encode=EncodeSettings(cpu_used=cpu_used, mode=mode, sb_size=sb_size, frames=frames),
        jobs=jobs,
        scheduler=scheduler,
        skip_missing=skip_missing,
        overwrite=overwrite,
        aom_dir=ctx.obj["aom_dir"],
    )
    bars = output.bars()
    try:
        result = run_extract(config, bars, output.log)
    finally:
        if bars:
            bars.close()

    def text() -> str:
        lines = [
            f"{s.dataset}"
            + (
                "  (already there, kept)"
                if s.status == "kept"
                else "  (redone: the earlier one was unreadable or outdated)"
                if s.status == "redone"
                else ""
            )
            for s in result.shards
        ]
        return "\n".join(lines + ([str(result.manifest)] if result.manifest else []))

    output.emit(result.to_dict(), text)
    if result.failed:
        more = f" (and {len(result.failed) - 1} more; --json lists them)" if len(result.failed) > 1 else ""
        raise ExtractError(result.failed[0] + more)


@cli.command(epilog=epilog("info"))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print settings and counts as JSON.")
@click.option(
    "--verify",
    is_flag=True,
    help="Check every listed shard's sha256 against its manifest (by default only shards whose "
    "size or mtime changed are hashed).",
)
def info(files: tuple[Path, ...], as_json: bool, verify: bool) -> None:
    """Print a dataset's settings and, per node size, the count of each partition type
    (a directory or manifest.json: every shard it lists)."""
    from av1tools.extract.dataset import format_summary, read_summary
    from av1tools.extract.manifest import data_source

    shards = data_source([str(f) for f in files], full=verify).files
    summaries = [read_summary(f) for f in shards]
    if as_json:
        click.echo(json.dumps([s.to_json() for s in summaries], indent=2))
    else:
        click.echo("\n\n".join(format_summary(s) for s in summaries))
