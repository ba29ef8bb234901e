"""The staged model: parameter counts, frozen trunks, checkpoints, overfitting, trees."""

import json

import numpy as np
import pytest
import torch

from av1tools.model.common import CheckpointError
from av1tools.model.config import TrainConfig, TrainJob
from av1tools.model.families import train
from av1tools.model.hierarchy import STAGE_ORDER, STAGES, combine
from av1tools.model.nodes import load_index
from av1tools.model.staged.checkpoint import load_staged_net, save_stage, state_hash
from av1tools.model.staged.config import StagedConfig
from av1tools.model.staged.data import Split, split_index
from av1tools.model.staged.net import ConvAdapter, StagedNet
from av1tools.model.staged.predict import StagedPredictor
from av1tools.model.staged.train import train_stage
from av1tools.partition import Node, Partition, allowed_partitions, frame_nodes, paint_grid

CLASSES = {s: len(STAGES[s].classes) for s in STAGE_ORDER}


def test_adapter_parameter_counts():
    model = StagedNet(StagedConfig(), CLASSES)
    adapters = model.branches["stage2"].adapters
    assert sum(p.numel() for p in adapters.parameters()) == 166_336  # the reference study's figure
    assert sum(p.numel() for p in adapters["layer3"].parameters()) == 33_600
    mlp = model.branches["stage2"].head.mlp
    assert sum(p.numel() for p in mlp.parameters()) == 512 * 256 + 256 + 256 * 128 + 128 + 128 * 3 + 3
    wide = StagedNet(StagedConfig(adapter_reduction=2, adapter_layers=("layer2", "layer3", "layer4")), CLASSES)
    assert sum(p.numel() for p in wide.branches["stage2"].adapters.parameters()) > 2 * 166_336


def test_adapted_trunk_equals_frozen_trunk_at_init():
    torch.manual_seed(0)
    model = StagedNet(StagedConfig(), CLASSES).eval()
    x = torch.rand(6, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.features("stage1", x, 2), model.features("stage2", x, 2))
    adapter = ConvAdapter(64)
    h = torch.randn(2, 64, 8, 8)
    assert torch.equal(adapter(h), h)


def test_shared_prefix_gives_the_same_logits():
    torch.manual_seed(1)
    model = StagedNet(StagedConfig(adapter_layers=("layer4",)), CLASSES).eval()
    x, q, s = torch.rand(4, 1, 16, 16), torch.rand(4), torch.full((4,), 3)
    with torch.no_grad():
        prefix = model.trunk_prefix(x, s)
        for stage in STAGE_ORDER:
            torch.testing.assert_close(model(stage, x, q, s), model(stage, x, q, s, prefix=prefix))


def test_stage2_training_leaves_trunk_and_bn_statistics_alone(data_dir):
    index = load_index([data_dir])
    split = split_index(index)
    model = StagedNet(StagedConfig(), CLASSES)
    before = {k: v.clone() for k, v in model.trunk.state_dict().items()}
    head_before = {k: v.clone() for k, v in model.heads["stage1"].state_dict().items()}
    tc = TrainConfig(epochs=1, max_samples=200, progress=False)
    res = train_stage(model, "stage2", index, split, tc, torch.device("cpu"), lambda m: None)
    assert res.history, "stage 2 did not train"
    after = model.trunk.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "frozen trunk or its BN statistics changed"
    assert all(torch.equal(head_before[k], v) for k, v in model.heads["stage1"].state_dict().items())
    assert model.branches["stage2"].adapters["layer3"].up.weight.abs().sum() > 0, "adapters did not learn"


def memorisation_rows(index, per_class: int = 8) -> np.ndarray:
    """A tiny, well-posed Stage-1 set: ``per_class`` NONE and PARTITION nodes of each of the
    sizes 8, 16 and 32 (inside the frame), so every node size fills exactly one batch."""
    labels = STAGES["stage1"].label_of()[index.partition]
    rng = np.random.default_rng(3)
    rows = [
        rng.choice(
            np.flatnonzero((index.size == size) & (labels == c) & index.inside.astype(bool)),
            size=per_class,
            replace=False,
        )
        for size in (8, 16, 32)
        for c in (0, 1)
    ]
    return np.sort(np.concatenate(rows))


@pytest.mark.parametrize("seed", [0, 4])
def test_tiny_overfit_reaches_full_training_accuracy(data_dir, seed):
    """The network can memorise a tiny set, judged in eval mode on the same nodes.

    Built so the result does not hang on the CPU's floating-point path: one batch per node
    size (BatchNorm's batch statistics are those of the whole size group, not of a random
    handful) and no sampling with replacement. The earlier version (48 random nodes, two of
    them 64x64, balancing sampler) reached 0.63-1.0 over seeds 0-5 on one machine."""
    index = load_index([data_dir])
    mask = np.zeros(len(index), bool)
    mask[memorisation_rows(index)] = True
    split = Split(mask, mask, {"mode": "same"})  # validate on the training nodes themselves
    torch.manual_seed(seed)
    model = StagedNet(StagedConfig(head_dropout=0.0), CLASSES)
    tc = TrainConfig(epochs=60, batch_size=16, lr=2e-3, patience=60, balance="none", seed=seed, progress=False)
    res = train_stage(model, "stage1", index, split, tc, torch.device("cpu"), lambda m: None)
    assert res.val_report["samples"] == 48
    assert res.val_report["accuracy"] >= 0.95, res.val_report


