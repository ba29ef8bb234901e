"""The model families by name: the one place that names them all. ``train``, ``predict``,
``evaluate`` and eval-encode reach a family's trainer, predictor and settings only through
this table, so adding a family is one new package and one line here.

Nothing here imports torch: the command line reads the families' settings and options from
this table, and a family's code is imported only when it is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from av1tools.model.config import AGREEMENT_DECISION, TrainJob
from av1tools.model.staged import config as staged
from av1tools.model.superblock import config as superblock
from av1tools.model.variance import config as variance

Log = Callable[[str], None]


@dataclass(frozen=True)
class Family:
    name: str
    summary: str  # one line for --help
    config: type  # its network settings (a frozen dataclass)
    checkpoint: str  # the file every run directory of this family holds
    trainer: str  # "module:function" taking (TrainJob, log) and returning a TrainResult
    predictor: str  # "module:class" taking (run_dir, device, decision)
    options: tuple[str, ...]  # the command-line options only this family reads

    def train(self, job: TrainJob, log: Log = print) -> Any:
        return _attribute(self.trainer)(job, log)

    def load_predictor(self, run_dir: Path, device: str, decision: str) -> Any:
        return _attribute(self.predictor)(run_dir, device=device, decision=decision)


def _attribute(spec: str) -> Any:
    module, name = spec.split(":")
    return getattr(import_module(module), name)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "staged",
            "the reference study's ResNet-18 + Conv-Adapter stages, one pass per node and stage",
            staged.StagedConfig,
            staged.CHECKPOINT,
            "av1tools.model.staged.train:train_staged",
            "av1tools.model.staged.predict:StagedPredictor",
            ("stage_strategy", "adapter_reduction", "adapter_layers", "input_mode", "balance", "split"),
        ),
        Family(
            "superblock",
            "one pass per 64x64 superblock predicts every node (cheap enough for one CPU core)",
            superblock.SuperblockConfig,
            superblock.CHECKPOINT,
            "av1tools.model.superblock.train:train_superblock",
            "av1tools.model.superblock.predict:SuperblockPredictor",
            (
                "widths",
                "level_weights",
                "uncoded",
                "margin",
                "activity",
                "frame_size",
                "references",
                "frame_info",
                "stream",
                "init",
            ),
        ),
        Family(
            "variance",
            "a texture heuristic: each node's type frequencies by its luma variance and qindex, counted",
            variance.VarianceConfig,
            variance.CHECKPOINT,
            "av1tools.model.variance.train:train_variance",
            "av1tools.model.variance.predict:VariancePredictor",
            (),
        ),
    )
}
ARCHS = tuple(FAMILIES)


class ModelNotFound(ValueError):
    """A --model that names no trained run; the message says what was found instead."""


def train(job: TrainJob, log: Log = print) -> Any:
    """Train ``job`` with its family's trainer (a TrainResult)."""
    if job.arch not in FAMILIES:
        raise ValueError(f"unknown model family {job.arch!r}; known: {', '.join(ARCHS)}")
    return FAMILIES[job.arch].train(job, log)


def run_directory(spec: str | os.PathLike, mode: str = "intra") -> Path:
    """The run directory ``spec`` names: a directory, a checkpoint file in one, or "default"
    (the superblock model shipped with av1tools for the ``mode`` of coding)."""
    if str(spec) == "default":
        from av1tools.zoo import default_model_dir

        return default_model_dir(mode)
    path = Path(spec)
    if path.is_file() and path.name in {f.checkpoint for f in FAMILIES.values()}:
        return path.parent
    if path.is_file():
        raise ModelNotFound(f"{path}: a file; --model takes a run directory (written by av1tools train) or 'default'")
    if not path.exists():
        raise ModelNotFound(
            f"{path}: no such run directory (--model takes one written by av1tools train, or 'default')"
        )
    return path


def family_of(run_dir: Path) -> Family:
    """The family whose checkpoint ``run_dir`` holds."""
    for family in FAMILIES.values():
        if (Path(run_dir) / family.checkpoint).is_file():
            return family
    expected = " or ".join(f.checkpoint for f in FAMILIES.values())
    raise ModelNotFound(f"{run_dir}: not a trained run (it holds no {expected})")


def load_predictor(
    spec: str | os.PathLike, device: str = "auto", decision: str = AGREEMENT_DECISION, mode: str = "intra"
) -> Any:
    """The ``Predictor`` of the model ``spec`` names (see ``run_directory``), of its family."""
    run_dir = run_directory(spec, mode)
    return family_of(run_dir).load_predictor(run_dir, device, decision)
