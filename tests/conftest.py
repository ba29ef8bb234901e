"""Shared fixtures and helpers: the real libaom tools (never mocked), small real datasets,
a trained run, the CLI runner, random partition trees."""

import os

import pytest

from av1tools.partition import Node, Partition, allowed_partitions, edge_allowed

# eval-encode's report sections, in report.md and report.html
ENCODE_SECTIONS = (
    "Settings",
    "What a user gets: against stock libaom and its stock preset ladder",
    "The instrument",
    "Per cq-level",
    "Speed-up simulation",
    "Failed encodes",
)


def random_tree(rng, x, y, size, rows=1 << 20, cols=1 << 20):
    """A random valid tree under (x, y, size) on a rows x cols mi grid: frame-edge nodes
    take only what the edge allows, nodes starting outside the grid are left out."""
    if y // 4 >= rows or x // 4 >= cols:
        return
    choices = edge_allowed(x, y, size, rows, cols) or allowed_partitions(size)
    part = Partition(rng.choice(choices))
    yield Node(x, y, size, part)
    if part == Partition.SPLIT and size > 8:
        h = size // 2
        for dy, dx in ((0, 0), (0, h), (h, 0), (h, h)):
            yield from random_tree(rng, x + dx, y + dy, h, rows, cols)


INTEGRATION_FIXTURES = {"aom_tools", "data_dir", "trained_run"}


def pytest_collection_modifyitems(items):
    """Tests that (through their fixtures) run the real encoder are 'integration' tests:
    `make unit` leaves them out and needs no libaom."""
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def cli(capsys):
    """Run the av1tools CLI in-process: (exit code, stdout, stderr)."""
    from av1tools.cli import main

    def run(args):
        with pytest.raises(SystemExit) as e:
            main([str(a) for a in args])
        out, err = capsys.readouterr()
        return e.value.code, out, err

    return run


@pytest.fixture(scope="session")
def aom_tools():
    """The real libaom tools (make test builds them first; never mocked)."""
    from av1tools.extract.aom import find_tools

    return find_tools()


def extract_quietly(sequences, out, cq_levels, **encode):
    """extract() with encode settings; fails the test on any failed shard."""
    from av1tools.extract.aom import EncodeSettings
    from av1tools.extract.pipeline import ExtractConfig, extract

    jobs = encode.pop("jobs", 1)
    result = extract(ExtractConfig(tuple(sequences), out, tuple(cq_levels), EncodeSettings(**encode), jobs=jobs))
    assert not result.failed, result.failed
    return result


@pytest.fixture(scope="session")
def data_dir(aom_tools, tmp_path_factory):
    """Small real datasets: three clips, two cq-levels, two frames each."""
    out = tmp_path_factory.mktemp("model-data")
    extract_quietly(
        ("carphone", "astronaut-pan", "coffee-pan"), out, (30, 50), cpu_used=6, frames=2, jobs=os.cpu_count() or 1
    )
    return out


@pytest.fixture(scope="session")
def trained_run(data_dir, tmp_path_factory):
    """A run trained for one epoch on ``data_dir`` (every stage)."""
    from av1tools.model.config import TrainConfig, TrainJob
    from av1tools.model.families import train

    run = tmp_path_factory.mktemp("run")
    result = train(
        TrainJob((str(data_dir),), run, train=TrainConfig(epochs=1, max_samples=300, progress=False)),
        log=lambda m: None,
    )
    return run, result.metrics
