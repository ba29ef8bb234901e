"""What every command shares: options declared once, defaults read from the job
dataclasses, output (progress, log lines, JSON), and the libaom tools."""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

EXAMPLES = {
    "encode": "av1tools encode foreman.y4m --model default --coverage 0.8 -o foreman.ivf",
    "extract": "av1tools extract --seq foreman.y4m --out data/ --cq-level 27 --cq-level 32 --frames 30",
    "info": "av1tools info data/foreman_intra_cpu3_sb64_q32_f30.h5",
    "samples": "av1tools samples carphone",
    "doctor": "av1tools doctor",
    "demo": "av1tools demo --quick",
    "train": "av1tools train --data data/ --out runs/first --epochs 10 --max-samples 20000",
    "predict": "av1tools predict --model runs/first --seq foreman.y4m --cq-level 32 --out preds.h5",
    "transfer": "av1tools experiment transfer --data data/ --out reports/transfer --quick",
    "evaluate": "av1tools evaluate --model runs/first --data data/heldout/ --out reports/first-f1",
    "eval-encode": "av1tools eval-encode --seq foreman.y4m --model runs/first --out reports/foreman --frames 10",
}


def epilog(name: str) -> str:
    return f"\b\nExample:\n  {EXAMPLES[name]}"


def default(config: type, name: str) -> Any:
    """The default of a job dataclass's field: defaults are written once, there."""
    f = {f.name: f for f in dataclasses.fields(config)}[name]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    raise KeyError(f"{config.__name__}.{name} has no default")


def _stack(*decorators: Callable) -> Callable:
    def apply(fn: Callable) -> Callable:
        for d in reversed(decorators):
            fn = d(fn)
        return fn

    return apply


def output_options(json_help: str = "Print the result as JSON (for programs).") -> Callable:
    """-q/--quiet and --json, on every command that reports."""
    return _stack(
        click.option("-q", "--quiet", is_flag=True, help="No progress bars or log lines."),
        click.option("--json", "as_json", is_flag=True, help=json_help),
    )


def config_from(config: type, params: dict[str, Any], **given: Any) -> Any:
    """A job config built by keyword: every field of ``config`` the command has an option of
    the same name for, plus ``given``; the rest keep the dataclass's defaults."""
    names = {f.name for f in dataclasses.fields(config)}
    return config(**({k: v for k, v in params.items() if k in names} | given))


class IntList(click.ParamType):
    """A comma-separated list of integers ("4,5,6"; "" for none) as a tuple."""

    name = "N,N,..."

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            return tuple(int(p) for p in str(value).split(",") if p.strip())
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of integers", param, ctx)


class Coverage(click.ParamType):
    """A coverage, optionally with other coverages at some node sizes: "0.7", or
    "0.7,64=0.9,8=0.6" (64x64 nodes need 0.9, 8x8 nodes 0.6, the others 0.7), as
    (coverage, ((size, coverage), ...)); the model config checks sizes and ranges."""

    name = "P[,SIZE=P...]"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        head, *rest = str(value).split(",")
        try:
            by_size = tuple((int(s), float(v)) for s, v in (part.split("=") for part in rest))
            coverage = float(head)
        except ValueError:
            self.fail(f"{value!r} is not a coverage P or 'P,SIZE=P,...'", param, ctx)
        return coverage, by_size


class NameList(click.ParamType):
    """A comma-separated list of names ("layer3,layer4") as a tuple, each one of ``choices``."""

    name = "NAME,NAME,..."

    def __init__(self, choices: tuple[str, ...]):
        self.choices = choices

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        names = tuple(n.strip() for n in str(value).split(",") if n.strip())
        bad = [n for n in names if n not in self.choices]
        if bad:
            self.fail(f"unknown {', '.join(bad)}; choose from {', '.join(self.choices)}", param, ctx)
        return names


