"""Checkpoints: the Stage-1 trunk once, then per later stage only what it adds.

``stage1.pt`` holds the trunk, its head and the trunk's hash; ``stage2.pt`` etc. hold the
stage's adapters and head (about 1.3 MB with the default adapters) plus that hash, which is
checked on loading. A ``finetune`` stage has to carry its own trunk copy, and is as big
as that copy. Files load with ``torch.load(weights_only=True)``: tensors and plain data only.
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from pathlib import Path

import torch

from av1tools.model.staged import ModelConfig, StagedPredictor
from av1tools.model.stages import STAGE_ORDER, STAGES
from av1tools.paths import atomic_output

FORMAT = 1
KIND = "av1tools-partition-stage"


class CheckpointError(ValueError):
    pass


def _short(e: BaseException, limit: int = 100) -> str:
    """The first line of an exception, cut at a word boundary."""
    text = (str(e).strip().splitlines() or [type(e).__name__])[0]
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."


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


def _atomic_save(obj: dict, path: Path) -> None:
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def save_stage(model: StagedPredictor, stage: str, run_dir: Path, extra: dict | None = None) -> Path:
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
    path = checkpoint_path(run_dir, stage)
    _atomic_save(obj, path)
    return path


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents, or a one-line CheckpointError."""
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError) as e:
        raise CheckpointError(f"{path}: corrupted or not a torch checkpoint ({_short(e)})") from None
    if not isinstance(obj, dict) or obj.get("kind") != KIND:
        raise CheckpointError(f"{path}: not an av1tools partition checkpoint")
    if obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {obj.get('format')} (this av1tools reads {FORMAT})")
    return obj


def load_model(
    run_dir: Path, stages: tuple[str, ...] = STAGE_ORDER, device: str | torch.device = "cpu"
) -> StagedPredictor:
    """A predictor with the trunk from stage1.pt and each later stage's branch."""
    run_dir = Path(run_dir)
    first = read_checkpoint(checkpoint_path(run_dir, "stage1"))
    if first.get("stage") != "stage1":
        raise CheckpointError(
            f"{checkpoint_path(run_dir, 'stage1')}: holds {first.get('stage')}, not stage1 (renamed?)"
        )
    config = ModelConfig.from_dict(first["config"])
    model = StagedPredictor(config, {s: len(STAGES[s].classes) for s in STAGE_ORDER})
    try:
        model.trunk.load_state_dict(first["trunk"])
        model.heads["stage1"].load_state_dict(first["head"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"{checkpoint_path(run_dir, 'stage1')}: does not fit the model ({_short(e)})") from None
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
            raise CheckpointError(f"{path}: does not fit the model ({_short(e)})") from None
    return model.to(device).eval()
