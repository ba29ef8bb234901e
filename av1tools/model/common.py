"""What both model families share: the device, seeding, the input normalisation, and
checkpoint files that hold only tensors and plain data."""

from __future__ import annotations

import pickle
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from av1tools.paths import atomic_output

BLOCK_SCALE = 0.1  # typical std of a luma block in [0, 1]: inputs reach unit scale


@dataclass(frozen=True)
class TrainResult:
    """What a family's trainer returns: the run directory, metrics.json's content and the
    per-part summary (per stage, or the one superblock network) a command prints."""

    run_dir: Path
    metrics: dict
    summary: dict


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or not what it should be; the message names it."""


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    return torch.device(name)


def use_threads(n: int) -> None:
    """Run torch's CPU kernels on ``n`` threads (0: leave torch's default). Why it matters:
    with one core of two busy (an extraction beside), a superblock training step on two
    threads took 18x as long as on one (README, "Training speed")."""
    if n:
        torch.set_num_threads(n)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def normalise_blocks(pixels: torch.Tensor) -> torch.Tensor:
    """Blocks (N, 1, S, S) in [0, 1] -> network input: each block's mean removed (brightness
    does not decide a partition, texture does), scaled to about unit range."""
    return (pixels - pixels.mean(dim=(2, 3), keepdim=True)) / BLOCK_SCALE


def short_error(e: BaseException, limit: int = 100) -> str:
    """The first line of an exception, cut at a word boundary."""
    text = (str(e).strip().splitlines() or [type(e).__name__])[0]
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."


def save_checkpoint(obj: dict, path: Path) -> Path:
    """``obj`` written atomically with torch.save."""
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def read_checkpoint_file(path: Path, kind: str, formats: tuple[int, ...], what: str) -> dict:
    """A checkpoint's contents (``torch.load(weights_only=True)``: tensors and plain data,
    never code), or a one-line CheckpointError: missing, unreadable, another kind of file
    (``what`` names the kind expected), or a format this av1tools does not read."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError) as e:
        raise CheckpointError(f"{path}: corrupted or not a torch checkpoint ({short_error(e)})") from None
    if not isinstance(obj, dict) or obj.get("kind") != kind:
        raise CheckpointError(f"{path}: not an av1tools {what} checkpoint")
    if obj.get("format") not in formats:
        raise CheckpointError(
            f"{path}: checkpoint format {obj.get('format')} (this av1tools reads {', '.join(map(str, formats))})"
        )
    return obj
