"""The ``av1tools`` command line: parse options into a job's config, call one function,
print what was written. Commands live in one module per group (data, model, evaluation);
shared options in ``common``.

Exit codes: 0 success, 1 a failure (one line on stderr; ``--debug`` anywhere on the
command line shows the traceback), 2 a usage error, 130 interrupted, 143 terminated.
"""

from __future__ import annotations

import signal
import sys
import traceback

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


from av1tools.cli import data, evaluation, model, sources  # noqa: E402,F401  (commands register on cli)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: every ``finally`` runs, temp files go."""


def _terminate(signum, frame) -> None:
    raise Terminated()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    if isinstance(exc, OSError) and getattr(exc, "filename", None) and str(exc.filename) not in message:
        message = f"{exc.filename}: {message}"
    return message


def main(argv: list[str] | None = None) -> None:
    """Entry point: exit 0 on success, 2 on a usage error, 1 on a failure, with a one-line
    message (``--debug`` for the traceback)."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    if debug:  # accepted after the subcommand too
        args = ["--debug"] + [a for a in args if a != "--debug"]
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        code = cli.main(args=args, prog_name="av1tools", standalone_mode=False)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt) as e:
        # click turns an interrupt into Abort; the cause says which signal it was
        if isinstance(e, Terminated) or isinstance(e.__cause__, Terminated):
            click.echo("av1tools: terminated", err=True)
            sys.exit(143)
        click.echo("av1tools: interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the one place errors become messages
        if debug:
            traceback.print_exc()
        else:
            click.echo(f"av1tools: error: {_one_line(e)}", err=True)
        sys.exit(1)
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.exit(code if isinstance(code, int) else 0)
