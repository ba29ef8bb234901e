"""The ``av1tools`` click group every command module registers on."""

from __future__ import annotations

import click

from av1tools import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="av1tools")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error (allowed anywhere).")
@click.option(
    "--aom-dir",
    type=click.Path(file_okay=False),
    envvar="AV1TOOLS_AOM_DIR",
    help="Your own libaom build (a directory with aomenc, aomdec, inspect). "
    "Default: $AV1TOOLS_AOM_DIR, else av1tools' cached build.",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, aom_dir: str | None) -> None:
    """AV1 partition research with the real libaom encoder.

    Extract partition-labelled datasets from libaom encodes, train partition
    predictors, and measure what they are worth.
    """
    ctx.obj = {"debug": debug, "aom_dir": aom_dir}
