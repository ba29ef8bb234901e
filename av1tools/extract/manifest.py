"""``<out>/manifest.json``: one list of a dataset directory's shards.

Each shard entry records what it is (sequence, group, source checksum, settings, encoder
build), what it holds (frames, nodes per size and type) and its files' checksums. Each
group (a sequence, or a still-image directory) is assigned to ``train`` or ``val`` the first
time it appears and keeps that assignment, so splits stay stable as shards are added; edit
``splits`` by hand to move one. Extract records each shard as it completes, under a file
lock (concurrent runs into one directory share it); ``train``, ``evaluate`` and ``info``
accept it as ``--data`` and refuse, by name, a shard that changed since it was listed
(size and mtime first, the sha256 when they differ or on demand) and complete shards of its
directory it does not list (a run stopped between a shard and its entry).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
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
    """A manifest that cannot be read, or a shard that disagrees with it; the message names it."""


ENTRY_FIELDS = {  # what every shard entry must hold for readers to check the shard: name -> type
    "sequence": str,
    "group": str,
    "source_sha256": str,
    "settings": dict,
    "encoder": str,
    "sha256": str,
    "bytes": int,
}


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


def _empty() -> dict:
    return {"format": FORMAT, "version": VERSION, "shards": {}, "splits": {}}


_KINDS = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    type(None): "null",
    int: "an integer",
}


def _json_kind(value: object) -> str:
    return _KINDS.get(type(value), "a number")


def _entry_problem(name: object, entry: object) -> str | None:
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name or "\\" in name:
        return f"entry {name!r} names a file outside the dataset directory"
    if not isinstance(entry, dict):
        return f"entry {name!r} is {_json_kind(entry)}, not an object"
    for field, kind in ENTRY_FIELDS.items():
        if field not in entry:
            return f"entry {name!r} has no {field!r}"
        value = entry[field]
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"entry {name!r}: {field!r} is {_json_kind(value)}, not {_KINDS[kind]}"
    if not isinstance(entry.get("mtime_ns", 0), int):
        return f"entry {name!r}: 'mtime_ns' is not an integer"
    return None


def _manifest_problem(data: object) -> str | None:
    """What makes ``data`` (parsed JSON) not a manifest this av1tools reads, in a few words."""
    if not isinstance(data, dict):
        return f"not an av1tools manifest (it holds {_json_kind(data)}, not an object)"
    if data.get("format") != FORMAT:
        return f'not an av1tools manifest (no "format": "{FORMAT}")'
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return "a manifest without a valid 'version'"
    if version > VERSION:
        return f"manifest version {version} is newer than this av1tools reads ({VERSION}); upgrade av1tools"
    for key in ("shards", "splits"):
        if key not in data:
            return f"a broken manifest: no {key!r}"
        if not isinstance(data[key], dict):
            return f"a broken manifest: {key!r} is {_json_kind(data[key])}, not an object"
    for name, entry in data["shards"].items():
        problem = _entry_problem(name, entry)
        if problem:
            return f"a broken manifest: {problem}"
    for group, side in data["splits"].items():
        if side not in ("train", "val"):
            return f"a broken manifest: splits puts {group!r} in {side!r}, not 'train' or 'val'"
    return None


def load_manifest(path: str | Path) -> dict:
    """The content of the manifest at ``path`` (an empty one when there is none), checked:
    the one reader of manifest files, so that every command names a broken one the same
    way, and extract names it before encoding anything."""
    path = Path(path)
    if not path.exists():
        return _empty()
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not an av1tools manifest (not text)") from None
    except OSError as e:
        raise ManifestError(f"{path}: cannot read the manifest ({e.strerror or e})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    problem = _manifest_problem(data)
    if problem:
        raise ManifestError(f"{path}: {problem}")
    return data


@dataclass(frozen=True)
class ListedFile:
    """What a manifest recorded of a shard's file: enough to tell whether it changed since."""

    bytes: int
    mtime_ns: int | None
    sha256: str

    @classmethod
    def of(cls, entry: dict) -> ListedFile:
        return cls(entry["bytes"], entry.get("mtime_ns"), entry["sha256"])

    def change(self, path: Path, full: bool = False) -> str | None:
        """None when ``path`` still holds what was listed, else how it differs. An unchanged
        size and mtime are trusted (reading every shard on every run costs too much) unless
        ``full``; otherwise the sha256 decides, so a copied or touched file still passes."""
        stat = path.stat()
        if stat.st_size != self.bytes:
            return f"{stat.st_size} bytes, the manifest says {self.bytes}"
        if not full and stat.st_mtime_ns == self.mtime_ns:
            return None
        sha = file_sha256(path)
        if sha != self.sha256:
            return f"sha256 {sha[:12]}..., the manifest says {self.sha256[:12]}..."
        return None


def shard_entry(dataset: Path) -> dict:
    """What the manifest says of one shard just written (its checksum is computed afresh)."""
    stat = dataset.stat()
    summary = read_summary(dataset)
    a = summary.attrs
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
        "sha256": file_sha256(dataset),
        "bytes": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "nodes": {
            f"{s}x{s}": {PARTITION_NAMES[p]: int(n) for p, n in sorted(c.items()) if n}
            for s, c in summary.counts.items()
        },
    }


