"""Models shipped with av1tools (``--model default``) and where they live; ``recipe.py``
trains them again from scratch (``make default-model``)."""

from __future__ import annotations

from pathlib import Path

ZOO = Path(__file__).resolve().parent
DEFAULT = {"intra": ZOO / "default", "ra": ZOO / "default-ra"}  # the shipped model of each coding mode
CHECKPOINT = "superblock.pt"  # every shipped model is a superblock model
HEURISTIC = {"intra": ZOO / "variance"}  # the variance heuristic fitted on the same data


class ZooError(ValueError):
    pass


# The coding modes without a model of their own use the nearest: low delay and one-pass
# inter code the same inter frames random access does, without its hidden alt-refs.
NEAREST = {"intra": "intra", "ra": "ra", "ld": "ra", "inter": "ra"}


def default_model_dir(mode: str = "intra") -> Path:
    """The run directory of the model shipped for ``mode`` (or for the nearest mode)."""
    if NEAREST.get(mode) not in DEFAULT:
        raise ZooError(f"no model is shipped for {mode} coding (shipped: {', '.join(DEFAULT)})")
    path = DEFAULT[NEAREST[mode]]
    if not (path / CHECKPOINT).is_file():
        raise ZooError(f"{path}: the default model is missing from this installation")
    return path


def default_heuristic_dir(mode: str = "intra") -> Path:
    """The run directory of the variance heuristic shipped for ``mode`` (fitted on the default
    model's training data: the baseline a learned model must beat)."""
    path = HEURISTIC.get(mode)
    if path is None or not (path / "variance.json").is_file():
        raise ZooError(f"no variance heuristic is shipped for {mode} coding")
    return path