def test_checkpoints_round_trip_small_and_checked(trained_run, tmp_path):
    run, metrics = trained_run
    sizes = {s: (run / f"{s}.pt").stat().st_size for s in STAGE_ORDER}
    assert sizes["stage1"] > 40e6  # the full trunk, once
    assert all(sizes[s] < 2.5e6 for s in STAGE_ORDER[1:]), sizes  # adapters + head only
    model = load_staged_net(run)
    x, q, s = torch.rand(3, 1, 16, 16), torch.rand(3), torch.full((3,), 3)
    again = load_staged_net(run)
    with torch.no_grad():
        torch.testing.assert_close(model("stage2", x, q, s), again("stage2", x, q, s))
    assert state_hash(model.trunk.state_dict()) == torch.load(run / "stage2.pt", weights_only=True)["trunk_hash"]

    # a Stage-2 checkpoint trained on another trunk is refused
    other = tmp_path / "other"
    other.mkdir()
    for f in run.glob("*.pt"):
        (other / f.name).write_bytes(f.read_bytes())
    fresh = StagedNet(StagedConfig(), CLASSES)
    save_stage(fresh, "stage2", other)
    with pytest.raises(CheckpointError, match="another Stage-1 trunk"):
        load_staged_net(other)
    # corrupted and foreign files give one-line errors
    (other / "stage2.pt").write_bytes((run / "stage2.pt").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="corrupted"):
        load_staged_net(other)
    torch.save({"weights": torch.zeros(3)}, other / "stage2.pt")
    with pytest.raises(CheckpointError, match="not an av1tools partition checkpoint"):
        load_staged_net(other)


def test_training_is_deterministic_under_seed(data_dir, tmp_path):
    tc = TrainConfig(epochs=1, max_samples=120, progress=False)
    a = train(TrainJob((str(data_dir),), tmp_path / "a", train=tc, stages=("stage1",)), log=lambda m: None).metrics
    b = train(TrainJob((str(data_dir),), tmp_path / "b", train=tc, stages=("stage1",)), log=lambda m: None).metrics
    assert a["stages"]["stage1"]["history"] is None  # kept in stage1_history.json
    assert a["stages"]["stage1"]["best_val_f1"] == b["stages"]["stage1"]["best_val_f1"]
    ha = json.loads((tmp_path / "a" / "stage1_history.json").read_text())
    hb = json.loads((tmp_path / "b" / "stage1_history.json").read_text())
    assert [h["train_loss"] for h in ha] == [h["train_loss"] for h in hb]


def test_split_by_sequence_never_trains_on_validation_sequences(data_dir):
    index = load_index([data_dir])
    split = split_index(index, "sequence", val_sequences=["carphone"])
    seqs = np.array(index.sequences)[index.file]
    assert set(seqs[split.val]) == {"carphone"} and "carphone" not in set(seqs[split.train])
    frame_split = split_index(index, "frame", val_fraction=0.5, seed=1)
    keys = lambda m: {(s, f) for s, f in zip(seqs[m], index.display_index[m])}
    assert not keys(frame_split.train) & keys(frame_split.val)  # same frame, every QP, one side


def test_every_type_reachable_and_probabilities_sum_to_one():
    rng = np.random.default_rng(0)
    probs = {s: rng.dirichlet(np.ones(CLASSES[s]), size=5) for s in STAGE_ORDER}
    full = combine(probs)
    np.testing.assert_allclose(full.sum(axis=1), 1.0)
    assert (full > 0).all()


def test_predicted_trees_are_valid(trained_run):
    run, _ = trained_run
    predictor = StagedPredictor(run, device="cpu")
    rng = np.random.default_rng(0)
    luma = rng.integers(0, 256, (100, 150)).astype(np.uint8)  # borders on both edges
    for walk in ("split", "all"):
        pred = predictor.predict_frame(luma, 255.0, 120, 64, walk)
        nodes = [
            Node(int(x), int(y), int(s), Partition(int(d)))
            for x, y, s, d in zip(pred.x, pred.y, pred.size, pred.decision)
        ]
        for n in nodes:
            assert n.partition in allowed_partitions(n.size)
        np.testing.assert_allclose(pred.probs.sum(axis=1), 1.0, rtol=1e-5)
        if walk == "split":
            grid = paint_grid(nodes, 26, 38)
            assert (grid != 255).all(), "predicted leaves do not cover the frame"
            rebuilt = list(frame_nodes(grid, 64))
            assert len(rebuilt) == len(nodes) and set(rebuilt) == set(nodes)  # children only under SPLIT
        else:
            assert len(nodes) > 6 * (1 + 4 + 16)  # every node visited


