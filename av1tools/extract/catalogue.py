"""A catalogue of well-known public test sequences (Xiph's "derf" collection), by name.

``catalogue_path("foreman_cif")`` returns the sequence's y4m in av1tools' cache
(``cache_dir("catalogue")``), downloading it the first time only. The design, and why:

* Downloads stream in chunks to a hidden temp file (``atomic_output``) that is renamed into
  place only once the whole body arrived, its sha256 checks out and it starts with a y4m
  header of the catalogued size. So ``<name>.y4m`` in the cache is always complete; a failed
  or interrupted download leaves nothing behind that looks finished.
* Checksums: an entry may pin a sha256. Where it does not (we never invent one: the derf
  site publishes none), the first download's sha256 is recorded in a sidecar
  ``<name>.y4m.json`` (trust on first use) and every later use, download or cache hit,
  checks against it. A sidecar per file, not one shared index, so two processes fetching
  different sequences never race on a read-modify-write of the same JSON file.
* A cache hit touches no network; it re-hashes the file (about a second per GB) so a
  corrupted or edited cache is caught instead of silently poisoning a dataset.
* ``base_url``, else $AV1TOOLS_CATALOGUE_URL, replaces the host and directory of every URL
  (the file name stays), for mirrors and for tests with a loopback server.

Errors are ``CatalogueError`` with a one-line message naming the sequence.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from av1tools.extract.y4m import MAX_HEADER, Y4MError, parse_header
from av1tools.paths import atomic_output, cache_dir, file_sha256, remove_stale_temps

DERF = "https://media.xiph.org/video/derf/y4m"
URL_ENV = "AV1TOOLS_CATALOGUE_URL"
CHUNK = 1 << 20
TIMEOUT_S = 60  # per socket operation, so a stalled server fails rather than hangs

Progress = Callable[[int, int | None], None]  # (done_bytes, total_bytes or None if unknown)

_CIF = (352, 288)
_ITU = "ITU-T/MPEG test sequence; no explicit licence, customarily used for research"
_SVT = "SVT HD test set; released for research and development use"


class CatalogueError(ValueError):
    """A catalogue sequence that cannot be fetched or verified (one-line message)."""


@dataclass(frozen=True)
class Entry:
    """One catalogued sequence. ``frames`` is informational (not checked); ``resolution``
    is checked against the downloaded y4m header. ``sha256=None`` means unpinned: the
    first download's sha256 is recorded in the cache and every later use must match it."""

    name: str
    url: str
    resolution: tuple[int, int]
    frames: int
    licence: str
    format: str = "y4m"  # derf serves plain, uncompressed y4m; nothing else is supported
    sha256: str | None = None

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[1]

    @property
    def ctc_class(self) -> str | None:
        """The AOM CTC class of its size (every entry here is natural camera content)."""
        from av1tools.ctc import ctc_class

        return ctc_class(*self.resolution)


def _derf(name: str, resolution: tuple[int, int], frames: int, licence: str, filename: str | None = None) -> Entry:
    return Entry(name, f"{DERF}/{filename or name + '.y4m'}", resolution, frames, licence)


CATALOGUE: dict[str, Entry] = {
    e.name: e
    for e in (
        _derf("foreman_cif", _CIF, 300, _ITU),
        _derf("akiyo_cif", _CIF, 300, _ITU),
        _derf("news_cif", _CIF, 300, _ITU),
        _derf("mobile_cif", _CIF, 300, _ITU),
        _derf("container_cif", _CIF, 300, _ITU),
        _derf("coastguard_cif", _CIF, 300, _ITU),
        _derf("bus_cif", _CIF, 150, _ITU),
        _derf("hall_monitor_cif", _CIF, 300, _ITU),
        _derf("mother_daughter_cif", _CIF, 300, _ITU),
        _derf("silent_cif", _CIF, 300, _ITU),
        _derf("stefan_cif", _CIF, 90, _ITU),
        _derf("paris_cif", _CIF, 1065, _ITU),
        _derf("park_joy_720p50", (1280, 720), 500, _SVT, "park_joy_420_720p50.y4m"),
        _derf("crowd_run_1080p50", (1920, 1080), 500, _SVT),
        _derf("park_joy_1080p50", (1920, 1080), 500, _SVT),
    )
}


class CatalogueRow(NamedTuple):
    name: str
    resolution: str
    frames: int
    cached: bool
    licence: str
    ctc_class: str | None = None


CLASS_PREFIX = "class:"  # --seq class:A3 names every catalogue sequence of that CTC class


def class_members(spec: str) -> list[str]:
    """The catalogue names a ``class:NAME`` spec stands for (CatalogueError when none)."""
    from av1tools.ctc import CLASSES

    name = spec[len(CLASS_PREFIX) :]
    if name not in CLASSES:
        raise CatalogueError(f"{spec}: unknown CTC class; known: {', '.join(CLASSES)}")
    members = [e.name for e in CATALOGUE.values() if e.ctc_class == name]
    if not members:
        raise CatalogueError(f"{spec}: the catalogue holds no sequence of class {name} ({CLASSES[name].content})")
    return members


