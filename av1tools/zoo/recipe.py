"""The recipe that trains the shipped model (``make default-model``).

``build_default`` makes ``zoo/default`` (the superblock model ``--model default`` loads)
again from scratch: it fetches the training material it names (public-domain and CC-BY-SA
photographs from Debian's ``endless-sky-data`` package; frames of the embedded clips that no
evaluation uses), extracts shards with the stock encoder at the study's settings, trains, and
writes the checkpoint with its metrics and provenance. ``make default-model`` runs it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from av1tools.eval.config import DEFAULT_CQ_LEVELS
from av1tools.model.config import TrainConfig
from av1tools.model.superblock.config import SuperblockConfig
from av1tools.paths import cache_dir, write_text_atomic
from av1tools.zoo import DEFAULT

PHOTOS_PACKAGE, PHOTOS_VERSION = "endless-sky-data", "0.9.8-1.2"
PHOTOS_PATH = "usr/share/games/endless-sky/images/land"
PHOTOS_LICENCE = (
    "Debian endless-sky-data 0.9.8-1.2, images/land: 273 photographs (720x360), public domain "
    "(morgue-file, NASA, USGS, ...) or CC-BY-SA-3.0/4.0 per file; see its copyright file, kept "
    "beside the images"
)


@dataclass(frozen=True)
class Recipe:
    """What the default model is trained on and how; evaluation clips never appear here
    (bigbuckbunny's frames 0-29 and every frame of bigbuckbunny-cif are left out)."""

    samples: tuple[str, ...] = ("bigbuckbunny-train", "bikes-train", "carphone")
    cq_levels: tuple[int, ...] = DEFAULT_CQ_LEVELS
    cpu_used: int = 3
    model: SuperblockConfig = field(default_factory=SuperblockConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=25, batch_size=256, lr=2e-3, patience=5, seed=0, progress=False)
    )


def fetch_photos(log: Callable[[str], None] = print) -> Path:
    """The photographs, extracted once into the cache from the pinned Debian package."""
    out = cache_dir("zoo", "endless-sky")
    if len(list(out.glob("*.jpg"))) >= 273:
        return out
    log(f"fetching {PHOTOS_PACKAGE}={PHOTOS_VERSION} (about 70 MB) from Debian")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["apt-get", "download", f"{PHOTOS_PACKAGE}={PHOTOS_VERSION}"], cwd=tmp, check=True, capture_output=True
        )
        [deb] = Path(tmp).glob("*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")], check=True)
        for image in sorted((Path(tmp) / "x" / PHOTOS_PATH).glob("*.jpg")):
            shutil.copy(image, out / image.name)
        shutil.copy(
            Path(tmp) / "x" / "usr/share/doc" / PHOTOS_PACKAGE / "copyright", out.parent / "endless-sky.copyright"
        )
    return out


def build_default(
    work: Path,
    out: Path = DEFAULT["intra"],
    jobs: int | None = None,
    log: Callable[[str], None] = print,
    recipe: Recipe = Recipe(),
) -> dict:
    """Fetch, extract, train; the checkpoint, metrics.json and recipe.json land in ``out``."""
    from av1tools.extract.aom import EncodeSettings
    from av1tools.extract.pipeline import ExtractConfig, extract
    from av1tools.jobs import default_workers
    from av1tools.model.config import TrainJob
    from av1tools.model.families import train

    photos = fetch_photos(log)
    data = Path(work) / "data"
    config = ExtractConfig(
        (str(photos),) + recipe.samples,
        data,
        recipe.cq_levels,
        EncodeSettings(cpu_used=recipe.cpu_used),
        jobs or default_workers(),
    )
    result = extract(config, None, log)
    if result.failed:
        raise RuntimeError(f"{len(result.failed)} shard(s) failed: {result.failed[0]}")
    run = Path(work) / "run"
    trained = train(TrainJob((str(data),), run, arch="superblock", net=recipe.model, train=recipe.train), log)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("superblock.pt", "metrics.json", "config.json"):
        shutil.copy(run / name, out / name)
    provenance = {
        "recipe": asdict(recipe),
        "photos": PHOTOS_LICENCE,
        "shards": len(result.shards),
        "command": "make default-model",
    }
    write_text_atomic(out / "recipe.json", json.dumps(provenance, indent=2, default=str))
    return trained.metrics
