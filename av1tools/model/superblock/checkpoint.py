"""The superblock model's checkpoint: one file with the network's config and weights, and
the whole job that trained it."""

from __future__ import annotations

from pathlib import Path

import torch

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


# The two tensors whose input axis follows the config's inputs: matched input by input.
_BY_INPUT = {"stem.0.weight": "input_channels", "q_embed.0.weight": "scalars"}


def warm_start(net: SuperblockNet, source: SuperblockNet) -> dict:
    """Copy ``source``'s weights into ``net`` (a transfer: e.g. the all-intra model's, trained
    on far more pictures, into a random-access model): every tensor of the same name and
    shape, and in the stem and the scalar embedding each input both networks have (by name;
    an input only ``net`` has starts at zero, so the copy first computes what the source
    computed from the inputs it shares). Returns what was copied, adapted and left fresh;
    a CheckpointError when the widths differ (nothing of the trunk would fit)."""
    if tuple(net.config.widths) != tuple(source.config.widths):
        raise CheckpointError(
            f"--init: the source model's widths {list(source.config.widths)} differ from this model's "
            f"{list(net.config.widths)}"
        )
    target, given = net.state_dict(), source.state_dict()
    copied, adapted, fresh = [], [], []
    for name, tensor in target.items():
        if name in _BY_INPUT:
            attr = _BY_INPUT[name]
            mine, theirs = getattr(net.config, attr), getattr(source.config, attr)
            new = torch.zeros_like(tensor)
            for i, key in enumerate(mine):
                if key in theirs:
                    new[:, i] = given[name][:, theirs.index(key)]
            target[name] = new
            (copied if mine == theirs else adapted).append(name)
        elif name in given and given[name].shape == tensor.shape:
            target[name] = given[name].clone()
            copied.append(name)
        else:
            fresh.append(name)
    net.load_state_dict(target)
    return {"copied": len(copied), "adapted": adapted, "fresh": fresh}
