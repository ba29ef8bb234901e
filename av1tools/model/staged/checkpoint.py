"""Checkpoints: the Stage-1 trunk once, then per later stage only what it adds.

``stage1.pt`` holds the trunk, its head and the trunk's hash; ``stage2.pt`` etc. hold the
stage's adapters and head (about 1.3 MB with the default adapters) plus that hash, which is
checked on loading. A ``finetune`` stage has to carry its own trunk copy, and is as big
as that copy. Files load with ``torch.load(weights_only=True)``: tensors and plain data only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from av1tools.model.common import CheckpointError, read_checkpoint_file, save_checkpoint, short_error
from av1tools.model.hierarchy import STAGE_ORDER, STAGES
from av1tools.model.staged.config import StagedConfig
from av1tools.model.staged.net import StagedNet

FORMAT = 1
KIND = "av1tools-partition-stage"


def state_hash(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def checkpoint_path(run_dir: Path, stage: str) -> Path:
    return Path(run_dir) / f"{stage}.pt"


def save_stage(model: StagedNet, stage: str, run_dir: Path, extra: dict | None = None) -> Path:
    trunk_hash = state_hash(model.trunk.state_dict())
    obj = {
        "kind": KIND,
        "format": FORMAT,
        "stage": stage,
        "config": model.config.to_dict(),
        "classes": list(STAGES[stage].classes),
        "trunk_hash": trunk_hash,
        "extra": extra or {},
    }
    if stage == "stage1":
        obj["trunk"] = model.trunk.state_dict()
        obj["head"] = model.heads["stage1"].state_dict()
    else:
        obj["branch"] = model.branches[stage].state_dict()
    return save_checkpoint(obj, checkpoint_path(run_dir, stage))


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents, or a one-line CheckpointError."""
    return read_checkpoint_file(path, KIND, (FORMAT,), "partition")


def load_staged_net(
    run_dir: Path, stages: tuple[str, ...] = STAGE_ORDER, device: str | torch.device = "cpu"
) -> StagedNet:
    """A predictor with the trunk from stage1.pt and each later stage's branch."""
    run_dir = Path(run_dir)
    first = read_checkpoint(checkpoint_path(run_dir, "stage1"))
    if first.get("stage") != "stage1":
        raise CheckpointError(
            f"{checkpoint_path(run_dir, 'stage1')}: holds {first.get('stage')}, not stage1 (renamed?)"
        )
    config = StagedConfig.from_dict(first["config"])
    model = StagedNet(config, {s: len(STAGES[s].classes) for s in STAGE_ORDER})
    try:
        model.trunk.load_state_dict(first["trunk"])
        model.heads["stage1"].load_state_dict(first["head"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(
            f"{checkpoint_path(run_dir, 'stage1')}: does not fit the model ({short_error(e)})"
        ) from None
    trunk_hash = state_hash(model.trunk.state_dict())
    if trunk_hash != first["trunk_hash"]:
        raise CheckpointError(f"{checkpoint_path(run_dir, 'stage1')}: trunk does not match its own hash")
    for stage in stages:
        if stage == "stage1":
            continue
        path = checkpoint_path(run_dir, stage)
        obj = read_checkpoint(path)
        if obj.get("stage") != stage:
            raise CheckpointError(f"{path}: holds {obj.get('stage')}, not {stage} (renamed?)")
        if obj["trunk_hash"] != trunk_hash:
            raise CheckpointError(
                f"{path}: trained on another Stage-1 trunk "
                f"(hash {obj['trunk_hash'][:12]}, this run's is {trunk_hash[:12]})"
            )
        if obj["config"] != first["config"]:
            raise CheckpointError(f"{path}: its model configuration differs from stage1.pt's")
        try:
            model.branches[stage].load_state_dict(obj["branch"])
        except RuntimeError as e:
            raise CheckpointError(f"{path}: does not fit the model ({short_error(e)})") from None
    return model.to(device).eval()
