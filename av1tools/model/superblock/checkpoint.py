"""The superblock model's checkpoint: one file with the network's config and weights, and
the whole job that trained it."""

from __future__ import annotations

from pathlib import Path

from av1tools.model.common import CheckpointError, read_checkpoint_file, save_checkpoint, short_error
from av1tools.model.superblock.config import CHECKPOINT, SuperblockConfig
from av1tools.model.superblock.net import SuperblockNet

KIND = "av1tools-superblock"
FORMAT = 1


def save_superblock(net: SuperblockNet, run_dir: Path, extra: dict) -> Path:
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    obj = {"kind": KIND, "format": FORMAT, "config": net.config.to_dict(), "state": state, "extra": extra}
    return save_checkpoint(obj, Path(run_dir) / CHECKPOINT)


def load_superblock(run_dir: Path) -> tuple[SuperblockNet, dict]:
    """The trained network (eval mode) and the checkpoint's ``extra`` (training settings)."""
    path = Path(run_dir) / CHECKPOINT
    obj = read_checkpoint_file(path, KIND, (FORMAT,), "superblock")
    net = SuperblockNet(SuperblockConfig.from_dict(obj["config"]))
    try:
        net.load_state_dict(obj["state"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"{path}: does not fit the model ({short_error(e)})") from None
    return net.eval(), obj.get("extra", {})
