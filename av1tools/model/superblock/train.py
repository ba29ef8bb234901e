"""Training the superblock model, in one process or under ``torchrun`` (PyTorch DDP).

Every rank sees the same global batch order (one seed) and takes its slice of each batch;
the loss is normalised by the global count of scored nodes, so the averaged gradients are
those of the whole batch and a distributed run follows the one-process run up to
floating-point summation order (the model has no batch statistics). Rank 0 alone validates
and writes the run directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from av1tools.configs import plain, write_config
from av1tools.extract.dataset import open_dataset
from av1tools.extract.manifest import data_source
from av1tools.model.common import TrainResult, pick_device, seed_everything, use_threads
from av1tools.model.config import TrainJob
from av1tools.model.metrics import confusion, report
from av1tools.model.splits import SplitError, a_few, held_out_groups
from av1tools.model.superblock.calibration import ScoredNodes, fit_temperatures, nll, reliability, scored_nodes
from av1tools.model.superblock.checkpoint import load_superblock, save_superblock, warm_start
from av1tools.model.superblock.config import CHECKPOINT, SuperblockConfig
from av1tools.model.superblock.data import (
    Superblocks,
    SuperblockStream,
    batch_tensors,
    implied_labels,
    load_superblocks,
    worker_count,
)
from av1tools.model.superblock.layout import LEVEL_OF_SLOT, LEVEL_SLOTS
from av1tools.model.superblock.net import SuperblockNet, masked_log_probs
from av1tools.partition import PARTITION_NAMES
from av1tools.paths import output_dir, write_text_atomic

Log = Callable[[str], None]


def distributed() -> tuple[int, int]:
    """(rank, world size): torchrun's environment, else one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _all_sum(t: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        dist.all_reduce(t)
    return t


