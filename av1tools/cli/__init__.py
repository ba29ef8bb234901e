"""The ``av1tools`` command line: parse options into a job's config, call one function,
print what was written. Commands live in one module per group (data, model, evaluation);
shared options in ``common``.

The group itself is ``app.cli``; importing the command modules registers their commands.
Exit codes: 0 success, 1 a failure (one line on stderr; ``--debug`` anywhere on the
command line shows the traceback), 2 a usage error, 130 interrupted, 143 terminated.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback

import click

from av1tools.cli import data, encode, evaluation, model, sources  # noqa: F401  (commands register on the group)
from av1tools.cli.app import cli


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: every ``finally`` runs, temp files go."""


def _terminate(signum, frame) -> None:
    raise Terminated()


def _unraisable(previous):
    """A hook that delivers SIGTERM again when its Terminated was raised where Python can
    only print and drop it (a weakref callback or __del__: h5py frees objects all the time),
    so that a signal landing there still stops the run instead of being lost."""

    def hook(unraisable) -> None:
        if isinstance(unraisable.exc_value, Terminated):
            # from another thread, a moment later: raised here, it would be dropped again
            timer = threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGTERM))
            timer.daemon = True
            timer.start()
        else:
            previous(unraisable)

    return hook


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
    previous_hook, sys.unraisablehook = sys.unraisablehook, _unraisable(sys.unraisablehook)
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
        sys.unraisablehook = previous_hook
    sys.exit(code if isinstance(code, int) else 0)