def test_cli_train_and_predict(data_dir, tmp_path, cli):
    run = tmp_path / "run"
    code, out, err = cli(["train", "--data", data_dir, "--out", run, "--epochs", "1", "--max-samples", "100", "--json"])
    assert code == 0, err
    summary = json.loads(out)
    assert set(summary) == set(STAGE_ORDER)
    assert (run / "metrics.json").exists() and (run / "stage1_history.csv").exists()
    code, out, err = cli(
        [
            "predict",
            "--model",
            run,
            "--seq",
            "astronaut-pan",
            "--cq-level",
            "30",
            "--frames",
            "2",
            "--out",
            tmp_path / "preds" / "p.h5",
            "--json",
        ]
    )
    assert code == 0, err
    out = json.loads(out)
    assert out["frames"] == 2 and out["nodes"] >= 2 * 9 and (tmp_path / "preds" / "p.h5").exists()
    code, _, err = cli(
        ["predict", "--model", tmp_path / "nowhere", "--seq", "carphone", "--qp", "30", "--out", tmp_path / "q.h5"]
    )
    assert code == 1 and "no such run directory" in err


def test_transfer_study_writes_its_tables(data_dir, tmp_path, cli):
    out = tmp_path / "transfer"
    code, stdout, err = cli(
        [
            "experiment",
            "transfer",
            "--data",
            data_dir,
            "--out",
            out,
            "--quick",
            "--epochs",
            "1",
            "--max-samples",
            "100",
            "--max-val-samples",
            "300",
            "--json",
        ]
    )
    assert code == 0, err
    reply = json.loads(stdout)
    f1 = reply["val_macro_f1"]
    assert {
        "strategy:finetune",
        "strategy:frozen",
        "strategy:adapter",
        "reduction:gamma=2",
        "layers:layer2+layer3+layer4",
    } <= set(f1)
    assert all(v["n"] == 2 for v in f1.values())  # --quick: two seeds, the fewest with an interval
    assert reply["claim"]["verdict"] in ("holds", "does not hold", "cannot be decided")
    md = (out / "transfer.md").read_text()
    for heading in (
        "## Fine-tuning vs frozen vs Conv-Adapter",
        "### Per-class F1",
        "### Paired differences",
        "## Reduction sweep",
        "## Layer ablation",
        "## What the adapters contribute (alpha -> 0)",
        "## Feature preservation",
    ):
        assert heading in md
    assert "The reference study's claim" in md and "<h2>Layer ablation" in (out / "transfer.html").read_text()
    result = json.loads((out / "transfer.json").read_text())
    frozen = result["summary"]["strategy:frozen"]
    assert frozen["feature_cosine_vs_stage1"]["mean"] == pytest.approx(1.0, abs=1e-5) and frozen["trunk_unchanged"]
    finetune = result["summary"]["strategy:finetune"]
    assert finetune["checkpoint_bytes"] > 20 * result["summary"]["strategy:adapter"]["checkpoint_bytes"]


@pytest.mark.slow
def test_transfer_seeds_change_the_result_and_a_seed_reproduces_it(data_dir, tmp_path):
    from av1tools.model.staged.config import TransferConfig
    from av1tools.model.staged.transfer import run_transfer

    def study(first_seed, seeds, out):
        config = TransferConfig(
            (str(data_dir),),
            tmp_path / out,
            seeds=seeds,
            first_seed=first_seed,
            epochs=1,
            max_samples=150,
            max_val_samples=200,
        )
        return run_transfer(config, log=lambda m: None)

    two = study(0, 2, "two")
    again = study(0, 1, "again")

    def curves(result, seed):
        return {
            (r["group"], r["variant"]): [h["train_macro_f1"] for h in r["history"]]
            for r in result.runs
            if r["seed"] == seed
        }

    assert curves(two, 0) == curves(again, 0)  # the same seed, the same training, bit for bit
    assert curves(two, 0) != curves(two, 1)  # another seed trains differently
    assert two.summary["strategy:adapter"]["val_macro_f1"]["n"] == 2


def test_transfer_study_without_ablations(data_dir, tmp_path, cli):
    """--no-ablations trains the three strategies only, and the report says what it left out."""
    out = tmp_path / "transfer"
    args = ["experiment", "transfer", "--data", data_dir, "--out", out, "--quick", "--epochs", "1"]
    args += ["--max-samples", "100", "--max-val-samples", "300", "--seeds", "2", "--no-ablations", "--json"]
    code, stdout, err = cli(args)
    assert code == 0, err
    assert set(json.loads(stdout)["val_macro_f1"]) == {"strategy:finetune", "strategy:frozen", "strategy:adapter"}
    md = (out / "transfer.md").read_text()
    assert "were not run (`--no-ablations`)" in md and "## Layer ablation" not in md