def _assign_splits(data: dict, planned: Iterable[str] = ()) -> None:
    """Give each newly listed group its side. The run's ``planned`` groups are assigned with
    them, as if all were listed at once, but written only once they have a shard: a run that
    records its shards one by one, in whatever order they finish, ends with the splits a
    run listing them together would give."""
    listed = {e["group"] for e in data["shards"].values()}
    groups = sorted(listed | set(planned))
    splits = dict(data["splits"])
    new = [g for g in groups if g not in splits]
    for g in new:
        splits[g] = "val" if stable_fraction(f"split:{g}") < VAL_FRACTION else "train"
    values = set(splits.values())
    if new and len(groups) > 1 and values != {"train", "val"}:
        # the first assignment must give both sides something; later ones never move
        flip = min(new, key=lambda g: stable_fraction(f"split:{g}"))
        splits[flip] = "val" if values == {"train"} else "train"
    data["splits"] = {g: side for g, side in splits.items() if g in data["splits"] or g in listed}


def _kept_entry(dataset: Path, previous: dict) -> dict:
    """A kept shard's entry stays what it was (never re-blessed from a changed file); only a
    new mtime of unchanged content is noted, so later reads take the fast path again."""
    change = ListedFile.of(previous).change(dataset)
    if change:
        raise ManifestError(f"{dataset}: changed since {MANIFEST} listed it ({change}); extract --overwrite redoes it")
    return previous | {"mtime_ns": dataset.stat().st_mtime_ns}


def update_manifest(out_dir: Path, shards: Sequence[tuple], planned_groups: Iterable[str] = ()) -> Path:
    """Add the entries of ``shards`` ((job, ShardResult) pairs) under the directory's lock:
    shards written or redone get a fresh entry; a kept one keeps the entry it has (it is
    refused by name if it changed since), or gets one when it was never listed."""
    out_dir = Path(out_dir)
    path = out_dir / MANIFEST
    with _locked(out_dir):
        data = load_manifest(path)
        for _, result in shards:
            dataset = Path(result.dataset)
            previous = data["shards"].get(dataset.name)
            kept = result.status == "kept" and previous is not None
            data["shards"][dataset.name] = _kept_entry(dataset, previous) if kept else shard_entry(dataset)
        _assign_splits(data, planned_groups)
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
    if not path.exists():
        raise ManifestError(f"{path}: no such manifest")
    data = load_manifest(path)
    return Manifest(path, data["shards"], data["splits"])


def check_shard(manifest: Manifest, dataset: Path, full: bool = False) -> None:
    """Refuse, by name, a shard whose file, attributes or content disagree with the manifest
    (``full``: hash it even when its size and mtime are those listed)."""
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
    change = ListedFile.of(entry).change(dataset, full)
    if change:
        raise ManifestError(
            f"{dataset}: changed since {manifest.path.name} listed it ({change}); extract --overwrite redoes it"
        )


def _is_dataset(path: Path) -> bool:
    try:
        open_dataset(path).close()
    except DatasetError:
        return False
    return True


def unlisted_shards(manifest: Manifest) -> list[Path]:
    """Complete datasets in the manifest's directory that it does not list: shards a run
    wrote but was stopped before recording (other .h5 files, unreadable ones, are passed over)."""
    return [p for p in sorted(manifest.path.parent.glob("*.h5")) if p.name not in manifest.shards and _is_dataset(p)]


@dataclass(frozen=True)
class DataSource:
    """The shard files of a --data list, and the manifest's split when one names them."""

    files: list[Path]
    splits: dict[str, str]  # group -> "train" | "val", from manifests (empty without)


def _from_manifest(path: Path, verify: bool, full: bool) -> tuple[list[Path], dict[str, str]]:
    manifest = read_manifest(path)
    if not manifest.shards:
        raise DatasetError(f"{path}: the manifest lists no shards")
    if verify:
        for f in manifest.files:
            check_shard(manifest, f, full)
        unlisted = unlisted_shards(manifest)
        if unlisted:  # training on the listed ones would quietly use a subset
            n = len(unlisted)
            some = unlisted[0].name + (f" and {n - 1} more" if n > 1 else "")
            raise ManifestError(
                f"{path.parent}: {n} complete shard{'s' if n > 1 else ''} not listed in {path.name} ({some}); "
                "rerun the extract that wrote them into this directory to list them"
            )
    return manifest.files, dict(manifest.splits)


def _check_against_sibling(dataset: Path, full: bool) -> None:
    """A shard named on its own is still checked against the manifest beside it, if that lists it."""
    beside = dataset.parent / MANIFEST
    if dataset.suffix == ".h5" and beside.is_file():
        manifest = read_manifest(beside)
        if dataset.name in manifest.shards:
            check_shard(manifest, dataset, full)


def data_source(paths: Sequence[str | os.PathLike], verify: bool = True, full: bool = False) -> DataSource:
    """The .h5 files named: files, manifest.json files, directories (their manifest when
    they have one, else their .h5 files), in a stable order. Shards that disagree with
    their manifest, or changed since it listed them, and complete shards a manifest's
    directory holds but it does not list, are refused by name (``full``: every listed
    shard's sha256 is checked, not only those whose size or mtime changed)."""
    files: list[Path] = []
    splits: dict[str, str] = {}
    for p in map(Path, paths):
        if p.is_dir() and (p / MANIFEST).is_file():
            p = p / MANIFEST
        if p.is_file() and p.name.endswith(".json"):
            found, split = _from_manifest(p, verify, full)
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
            if verify:
                _check_against_sibling(p, full)
            files.append(p)
        else:
            raise DatasetError(f"{p}: no such file or directory")
    if not files:
        raise DatasetError("no datasets given")
    return DataSource(list(dict.fromkeys(files)), splits)
