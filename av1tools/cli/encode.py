"""The encode command: a faster AV1 encode with the model inside libaom."""

from __future__ import annotations

from pathlib import Path

import click

from av1tools.cli.app import cli
from av1tools.cli.common import Coverage, Output, cq_level_option, default, epilog, output_options
from av1tools.encode import EncodeConfig
from av1tools.eval.config import FEATURES
from av1tools.extract.aom import CPU_USED_RANGE, MODES
from av1tools.model.config import OperatingPoint


@cli.command("encode", epilog=epilog("encode"))
@click.argument("source")
@click.option(
    "-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="out.ivf, .webm or .mkv"
)
@click.option(
    "--model", default=default(EncodeConfig, "model"), show_default=True, help="A superblock run, or 'default'."
)
@click.option(
    "--coverage",
    type=Coverage(),
    help="The fewest types reaching P (default 0.8); 'P,64=Q,8=R': nodes of 64x64 need Q, of 8x8 R.",
)
@click.option("--top-k", type=click.IntRange(1, 10), help="Or: the k most probable types.")
@click.option("--threshold", type=click.FloatRange(0, 1), help="Or: the most probable and those of probability >= T.")
@click.option(
    "--max-types",
    type=click.IntRange(1, 10),
    default=default(OperatingPoint, "max_types"),
    show_default=True,
    help="With --coverage: a node needing more types keeps libaom's own search.",
)
@cq_level_option(multiple=False, default_value=default(EncodeConfig, "cq_level"))
@click.option(
    "--cpu-used",
    type=click.IntRange(0, max(hi for _, hi in CPU_USED_RANGE.values())),
    default=default(EncodeConfig, "cpu_used"),
    show_default=True,
)
@click.option("--mode", type=click.Choice(MODES), default=default(EncodeConfig, "mode"), show_default=True)
@click.option("--frames", type=click.IntRange(min=1), help="Encode only the first N frames.")
@click.option("--threads", type=click.IntRange(1, 64), default=default(EncodeConfig, "threads"), show_default=True)
@click.option(
    "--guided-features",
    type=click.Choice(FEATURES),
    default=default(EncodeConfig, "guided_features"),
    show_default=True,
    help="libaom's speed features as they are, or the two that carry one block's search into another off "
    "(README: which is faster guided).",
)
@output_options()
@click.pass_context
def encode(ctx, quiet, as_json, coverage, top_k, threshold, max_types, **opts) -> None:
    """Encode SOURCE to AV1 with the partition model running inside libaom: libaom's search,
    pruned where the model is sure, at the preset you choose."""
    from av1tools.encode import encode as run_encode

    chosen = [p for p in (coverage, top_k, threshold) if p is not None]
    if len(chosen) > 1:
        raise click.UsageError("give one operating point: --coverage, --top-k or --threshold")
    coverage, by_size = coverage if coverage is not None else (None, ())
    point = OperatingPoint(
        top_k=top_k, threshold=threshold, coverage=coverage, max_types=max_types, size_coverage=by_size
    )
    if not chosen:
        point = OperatingPoint(coverage=default(EncodeConfig, "point").coverage, max_types=max_types)
    output = Output(quiet, as_json)
    fields = {k: v for k, v in opts.items() if k in EncodeConfig.__dataclass_fields__}
    config = EncodeConfig(point=point, aom_dir=ctx.obj["aom_dir"], **fields)
    result = run_encode(config)
    nodes = result.guided_nodes + result.unguided_nodes
    output.emit(
        result.to_dict(),
        lambda: (
            f"{result.out}  ({result.frames} frames, {result.bytes:,} bytes)\n"
            f"encoder {result.cpu_seconds:.2f} s CPU ({result.wall_seconds:.2f} s wall), of which the model "
            f"{result.network_seconds:.3f} s; {point.label.replace('model ', '')}: "
            f"{result.guided_nodes:,} of {nodes:,} nodes guided, {result.unguided_nodes:,} left to libaom's search"
        ),
    )
