"""The shape of the code: no import cycle among av1tools' modules (imports inside functions
count too), the family registry is the only module that names both model families, and
every command-line option defaults to what its job's dataclass says."""

import ast
import dataclasses
from pathlib import Path

import click
import pytest

import av1tools

PACKAGE = Path(av1tools.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported(name: str) -> set[str]:
    """The av1tools modules ``name`` imports, at any depth of its code."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            for a in node.names:  # "from pkg import module" imports the module
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imported(name) for name in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert cycles(GRAPH) == []


def test_the_family_registry_is_the_only_module_naming_two_families():
    from av1tools.model.families import FAMILIES

    families = [f"av1tools.model.{name}" for name in FAMILIES]
    assert all(f in MODULES for f in families)

    def names(module: str, family: str) -> bool:
        return any(m == family or m.startswith(family + ".") for m in GRAPH[module])

    several = [m for m in MODULES if sum(names(m, f) for f in families if not m.startswith(f)) > 1]
    assert several == ["av1tools.model.families"]


def test_the_layers_import_downwards():
    """The model never imports evaluation or the command line; nothing imports the CLI."""
    for m, deps in GRAPH.items():
        if m.startswith("av1tools.model"):
            assert not {d for d in deps if d.startswith(("av1tools.eval", "av1tools.cli", "av1tools.demo"))}, m
        if not m.startswith("av1tools.cli") and m != "av1tools.__main__":
            assert not {d for d in deps if d.startswith("av1tools.cli")}, m


def commands():
    from av1tools.cli.app import cli

    def walk(group, prefix=()):
        for name, cmd in group.commands.items():
            if isinstance(cmd, click.Group):
                yield from walk(cmd, prefix + (name,))
            else:
                yield prefix + (name,), cmd

    return dict(walk(cli))


def job_configs():
    """Per command, the job dataclasses its options fill (by field name)."""
    from av1tools.encode import EncodeConfig
    from av1tools.eval.config import EvalEncodeConfig, EvaluateConfig, OperatingPoint
    from av1tools.extract.aom import EncodeSettings
    from av1tools.extract.pipeline import ExtractConfig
    from av1tools.model.config import PredictConfig, TrainConfig, TrainJob
    from av1tools.model.families import FAMILIES
    from av1tools.model.staged.config import TransferConfig

    return {
        ("train",): (TrainJob, TrainConfig, *(f.config for f in FAMILIES.values())),
        ("predict",): (PredictConfig,),
        ("evaluate",): (EvaluateConfig,),
        ("eval-encode",): (EvalEncodeConfig, OperatingPoint),
        ("experiment", "transfer"): (TransferConfig,),
        ("extract",): (ExtractConfig, EncodeSettings),
        ("encode",): (EncodeConfig, OperatingPoint),
    }


def field_default(config, name):
    f = {f.name: f for f in dataclasses.fields(config)}[name]
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


REQUIRED = {  # the least each command needs to parse
    ("train",): ["--data", "d", "--out", "o"],
    ("predict",): ["--model", "m", "--seq", "s", "--cq-level", "30", "--out", "o"],
    ("evaluate",): ["--model", "m", "--data", "d", "--out", "o"],
    ("eval-encode",): ["--seq", "s", "--out", "o"],
    ("experiment", "transfer"): ["--data", "d", "--out", "o"],
    ("extract",): ["--seq", "s", "--out", "o"],
    ("encode",): ["s", "-o", "o.ivf"],
}


@pytest.mark.parametrize("command", list(job_configs()), ids=" ".join)
def test_every_option_defaults_to_its_dataclass_default(command):
    """Parsed with nothing but its required options, each option's value (after its type and
    callback) is the default of the job field of the same name."""
    cmd = commands()[command]
    params = cmd.make_context(" ".join(command), list(REQUIRED[command])).params
    given = {p.name for p in cmd.params if p.required}
    checked = []
    for name, value in params.items():
        owners = [c for c in job_configs()[command] if name in {f.name for f in dataclasses.fields(c)}]
        if not owners or name in given:
            continue
        wanted = field_default(owners[0], name)
        assert value == wanted or (value in (None, ()) and wanted in (None, ())), f"{' '.join(command)} --{name}"
        checked.append(name)
    assert len(checked) >= 3, checked


def test_every_command_is_checked_or_has_no_job_config():
    unconfigured = {("info",), ("samples",), ("doctor",), ("demo",), ("zoo", "build"), ("zoo", "info")}
    unconfigured |= {("zoo", "sources", verb) for verb in ("list", "fetch", "prepare", "plan")}
    assert set(commands()) - set(job_configs()) <= unconfigured