def _entry(name: str) -> Entry:
    if name not in CATALOGUE:
        raise CatalogueError(f"unknown catalogue sequence {name!r}; known: {', '.join(CATALOGUE)}")
    return CATALOGUE[name]


def _paths(entry: Entry) -> tuple[Path, Path]:
    """(the cached y4m, its sidecar record)."""
    y4m = cache_dir("catalogue") / f"{entry.name}.y4m"
    return y4m, y4m.with_name(y4m.name + ".json")


def list_catalogue() -> list[CatalogueRow]:
    """One row per entry; 'cached' means downloaded and recorded (no re-hash: listing is cheap)."""
    rows = []
    for e in CATALOGUE.values():
        y4m, record = _paths(e)
        rows.append(
            CatalogueRow(
                e.name,
                f"{e.resolution[0]}x{e.resolution[1]}",
                e.frames,
                y4m.is_file() and record.is_file(),
                e.licence,
                e.ctc_class,
            )
        )
    return rows


def source_url(entry: Entry, base_url: str | None = None) -> str:
    base = base_url or os.environ.get(URL_ENV)
    return f"{base.rstrip('/')}/{entry.filename}" if base else entry.url


def _expected(entry: Entry, record: Path) -> tuple[str | None, str]:
    """(sha256 to demand, where it comes from): the pin wins over a recorded value."""
    if entry.sha256:
        return entry.sha256.lower(), "pinned"
    try:
        return json.loads(record.read_text())["sha256"], "recorded"
    except FileNotFoundError:
        return None, "none"
    except (ValueError, KeyError, TypeError):
        raise CatalogueError(
            f"{entry.name}: unreadable checksum record {record}; delete it to trust the next download"
        ) from None


def catalogue_path(name: str, *, base_url: str | None = None, progress: Progress | None = None) -> Path:
    """The cached y4m of catalogue sequence ``name``, downloaded the first time only.

    Every use checks the file's sha256 against the entry's pin or, unpinned, against the one
    recorded at its first download. ``progress(done_bytes, total_bytes_or_None)`` is called
    per chunk while downloading. Raises CatalogueError (one line) for an unknown name, a
    failed or short download, a checksum mismatch or content that is not the catalogued y4m.
    """
    entry = _entry(name)
    if entry.format != "y4m":
        raise CatalogueError(f"{name}: unsupported format {entry.format!r} (only y4m)")
    y4m, record = _paths(entry)
    expected, source = _expected(entry, record)
    # Unpinned with no record: a y4m here was not written by us (we record before the
    # rename), so nothing vouches for it; download over it.
    if y4m.is_file() and expected is not None:
        got = file_sha256(y4m)
        if got != expected:
            y4m.unlink()  # never leave a file that looks complete but is not
            raise CatalogueError(
                f"{name}: cached {y4m} has sha256 {got}, {source} sha256 is "
                f"{expected}; removed it, the next use downloads it again"
            )
        return y4m
    url = source_url(entry, base_url)
    remove_stale_temps(y4m.parent)  # a killed download's partial file
    with atomic_output(y4m) as tmp:
        got, size = _download(name, url, tmp, progress)
        if expected is not None and got != expected:
            raise CatalogueError(f"{name}: {url} served sha256 {got}, {source} sha256 is {expected}; nothing kept")
        _check_header(entry, url, tmp)
        _write_record(record, {"name": name, "url": url, "size": size, "sha256": got})
    return y4m


def _download(name: str, url: str, out: Path, progress: Progress | None) -> tuple[str, int]:
    """Stream ``url`` to ``out``; (sha256, size). Raises CatalogueError, one line, on failure."""
    h, done = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp, open(out, "wb") as f:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            while chunk := resp.read(CHUNK):
                f.write(chunk)
                h.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except urllib.error.HTTPError as e:
        raise CatalogueError(f"{name}: download from {url} failed: HTTP {e.code} {_one_line(e.reason)}") from None
    except (OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        raise CatalogueError(f"{name}: download from {url} failed: {_one_line(reason)}") from None
    # http.client returns a short body without error when the server closes early.
    if total is not None and done != total:
        raise CatalogueError(f"{name}: download from {url} incomplete: {done} of {total} bytes")
    return h.hexdigest(), done


def _check_header(entry: Entry, url: str, path: Path) -> None:
    """Refuse to record a checksum for something that is not the catalogued y4m
    (an HTML error page served with 200, say)."""
    with open(path, "rb") as f:
        line = f.readline(MAX_HEADER)
    try:
        header = parse_header(line.rstrip(b"\n"), f"{entry.name} from {url}")
    except Y4MError as e:
        raise CatalogueError(_one_line(e)) from None
    if (header.width, header.height) != entry.resolution:
        raise CatalogueError(
            f"{entry.name}: {url} is {header.width}x{header.height}, "
            f"catalogued as {entry.resolution[0]}x{entry.resolution[1]}"
        )


def _write_record(record: Path, data: dict) -> None:
    with atomic_output(record) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n")


def _one_line(x: object) -> str:
    return " ".join(str(x).split()) or type(x).__name__
