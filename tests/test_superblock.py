"""The superblock model: its tree layout and masks, labels from shards, valid predicted trees,
memorisation robust across CPUs, and DDP training that matches one process."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from av1tools.extract.dataset import open_dataset
from av1tools.model.config import TrainConfig, TrainJob
from av1tools.model.superblock.checkpoint import load_superblock
from av1tools.model.superblock.config import SuperblockConfig
from av1tools.model.superblock.data import Superblocks, SuperblockStream, batch_tensors, file_superblocks
from av1tools.model.superblock.layout import LEVEL_OFFSET, SLOT_DX, SLOT_DY, SLOT_SIZE, SLOTS, allowed_slots, slot_index
from av1tools.model.superblock.net import SuperblockNet, masked_log_probs
from av1tools.model.superblock.predict import SuperblockPredictor
from av1tools.model.superblock.train import node_loss
from av1tools.partition import NUM_PARTITIONS, Node, Partition, allowed_mask, frame_nodes, paint_grid


def test_tree_layout_and_head_shapes():
    assert SLOTS == 85 and LEVEL_OFFSET == (0, 1, 5, 21)
    assert list(np.bincount(SLOT_SIZE)[[64, 32, 16, 8]]) == [1, 4, 16, 64]
    assert (slot_index(SLOT_DX, SLOT_DY, SLOT_SIZE) == np.arange(SLOTS)).all()
    for s in (64, 32, 16, 8):  # each level tiles the superblock once
        cover = np.zeros((64, 64), int)
        for dx, dy in zip(SLOT_DX[SLOT_SIZE == s], SLOT_DY[SLOT_SIZE == s]):
            cover[dy : dy + s, dx : dx + s] += 1
        assert (cover == 1).all()
    for widths in ((8, 8, 8, 8, 8), (16, 24, 32, 48, 64)):
        net = SuperblockNet(SuperblockConfig(widths=widths))
        assert net(torch.rand(3, 1, 64, 64), torch.rand(3)).shape == (3, SLOTS, NUM_PARTITIONS)


def test_masks_at_every_size_and_at_frame_edges():
    inside = allowed_slots(0, 0, 1000, 1000)
    for i in range(SLOTS):
        assert (inside[i] == allowed_mask(int(SLOT_SIZE[i]))).all()
    # a 100x70 frame: libaom's mi grid covers it rounded up to 8 pixels, 104 x 72; the
    # superblock at (64, 64) has its bottom half below row 72
    edge = allowed_slots(64, 64, 100, 70)

    def at(dx, dy, size):
        return np.flatnonzero(edge[int(slot_index(np.array([dx]), np.array([dy]), np.array([size]))[0])]).tolist()

    assert at(0, 0, 64) == [Partition.HORZ, Partition.SPLIT]  # bottom half out, right half (96..) in
    assert at(0, 0, 32) == [Partition.HORZ, Partition.SPLIT]  # rows 64..80: bottom half (80..) out
    assert at(32, 0, 32) == [Partition.SPLIT]  # x 96..128: right half (112..) out, rows too
    assert at(0, 0, 8) == list(np.flatnonzero(allowed_mask(8)))  # 64..72 x 64..72: inside
    assert at(0, 8, 8) == []  # starts at row 72: outside the grid, not a node
    # x 96..104 lies inside the 104-wide grid: libaom's edge rule sees the grid, not the frame's 100
    assert at(32, 0, 8) == list(np.flatnonzero(allowed_mask(8)))


def test_shard_labels_are_the_encoders_partitions(data_dir):
    [path] = sorted(data_dir.glob("carphone*q30*.h5"))
    with open_dataset(path) as ds:
        sb = file_superblocks(ds)
        frames = ds.frames_table()
        xs, ys = ds.column(64, "x"), ds.column(64, "y")
        shown = ds.column(64, "display_index")
        for i in range(len(sb)):
            grid = frames["block_size"][list(frames["display_index"]).index(shown[i])]
            truth = {
                (n.x - xs[i], n.y - ys[i], n.size): n.partition
                for n in frame_nodes(grid, 64)
                if xs[i] <= n.x < xs[i] + 64 and ys[i] <= n.y < ys[i] + 64
            }
            coded = {
                (int(SLOT_DX[j]), int(SLOT_DY[j]), int(SLOT_SIZE[j])): int(sb.labels[i, j])
                for j in range(SLOTS)
                if sb.labels[i, j] >= 0
            }
            assert coded == truth
            allowed = (sb.allowed[i, :, None] >> np.arange(NUM_PARTITIONS)) & 1
            assert all(allowed[j, sb.labels[i, j]] for j in range(SLOTS) if sb.labels[i, j] >= 0)


@pytest.mark.parametrize("seed", [0, 1])
def test_memorises_a_tiny_set(data_dir, seed):
    """No batch statistics and a full batch: the result does not hang on the CPU's
    floating-point path (measured 1.0 on AVX-512 and AVX2 kernels alike)."""
    parts = []
    for path in sorted(data_dir.glob("*q30*.h5")):
        with open_dataset(path) as ds:
            parts.append(file_superblocks(ds))
    batch = batch_tensors(Superblocks.concat(parts), np.arange(16))
    torch.manual_seed(seed)
    net = SuperblockNet(SuperblockConfig())
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    for _ in range(300):
        loss = node_loss(net(batch["pixels"], batch["qindex"]), batch, "node", 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        logp = masked_log_probs(net(batch["pixels"], batch["qindex"]), batch["allowed"])
    scored = (batch["labels"] >= 0) & batch["inside"]
    assert int(scored.sum()) > 100
    assert float((logp.argmax(-1)[scored] == batch["labels"][scored]).float().mean()) >= 0.95


@pytest.fixture(scope="module")
def superblock_run(data_dir, tmp_path_factory):
    from av1tools.model.families import train

    out = tmp_path_factory.mktemp("sb") / "run"
    job = TrainJob((str(data_dir),), out, arch="superblock", train=TrainConfig(epochs=2, progress=False))
    return train(job, log=lambda m: None)


def test_predicted_trees_are_valid(superblock_run):
    predictor = SuperblockPredictor(superblock_run.run_dir, "cpu", "product")
    luma = np.random.default_rng(0).integers(0, 256, (100, 150)).astype(np.uint8)  # borders on both edges
    pred = predictor.predict_frame(luma, 255.0, 120, 64, "split")
    nodes = [
        Node(int(x), int(y), int(s), Partition(int(d))) for x, y, s, d in zip(pred.x, pred.y, pred.size, pred.decision)
    ]
    assert all(n.partition in np.flatnonzero(allowed_mask(n.size)) for n in nodes)
    np.testing.assert_allclose(pred.probs.sum(axis=1), 1.0, rtol=1e-5)
    grid = paint_grid(nodes, 26, 38)
    assert (grid != 255).all(), "predicted leaves do not cover the frame"
    rebuilt = list(frame_nodes(grid, 64))
    assert len(rebuilt) == len(nodes) and set(rebuilt) == set(nodes)  # children only under SPLIT
    everything = predictor.predict_frame(luma, 255.0, 120, 64, "all")
    in_grid = sum(
        1
        for sx in (0, 64, 128)
        for sy in (0, 64)
        for dx, dy in zip(SLOT_DX, SLOT_DY)
        if sx + dx < 152 and sy + dy < 104
    )  # the mi grid of 150x100: 152 x 104
    assert len(everything.x) == in_grid > len(pred.x)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_processes_match_one(data_dir, tmp_path):
    """torchrun, gloo on CPU, 2 processes: the same weights as one process up to float
    summation order (documented tolerance: 1e-4 absolute); rank 0 alone writes."""
    args = [
        "train",
        "--arch",
        "superblock",
        "--data",
        str(data_dir),
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--seed",
        "3",
        "-q",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    one = subprocess.run(
        [sys.executable, "-m", "av1tools", *args, "--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(_free_port()),
            "-m",
            "av1tools",
            *args,
            "--out",
            str(tmp_path / "two"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr[-2000:]
    a, _ = load_superblock(tmp_path / "one")
    b, _ = load_superblock(tmp_path / "two")
    worst = max(float((pa - pb).abs().max()) for pa, pb in zip(a.state_dict().values(), b.state_dict().values()))
    assert worst < 1e-4, worst
    metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    written = sorted(p.name for p in (tmp_path / "two").iterdir())  # by rank 0 alone: one of each
    assert metrics["processes"] == 2 and written == sorted(p.name for p in (tmp_path / "one").iterdir())
    assert written == [
        "config.json",
        "metrics.json",
        "reliability.png",
        "report.html",
        "report.json",
        "report.md",
        "superblock.pt",
    ]


def test_shipped_default_model(data_dir, cli, tmp_path):
    """`--model default` loads the model in the package, made by the zoo's recipe, and on real
    shards it never saw it predicts the encoder's types better than a uniform guess over the
    allowed ones (an untrained network does not)."""
    from av1tools.zoo import default_model_dir
    from av1tools.zoo.recipe import Recipe

    net, _ = load_superblock(default_model_dir())
    assert net.config == Recipe().model
    assert sum(p.stat().st_size for p in default_model_dir().iterdir()) < 2_000_000
    parts = []
    for path in sorted(data_dir.glob("*-pan_*.h5")):  # carphone is in the recipe; the pans are not
        with open_dataset(path) as ds:
            parts.append(file_superblocks(ds, net.config))  # its context margin too
    sbs = Superblocks.concat(parts)
    batch = batch_tensors(sbs, np.arange(len(sbs.qindex)))
    with torch.no_grad():
        logits = net(batch["pixels"], batch["qindex"], batch["frame_size"], batch["frame_info"])
        logp = masked_log_probs(logits, batch["allowed"])
    scored = (batch["labels"] >= 0) & batch["inside"]
    nll = -logp.gather(-1, batch["labels"].clamp(min=0).unsqueeze(-1)).squeeze(-1)[scored].mean()
    uniform = torch.log(batch["allowed"].sum(-1).float())[scored].mean()
    assert float(nll) < 0.7 * float(uniform)  # measured 0.98 against 2.07
    out = tmp_path / "p.h5"
    code, stdout, err = cli(
        ["predict", "--model", "default", "--seq", "coffee-pan", "--cq-level", "39", "--frames", "1"]
        + ["--out", out, "--json"]
    )
    assert code == 0, err
    assert json.loads(stdout)["frames"] == 1 and out.exists()


def test_streamed_training_sees_every_superblock(data_dir, cli, tmp_path):
    """--stream: shards read by worker processes, each superblock once per epoch, and the
    training it feeds runs to a checkpoint (also with implied labels)."""
    files = sorted(data_dir.glob("*.h5"))
    total = 0
    for path in files:
        with open_dataset(path) as ds:
            total += len(file_superblocks(ds))
    stream = SuperblockStream(files, 7, buffer=20, implied=True)
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=2)
    assert sum(len(b["qindex"]) for b in loader) == total
    run = tmp_path / "run"
    args = ["train", "--arch", "superblock", "--data", data_dir, "--out", run, "--epochs", "1", "--stream"]
    code, _, err = cli(args + ["--uncoded", "implied", "--json"])
    assert code == 0, err
    assert (run / "superblock.pt").exists()
    report = (run / "report.md").read_text()  # the run's report: F1, the temperatures, the reliability diagram
    assert "## Confidence" in report and "expected calibration error" in report and (run / "reliability.png").exists()


def test_context_windows_repeat_the_frame_edge():
    from av1tools.model.superblock.data import windows

    luma = np.random.default_rng(3).integers(0, 256, (100, 150)).astype(np.uint8)
    w = windows(luma, np.array([0, 128]), np.array([0, 64]), 16)
    assert w.shape == (2, 96, 96)
    np.testing.assert_array_equal(w[0, 16:80, 16:80], luma[:64, :64])  # the superblock itself
    np.testing.assert_array_equal(w[0, :16, 16:80], np.repeat(luma[:1, :64], 16, axis=0))  # above the frame
    np.testing.assert_array_equal(w[0, 16:80, :16], np.repeat(luma[:64, :1], 16, axis=1))  # left of it
    np.testing.assert_array_equal(w[0, 16:80, 80:96], luma[:64, 64:80])  # the neighbour on the right is context
    np.testing.assert_array_equal(w[1, 16:52, 16:38], luma[64:100, 128:150])  # an edge superblock
    np.testing.assert_array_equal(w[1, 16:52, 38:], np.repeat(luma[64:100, 149:150], 96 - 38, axis=1))
    np.testing.assert_array_equal(w[1, 52:, 16:38], np.repeat(luma[99:100, 128:150], 96 - 52, axis=0))
    np.testing.assert_array_equal(windows(luma, np.array([64]), np.array([0]), 0)[0], luma[:64, 64:128])


@pytest.mark.parametrize("margin,activity,frame_size", [(16, False, False), (32, True, True), (0, True, False)])
def test_context_inputs_keep_the_tree_layout(margin, activity, frame_size):
    config = SuperblockConfig(margin=margin, activity=activity, frame_size=frame_size)
    net = SuperblockNet(config).eval()
    side = config.window
    out = net(torch.rand(3, 1, side, side), torch.rand(3), torch.rand(3, 2))
    assert out.shape == (3, SLOTS, NUM_PARTITIONS) and torch.isfinite(out).all()
    if margin:  # the context changes the prediction; pixels of the superblock itself dominate its cells
        x = torch.rand(1, 1, side, side)
        y = x.clone()
        y[..., :4, :4] = 1 - y[..., :4, :4]  # a far corner of the margin
        assert not torch.equal(net(x, torch.rand(1), torch.rand(1, 2)), net(y, torch.rand(1), torch.rand(1, 2)))
    plain = set(SuperblockNet(SuperblockConfig()).state_dict())
    assert (set(net.state_dict()) == plain) and (margin or activity or frame_size)  # same layers, other inputs


def test_temperatures_fitted_on_one_split_lower_the_nll_of_another():
    from av1tools.model.superblock.calibration import ScoredNodes, fit_temperatures, nll, reliability

    rng = np.random.default_rng(5)
    n = 6000
    true_logits = rng.normal(0, 1.5, (n, NUM_PARTITIONS))
    p = np.exp(true_logits) / np.exp(true_logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(NUM_PARTITIONS, p=row) for row in p])
    levels = rng.integers(0, 4, n)
    overconfident = (3.0 * true_logits).astype(np.float32)  # what an overfitted network says
    a, b = slice(0, n // 2), slice(n // 2, n)
    fit = fit_temperatures(ScoredNodes(overconfident[a], labels[a], levels[a]))
    held = ScoredNodes(overconfident[b], labels[b], levels[b])
    assert np.all((fit > 2.2) & (fit < 4.0))  # about 3, per level
    assert nll(held, fit) < nll(held) - 0.1
    assert reliability(held, fit)["ece"] < reliability(held)["ece"]


def test_training_stores_temperatures_and_the_predictor_uses_them(superblock_run, tmp_path):
    calibration = superblock_run.metrics["calibration"]
    assert len(calibration["temperatures"]) == 4 and calibration["nll_after"] <= calibration["nll_before"]
    net, extra = load_superblock(superblock_run.run_dir)
    assert extra["temperatures"] == calibration["temperatures"]
    predictor = SuperblockPredictor(superblock_run.run_dir, "cpu", "product")
    luma = np.random.default_rng(0).integers(0, 256, (64, 64)).astype(np.uint8)
    with torch.no_grad():
        raw = net(torch.from_numpy(luma[None, None] / 255.0).float(), torch.tensor([120 / 255.0]))
    hot = torch.softmax(raw[0, 0], -1).max().item()
    probs = predictor.predict_frame(luma, 255.0, 120, walk="all").probs[0]
    t = calibration["temperatures"][0]
    assert probs.max() == pytest.approx(torch.softmax(raw[0, 0] / t, -1).max().item(), rel=1e-5)
    assert (probs.max() < hot) == (t > 1)


def test_warm_start_computes_what_the_source_computed_until_the_new_inputs_learn():
    from av1tools.model.common import CheckpointError
    from av1tools.model.superblock.checkpoint import warm_start

    torch.manual_seed(0)
    source = SuperblockNet(SuperblockConfig()).eval()
    target = SuperblockNet(SuperblockConfig(references=2, frame_info=True)).eval()
    x = torch.rand(2, 3, 64, 64)
    q, info = torch.rand(2), torch.rand(2, 3)
    assert not torch.allclose(target(x, q, None, info), source(x[:, :1], q))  # fresh: another function
    taken = warm_start(target, source)
    assert taken["adapted"] == ["stem.0.weight", "q_embed.0.weight"] and not taken["fresh"]
    # the references and the frame's place start at zero weight: whatever they hold, the output is the source's
    torch.testing.assert_close(target(x, q, None, info), source(x[:, :1], q))
    torch.testing.assert_close(target(x.flip(1), q, None, info * 0), source(x.flip(1)[:, :1], q))
    assert target.stem[0].weight[:, 1:].abs().sum() == 0 and target.stem[0].weight.requires_grad
    with pytest.raises(CheckpointError, match="widths"):
        warm_start(SuperblockNet(SuperblockConfig(widths=(8, 8, 8, 8, 8))), source)


def test_training_from_a_run_records_its_source(superblock_run, data_dir, tmp_path):
    from av1tools.model.families import train

    job = TrainJob(
        (str(data_dir),),
        tmp_path / "warm",
        arch="superblock",
        net=SuperblockConfig(frame_size=True),
        train=TrainConfig(epochs=1, progress=False),
        init=str(superblock_run.run_dir),
    )
    init = train(job, log=lambda m: None).metrics["init"]
    assert init["run"] == str(superblock_run.run_dir) and init["adapted"] == ["q_embed.0.weight"]
    assert init["copied"] > 10 and init["source_config"]["frame_size"] is False


def test_the_report_of_a_run_whose_last_epochs_were_not_its_best(superblock_run, tmp_path):
    from av1tools.report import write_report
    from av1tools.report.plots import superblock_plots

    metrics = json.loads((superblock_run.run_dir / "metrics.json").read_text())
    metrics["history"][-1].pop("best", None)  # early stopping's usual history: later epochs not the best
    paths = write_report("superblock", metrics, tmp_path, "Superblock model", superblock_plots)
    assert "| 2 |" in paths["md"].read_text().replace(" (best)", "")