def node_loss(logits: torch.Tensor, batch: dict, level_weights: str, world: int) -> torch.Tensor:
    """Mean negative log-likelihood over the coded nodes inside the frame (each tree level
    weighing the same, or each node), normalised by the global batch's counts."""
    logp = masked_log_probs(logits, batch["allowed"])
    labels = batch["labels"]
    scored = (labels >= 0) & batch["inside"]
    nll = -logp.gather(2, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    nll = torch.where(scored, nll, torch.zeros_like(nll))
    level = torch.from_numpy(LEVEL_OF_SLOT).to(logits.device)
    per_level = torch.zeros(len(LEVEL_SLOTS), device=logits.device).index_add(0, level, scored.float().sum(0))
    counts = _all_sum(per_level.clone(), world)
    if level_weights == "equal":
        weight = 1.0 / (counts.clamp(min=1) * int((counts > 0).sum()))
    else:
        weight = torch.full_like(counts, 1.0 / float(counts.sum().clamp(min=1)))
    return (nll.sum(0) * weight[level]).sum() * world  # DDP averages over ranks


def validate(net: torch.nn.Module, sb: Superblocks, batch_size: int, device, temperatures=None) -> dict:
    """NLL and F1 (the ten types, per level) over coded nodes inside the frame."""
    return scores(scored_nodes(net, sb, batch_size, device), temperatures)


def scores(nodes: ScoredNodes, temperatures=None) -> dict:
    truth, levels = nodes.labels, nodes.levels
    pred = nodes.logits.argmax(axis=1) if len(truth) else np.zeros(0, int)  # a temperature never moves the argmax
    out = report(confusion(truth, pred, 10), PARTITION_NAMES) | {"nll": nll(nodes, temperatures)}
    out["by_size"] = {
        str(64 >> lv): report(confusion(truth[levels == lv], pred[levels == lv], 10), PARTITION_NAMES)["macro_f1"]
        for lv in range(len(LEVEL_SLOTS))
    }
    return out


def shard_groups(files: list[Path]) -> dict[Path, tuple[str, str]]:
    """Each shard's (split group, sequence), read once."""
    out = {}
    for f in files:
        with open_dataset(f) as ds:
            out[f] = (ds.attrs.group, ds.attrs.sequence)
    return out


def _split(
    groups: dict[Path, tuple[str, str]], manifest_splits: dict[str, str], job: TrainJob
) -> tuple[list[str], str]:
    sequences: dict[str, set[str]] = {}
    for group, sequence in groups.values():
        sequences.setdefault(group, set()).add(sequence)
    if len(sequences) < 2 and not job.train.val_sequences:
        raise SplitError(
            f"the superblock model is validated on held-out sequences; the data has only "
            f"{len(sequences)} ({', '.join(sequences)}): add data or name --val-seq"
        )
    return held_out_groups(
        list(sequences),
        sequences,
        job.train.val_fraction,
        job.train.val_sequences or None,
        job.train.seed,
        manifest_splits,
    )


def train_superblock(job: TrainJob, log: Log = print) -> TrainResult:
    """Train the superblock model into ``job.out`` (checkpoint, metrics.json, config.json);
    rank 0 returns what it wrote, other ranks an empty result."""
    tc, cfg = job.train, job.net or SuperblockConfig()
    rank, world = distributed()
    seed_everything(tc.seed)
    use_threads(tc.threads)
    device = pick_device(tc.device)
    source = data_source(job.data)
    files = source.files
    groups = shard_groups(files)
    held, how = _split(groups, source.splits, job)
    if rank != 0:
        log = lambda m: None  # noqa: E731 - one voice in a distributed run
    train_files = [f for f in files if groups[f][0] not in held]
    val_files = [f for f in files if groups[f][0] in held]
    val = load_superblocks(val_files, cfg)
    if tc.max_val_samples and len(val) > tc.max_val_samples:
        val = val.take(np.sort(np.random.default_rng(tc.seed).choice(len(val), tc.max_val_samples, replace=False)))
    net = SuperblockNet(cfg)
    started_from = _warm_start(net, job.init, log) if job.init else None
    net = net.to(device)
    model = torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net
    opt = torch.optim.AdamW(net.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    if job.stream:
        stream = SuperblockStream(
            train_files,
            tc.batch_size // world,
            seed=tc.seed,
            rank=rank,
            world=world,
            implied=cfg.uncoded == "implied",
            config=cfg,
        )
        loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=tc.loader_workers or worker_count())
        train_sb, steps = None, None
    else:
        train_sb = load_superblocks(train_files, cfg)
        if tc.max_samples and len(train_sb) > tc.max_samples:
            rows = np.sort(np.random.default_rng(tc.seed).choice(len(train_sb), tc.max_samples, replace=False))
            train_sb = train_sb.take(rows)
        if cfg.uncoded == "implied":  # validation always scores the encoder's own nodes only
            train_sb = implied_labels(train_sb)
        steps = (len(train_sb) + tc.batch_size - 1) // tc.batch_size
    total_steps = (steps or 1) * tc.epochs
    sched = (
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=tc.lr, total_steps=max(total_steps, 1), pct_start=0.1)
        if steps
        else None
    )
    log(
        f"superblock model: {sum(p.numel() for p in net.parameters()):,} parameters; "
        f"train {len(train_sb) if train_sb is not None else 'streamed'} superblocks, val {len(val)} "
        f"(held out by {how}: {a_few(held)}); {world} process(es)"
    )
    history, best, best_state, stale = [], float("inf"), None, 0
    start = time.perf_counter()
    with output_dir(job.out) if rank == 0 else _nowhere() as run_dir:
        for epoch in range(1, tc.epochs + 1):
            t0 = time.perf_counter()
            net.train()
            loss_sum, batches = 0.0, 0
            for batch in _batches(train_sb, loader if job.stream else None, tc, epoch, rank, world):
                batch = {k: v.to(device) for k, v in batch.items()}
                logits = model(batch["pixels"], batch["qindex"], batch["frame_size"], batch["frame_info"])
                loss = node_loss(logits, batch, cfg.level_weights, world)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                loss_sum += float(loss.detach()) / world
                batches += 1
            row = {"epoch": epoch, "train_loss": loss_sum / max(batches, 1), "seconds": time.perf_counter() - t0}
            if rank == 0:
                v = validate(net, val, 512, device)
                row |= {"val_nll": v["nll"], "val_macro_f1": v["macro_f1"], "val_macro_f1_by_size": v["by_size"]}
                log(
                    f"superblock epoch {epoch}: loss {row['train_loss']:.4f} val NLL {v['nll']:.4f} "
                    f"macro-F1 {v['macro_f1']:.4f} {v['by_size']}"
                )
                if v["nll"] < best:
                    best, stale = v["nll"], 0
                    best_state = {k: t.detach().clone() for k, t in net.state_dict().items()}
                    row["best"] = True
                else:
                    stale += 1
            history.append(row)
            stop = torch.tensor([stale >= tc.patience], dtype=torch.int32)
            if bool(_all_sum(stop, world)):
                log(f"superblock: early stop after epoch {epoch}")
                break
        if rank != 0:
            _leave(world)  # rank 0 writes; the others wait for it, then all leave together
            return TrainResult(Path(job.out), {}, {})
        net.load_state_dict(best_state)
        nodes = scored_nodes(net, val, 512, device)
        temperatures = fit_temperatures(nodes)
        final = scores(nodes, temperatures)
        calibration = {
            "temperatures": temperatures.tolist(),
            "nll_before": nll(nodes),
            "nll_after": final["nll"],
            "reliability_before": reliability(nodes),
            "reliability_after": reliability(nodes, temperatures),
        }
        log(
            f"superblock: temperatures {np.round(temperatures, 3).tolist()}; validation NLL "
            f"{calibration['nll_before']:.4f} -> {calibration['nll_after']:.4f}, ECE "
            f"{calibration['reliability_before']['ece']:.4f} -> {calibration['reliability_after']['ece']:.4f}"
        )
        path = save_superblock(
            net,
            run_dir,
            {
                "train": asdict(tc) | {"val_sequences": list(tc.val_sequences)},
                "held_out": held,
                "job": plain(job),
                "temperatures": temperatures.tolist(),
            },
        )
        metrics = {
            "arch": "superblock",
            "data": [str(f) for f in files],
            "split": {"val_sequences": held, "chosen_by": how},
            "model": cfg.to_dict(),
            "processes": world,
            "device": str(device),
            "train": asdict(tc) | {"val_sequences": list(tc.val_sequences)},
            "train_superblocks": len(train_sb) if train_sb is not None else None,
            "val_superblocks": len(val),
            "best_val": final,
            "calibration": calibration,
            "history": history,
            "init": started_from,
            "checkpoint": path.name,
            "checkpoint_bytes": path.stat().st_size,
            "seconds": time.perf_counter() - start,
        }
        write_text_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=2, default=str))
        write_config(run_dir, job)
    _leave(world)
    return TrainResult(run_dir, metrics, superblock_summary(metrics, run_dir))


