"""The recipe that trains the shipped model (``make default-model``).

``build_default`` makes ``zoo/default`` (the superblock model ``--model default`` loads)
again from scratch: it prepares the registry's real material (``zoo.material``: the pinned
Debian and PyPI packages, stills at native size and downscaled, frames of the clips; the
held-out sources never enter the training list), takes the first ``sequences`` lines of the
training list (the list interleaves sources one picture at a time, so a prefix is a sample of
every source), extracts them with the encoder at the study's settings, trains, and writes the
checkpoint with its metrics and provenance. Every step reuses what a previous run finished.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from av1tools.eval.config import DEFAULT_CQ_LEVELS
from av1tools.model.config import TrainConfig
from av1tools.model.superblock.config import SuperblockConfig
from av1tools.paths import write_text_atomic
from av1tools.zoo import DEFAULT
from av1tools.zoo.sources import SOURCES, Source

TRAIN_LISTS = {"intra": "train-intra.txt", "ra": "train-video.txt"}  # the material's list per mode


@dataclass(frozen=True)
class Recipe:
    """What the default model of one coding mode is trained on and how (the held-out sources
    and bigbuckbunny's evaluation frames are never in a training list: ``material.check_split``)."""

    mode: str = "intra"  # the coding mode of the shards (and of the model's slot in the zoo)
    sequences: int | None = 591  # the training list's first lines (None: all of it)
    frames: int | None = None  # each sequence's first frames (None: all)
    cq_levels: tuple[int, ...] = DEFAULT_CQ_LEVELS
    cpu_used: int = 3
    # the context inputs: each bought validation F1 and encoder time (README), the encoder runs them
    model: SuperblockConfig = field(default_factory=lambda: SuperblockConfig(margin=16, activity=True, frame_size=True))
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=8, batch_size=256, lr=2e-3, patience=5, seed=0, max_val_samples=40000, progress=False
        )
    )


def training_list(material: Path, sequences: int | None, name: str = TRAIN_LISTS["intra"]) -> Path:
    """The recipe's list file beside the material's: the training list ``name``'s first
    ``sequences`` lines (paths stay relative to the material)."""
    from av1tools.extract.sequences import list_lines

    body = list_lines(material / name)
    if sequences is not None and sequences > len(body):
        raise ValueError(f"the recipe takes {sequences} sequences; {material / name} has {len(body)}")
    kept = body[:sequences]
    head = f"# the default model's recipe: the first {len(kept)} of {len(body)} lines of {name}"
    path = material / f"recipe-{name}"
    write_text_atomic(path, "\n".join([head, *kept]) + "\n")
    return path


def provenance(recipe: Recipe, material: Path, listing: Path, shards: int) -> dict:
    """recipe.json: the recipe, and which sources (with their licences) the list drew on."""
    from av1tools.extract.sequences import list_lines
    from av1tools.zoo.material import load_catalogue

    used = {ln.split("\t")[0] for ln in list_lines(listing)}
    entries = [e for e in load_catalogue(material / "catalogue.tsv") if e.path in used]
    licences: dict[str, set[str]] = {}
    for e in entries:
        licences.setdefault(e.source, set()).add(e.licence)
    count = Counter(e.source for e in entries)
    return {
        "recipe": asdict(recipe),
        "sequences": len(used),
        "shards": shards,
        "sources": {s: {"sequences": n, "licences": sorted(licences[s])} for s, n in sorted(count.items())},
        "command": f"av1tools zoo build --mode {recipe.mode}",  # (make default-model: --mode intra)
    }


RECIPES = {  # the shipped model of each mode
    "intra": Recipe(),
    "ra": Recipe(mode="ra", sequences=None, frames=17, model=SuperblockConfig(references=2, frame_info=True)),
}


def build_default(
    work: Path,
    out: Path | None = None,
    jobs: int | None = None,
    log: Callable[[str], None] = print,
    recipe: Recipe = RECIPES["intra"],
    sources: Sequence[Source] = SOURCES,
) -> dict:
    """Prepare, extract, train; the checkpoint, metrics.json and recipe.json land in ``out``
    (default: the zoo's slot of the recipe's mode). ``work`` holds ``material/`` (as ``zoo
    sources prepare`` writes it), ``data/<mode>-train`` and the run."""
    from av1tools.extract.aom import EncodeSettings
    from av1tools.extract.pipeline import ExtractConfig, extract
    from av1tools.jobs import default_workers
    from av1tools.model.config import TrainJob
    from av1tools.model.families import train
    from av1tools.zoo.material import prepare

    material = Path(work) / "material"
    prepare(material, sources, log, video=recipe.mode != "intra")
    listing = training_list(material, recipe.sequences, TRAIN_LISTS[recipe.mode])
    data = Path(work) / "data" / f"{recipe.mode}-train"
    encode = EncodeSettings(cpu_used=recipe.cpu_used, mode=recipe.mode, frames=recipe.frames)
    config = ExtractConfig((str(listing),), data, recipe.cq_levels, encode, jobs or default_workers())
    result = extract(config, None, log)
    if result.failed:
        raise RuntimeError(f"{len(result.failed)} shard(s) failed: {result.failed[0]}")
    run = Path(work) / f"run-{recipe.mode}"
    trained = train(TrainJob((str(data),), run, arch="superblock", net=recipe.model, train=recipe.train), log)
    ship(run, out or DEFAULT[recipe.mode], provenance(recipe, material, listing, len(result.shards)))
    return trained.metrics


def ship(run: Path, out: Path, record: dict) -> None:
    """A superblock run's checkpoint, metrics and config into ``out``, with its provenance."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("superblock.pt", "metrics.json", "config.json"):
        shutil.copy(run / name, out / name)
    write_text_atomic(out / "recipe.json", json.dumps(record, indent=2, default=str))
