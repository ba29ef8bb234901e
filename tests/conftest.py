import pytest

from av1tools.extract.aom import find_tools


@pytest.fixture(scope="session")
def aom_tools():
    """The real libaom tools (make test builds them first; never mocked)."""
    return find_tools()


@pytest.fixture(scope="session")
def data_dir(aom_tools, tmp_path_factory):
    """Small real datasets: three clips, two QPs, two frames each."""
    from av1tools.extract.aom import EncodeSettings
    from av1tools.extract.pipeline import extract

    out = tmp_path_factory.mktemp("model-data")
    base = EncodeSettings(cq_level=30, cpu_used=6, frames=2)
    for seq in ("carphone", "astronaut-pan", "coffee-pan"):
        extract(aom_tools, seq, out, [30, 50], base)
    return out


@pytest.fixture(scope="session")
def trained_run(data_dir, tmp_path_factory):
    """A run trained for one epoch on ``data_dir`` (every stage)."""
    from av1tools.model.network import ModelConfig
    from av1tools.model.train import TrainConfig, train_run

    run = tmp_path_factory.mktemp("run")
    tc = TrainConfig(epochs=1, max_samples=300, progress=False)
    metrics = train_run([data_dir], run, ModelConfig(), tc, log=lambda m: None)
    return run, metrics
