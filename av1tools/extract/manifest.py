"""``<out>/manifest.json``: one list of a dataset directory's shards.

Each shard entry records what it is (sequence, group, source checksum, settings, encoder
build), what it holds (frames, nodes per size and type) and its files' checksums. Each
group (a sequence, or a still-image directory) is assigned to ``train`` or ``val`` the first
time it appears and keeps that assignment, so splits stay stable as shards are added; edit
``splits`` by hand to move one. Extract runs into one directory update it under a file
lock; ``train``, ``evaluate`` and ``info`` accept it as ``--data``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from av1tools.extract.dataset import DatasetError, open_dataset, read_summary
from av1tools.partition import PARTITION_NAMES
from av1tools.paths import file_sha256, write_text_atomic

MANIFEST = "manifest.json"
FORMAT = "av1tools-manifest"
VERSION = 1
VAL_FRACTION = 0.25


class ManifestError(ValueError):
    pass


def stable_fraction(text: str) -> float:
    """A number in [0, 1) fixed by ``text`` alone (splits that survive added shards)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0x100000000


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    with open(out_dir / ".manifest.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load(path: Path) -> dict:
    if not path.exists():
        return {"format": FORMAT, "version": VERSION, "shards": {}, "splits": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ManifestError(f"{path}: not a readable manifest ({e})") from None
    if data.get("format") != FORMAT:
        raise ManifestError(f"{path}: not an av1tools manifest")
    return data


def shard_entry(dataset: Path, previous: dict | None = None) -> dict:
    """What the manifest says of one finished shard (reuses the checksum of an unchanged file)."""
    stat = dataset.stat()
    summary = read_summary(dataset)
    a = summary.attrs
    same = previous and previous.get("bytes") == stat.st_size and previous.get("mtime_ns") == stat.st_mtime_ns
    return {
        "sequence": a.sequence,
        "group": a.group,
        "source_sha256": a.sequence_sha256,
        "settings": a.settings,
        "encoder": a.encoder_build,
        "encoder_version": a.encoder_version,
        "width": a.width,
        "height": a.height,
        "bit_depth": a.bit_depth,
        "bitstream": a.bitstream,
        "bitstream_sha256": a.bitstream_sha256,
        "sha256": previous["sha256"] if same else file_sha256(dataset),
        "bytes": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "nodes": {
            f"{s}x{s}": {PARTITION_NAMES[p]: int(n) for p, n in sorted(c.items()) if n}
            for s, c in summary.counts.items()
        },
    }


def _assign_splits(data: dict) -> None:
    groups = sorted({e["group"] for e in data["shards"].values()})
    new = [g for g in groups if g not in data["splits"]]
    for g in new:
        data["splits"][g] = "val" if stable_fraction(f"split:{g}") < VAL_FRACTION else "train"
    values = set(data["splits"].values())
    if new and len(groups) > 1 and values != {"train", "val"}:
        # the first assignment must give both sides something; later ones never move
        flip = min(new, key=lambda g: stable_fraction(f"split:{g}"))
        data["splits"][flip] = "val" if values == {"train"} else "train"


def update_manifest(out_dir: Path, shards: Sequence[tuple]) -> Path:
    """Add or refresh the entries of ``shards`` ((job, ShardResult) pairs) under a lock."""
    out_dir = Path(out_dir)
    path = out_dir / MANIFEST
    with _locked(out_dir):
        data = _load(path)
        for _, result in shards:
            name = Path(result.dataset).name
            data["shards"][name] = shard_entry(Path(result.dataset), data["shards"].get(name))
        _assign_splits(data)
        write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True))
    return path


@dataclass(frozen=True)
class Manifest:
    path: Path
    shards: dict[str, dict]  # file name -> entry
    splits: dict[str, str]  # group -> "train" | "val"

    @property
    def files(self) -> list[Path]:
        return [self.path.parent / name for name in sorted(self.shards)]


def read_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    data = _load(path) if path.exists() else None
    if data is None:
        raise ManifestError(f"{path}: no such manifest")
    return Manifest(path, data["shards"], data["splits"])


def check_shard(manifest: Manifest, dataset: Path) -> None:
    """Refuse, by name, a shard whose file or attributes disagree with the manifest."""
    entry = manifest.shards.get(dataset.name)
    if entry is None:
        raise ManifestError(f"{dataset}: not listed in {manifest.path}")
    if not dataset.exists():
        raise ManifestError(f"{dataset}: listed in {manifest.path} but missing")
    if dataset.stat().st_size != entry["bytes"]:
        raise ManifestError(f"{dataset}: {dataset.stat().st_size} bytes, the manifest says {entry['bytes']}")
    try:
        with open_dataset(dataset) as ds:
            a = ds.attrs
    except DatasetError as e:
        raise ManifestError(str(e)) from None
    if (
        a.encoder_build != entry["encoder"]
        or a.settings != entry["settings"]
        or a.sequence_sha256 != entry["source_sha256"]
    ):
        raise ManifestError(f"{dataset}: its encoder, settings or source disagree with {manifest.path}")


@dataclass(frozen=True)
class DataSource:
    """The shard files of a --data list, and the manifest's split when one names them."""

    files: list[Path]
    splits: dict[str, str]  # group -> "train" | "val", from manifests (empty without)


def _from_manifest(path: Path, verify: bool) -> tuple[list[Path], dict[str, str]]:
    manifest = read_manifest(path)
    if not manifest.shards:
        raise DatasetError(f"{path}: the manifest lists no shards")
    if verify:
        for f in manifest.files:
            check_shard(manifest, f)
    return manifest.files, dict(manifest.splits)


def data_source(paths: Sequence[str | os.PathLike], verify: bool = True) -> DataSource:
    """The .h5 files named: files, manifest.json files, directories (their manifest when
    they have one, else their .h5 files), in a stable order. Shards that disagree with
    their manifest are refused by name."""
    files: list[Path] = []
    splits: dict[str, str] = {}
    for p in map(Path, paths):
        if p.is_dir() and (p / MANIFEST).is_file():
            p = p / MANIFEST
        if p.is_file() and p.name.endswith(".json"):
            found, split = _from_manifest(p, verify)
            clash = sorted(g for g in set(split) & set(splits) if split[g] != splits[g])
            if clash:
                raise ManifestError(
                    f"{p}: puts {clash[0]} in {split[clash[0]]}, another manifest in "
                    f"{splits[clash[0]]}; make them agree"
                )
            files += found
            splits |= split
        elif p.is_dir():
            found = sorted(p.glob("*.h5"))
            if not found:
                raise DatasetError(f"{p}: no .h5 datasets (and no {MANIFEST}) in this directory")
            files += found
        elif p.exists():
            files.append(p)
        else:
            raise DatasetError(f"{p}: no such file or directory")
    if not files:
        raise DatasetError("no datasets given")
    return DataSource(list(dict.fromkeys(files)), splits)
