"""The variance heuristic: counted from shards, loaded through the family registry, and
walked like any model; a damaged table is refused by name."""

import json

import numpy as np
import pytest

from av1tools.model.common import CheckpointError
from av1tools.model.config import TrainConfig, TrainJob
from av1tools.model.families import load_predictor, train
from av1tools.model.variance.config import VarianceConfig
from av1tools.model.variance.table import VarianceTable, bins_of, block_variance
from av1tools.partition import allowed_mask


def test_bins_cover_flat_and_busy_blocks():
    config = VarianceConfig()
    flat, busy = np.full((1, 8, 8), 100.0), np.random.default_rng(0).uniform(0, 255, (1, 8, 8))
    v, q = bins_of(config, np.concatenate([block_variance(flat, 255.0), block_variance(busy, 255.0)]), [0, 255])
    assert v[0] == 0 and v[1] > 10 and list(q) == [0, config.qindex_bins - 1]
    assert block_variance(flat * 4, 1023.0)[0] == pytest.approx(0.0)  # 10-bit on the 8-bit scale


def test_probabilities_follow_the_counts_over_allowed_types():
    table = VarianceTable.empty(VarianceConfig(prior=0.0))
    table.add(16, np.array([0.0, 0.0, 0.0]), np.array([100, 100, 100]), np.array([0, 0, 3]))
    allowed = np.broadcast_to(allowed_mask(16), (1, 10))
    p = table.probs(16, np.array([0.0]), np.array([100]), allowed)
    assert p[0, 0] == pytest.approx(2 / 3) and p[0, 3] == pytest.approx(1 / 3)


def test_fitted_from_shards_and_walked_like_a_model(data_dir, tmp_path):
    run = tmp_path / "var"
    result = train(TrainJob((str(data_dir),), run, arch="variance", train=TrainConfig(progress=False)), log=print)
    assert result.metrics["train_nodes"] > 100 and (run / "config.json").exists()
    predictor = load_predictor(run, decision="product")
    assert predictor.kind == "variance"
    luma = np.random.default_rng(2).integers(0, 256, (72, 100)).astype(np.uint8)
    pred = predictor.predict_frame(luma, 255.0, 120, walk="all")
    np.testing.assert_allclose(pred.probs.sum(axis=1), 1.0, rtol=1e-9)
    assert set(np.unique(pred.size)) == {64, 32, 16, 8}


def test_a_damaged_table_is_refused_by_name(tmp_path):
    (tmp_path / "variance.json").write_text(json.dumps({"kind": "av1tools-variance-table", "format": 1}))
    with pytest.raises(CheckpointError, match="variance.json: malformed variance table"):
        VarianceTable.load(tmp_path)
    (tmp_path / "variance.json").write_text("{")
    with pytest.raises(CheckpointError, match="not readable JSON"):
        VarianceTable.load(tmp_path)