def _warm_start(net: SuperblockNet, spec: str, log: Log) -> dict:
    """``net`` starts from the weights of the run ``spec`` names; what was taken, for metrics.json."""
    from av1tools.model.families import run_directory

    run = run_directory(spec, "intra")
    source, _ = load_superblock(run)
    taken = warm_start(net, source)
    checkpoint = run / CHECKPOINT
    log(
        f"superblock: warm start from {run}: {taken['copied']} tensors copied, "
        f"{len(taken['adapted'])} matched input by input, {len(taken['fresh'])} fresh"
    )
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    return {"spec": spec, "run": str(run), "sha256": digest, "source_config": source.config.to_dict()} | taken


def _leave(world: int) -> None:
    """End a distributed run cleanly: every rank at a barrier, then the process group down
    (a rank leaving while another still works aborts it at exit under load)."""
    if world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def superblock_summary(metrics: dict, run_dir: Path) -> dict:
    """The one network's validation numbers and checkpoint, as ``train`` prints them."""
    best = metrics["best_val"]
    return {
        "superblock": {
            "val_macro_f1": round(best["macro_f1"], 4),
            "val_nll": round(best["nll"], 4),
            "best_epoch": max((h["epoch"] for h in metrics["history"] if h.get("best")), default=0),
            "checkpoint": str(run_dir / metrics["checkpoint"]),
            "checkpoint_bytes": metrics["checkpoint_bytes"],
        }
    }


def _batches(train_sb: Superblocks | None, loader, tc, epoch: int, rank: int, world: int):
    """This rank's slice of every global batch of the epoch (the order is the seed's, the
    same on every rank)."""
    if loader is not None:
        loader.dataset.set_epoch(epoch)
        yield from loader
        return
    order = np.random.default_rng((tc.seed, epoch)).permutation(len(train_sb))
    for i in range(0, len(order), tc.batch_size):
        rows = order[i : i + tc.batch_size]
        share = np.array_split(rows, world)[rank]
        if len(share):
            yield batch_tensors(train_sb, np.sort(share))


class _nowhere:
    """output_dir's stand-in on ranks that write nothing."""

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