def device_option(config: type) -> Callable:
    """--device, defaulting to what ``config`` (the command's job) says."""
    from av1tools.model.config import DEVICES

    return click.option(
        "--device",
        type=click.Choice(DEVICES),
        default=default(config, "device"),
        show_default=True,
        help="Where the model runs (auto: CUDA when present); inference is timed there.",
    )


def explicit(ctx: click.Context, names: tuple[str, ...]) -> list[str]:
    """Which of the parameters ``names`` the user gave on the command line (not defaults)."""
    from click.core import ParameterSource

    return [n for n in names if ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE]


def option_flag(ctx: click.Context, name: str) -> str:
    """The command-line spelling of parameter ``name`` (e.g. --level-weights)."""
    param = next(p for p in ctx.command.params if p.name == name)
    return max(param.opts, key=len)


def sb_size_option(config: type, dynamic: bool = False) -> Callable:
    """--sb-size 64|128 (an int; with ``dynamic``, also libaom's own choice, as 0), defaulting
    to ``config``'s."""
    return click.option(
        "--sb-size",
        type=click.Choice(["64", "128"] + (["dynamic"] if dynamic else [])),
        default=str(default(config, "sb_size")),
        show_default=True,
        callback=lambda ctx, param, value: 0 if value == "dynamic" else int(value),
        help="Superblock size" + (" (dynamic: libaom chooses per clip; unguided runs only)." if dynamic else "."),
    )


def cq_level_option(multiple: bool, default_value: Any = None, required: bool = False, help: str = "") -> Callable:
    """libaom's --cq-level (the quantiser knob of --end-usage=q); --qp is an alias."""
    return click.option(
        "--cq-level",
        "--qp",
        "cq_levels" if multiple else "cq_level",
        type=click.IntRange(0, 63),
        multiple=multiple,
        default=default_value,
        required=required,
        show_default=default_value is not None,
        help=help or "libaom --cq-level" + (" (repeatable)." if multiple else "."),
    )


def decision_option(default_value: str) -> Callable:
    from av1tools.model.config import DECISIONS

    return click.option(
        "--decision",
        type=click.Choice(DECISIONS),
        default=default_value,
        show_default=True,
        help="The type a node is given: stage by stage the best class (greedy), or the most "
        "probable of the ten (product).",
    )


class Output:
    """Where a command's words go: log lines and progress to stderr unless quiet; the
    result to stdout, as text or JSON."""

    def __init__(self, quiet: bool, as_json: bool):
        self.quiet = quiet  # progress goes to stderr, so --json output stays clean without hiding it
        self.as_json = as_json

    def log(self, message: str) -> None:
        if not self.quiet:
            click.echo(message, err=True)

    def bars(self) -> ProgressBars | None:
        return None if self.quiet else ProgressBars()

    def emit(self, data: Any, text: str | Callable[[], str]) -> None:
        if self.as_json:
            click.echo(json.dumps(data, indent=2, default=str))
            return
        words = text() if callable(text) else text
        if words:
            click.echo(words)


class ProgressBars:
    """One tqdm bar per label, safe to call from worker threads: ``bars(label, done, total)``."""

    def __init__(self) -> None:
        self.bars: dict[str, Any] = {}  # the open ones; finished bars leave their line
        self.lock = threading.Lock()

    def __call__(self, label: str, done: int, total: int) -> None:
        from tqdm import tqdm

        with self.lock:
            bar = self.bars.get(label)
            if bar is None:
                unit = {"shards": "shard", "encodes": "encode"}.get(label, "frame")
                bar = self.bars[label] = tqdm(
                    total=total, desc=label, unit=unit, position=len(self.bars), leave=True, file=sys.stderr
                )
            bar.update(done - bar.n)
            if done >= total:
                bar.close()
                del self.bars[label]

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def tools(ctx: click.Context):
    from av1tools.extract.aom import find_tools

    return find_tools(ctx.obj["aom_dir"])


def paths_text(paths: dict[str, Path] | list[Path]) -> str:
    values = paths.values() if isinstance(paths, dict) else paths
    return "\n".join(str(p) for p in values)
