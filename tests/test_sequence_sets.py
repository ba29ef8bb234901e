"""Sets of sequences (resolve_sequence_set): repeated --seq, globs, directories, list files,
directories of still images; duplicates, name clashes, missing and unreadable items."""

import json

import numpy as np
import pytest
from jobs_helpers import tiny_clip

from av1tools.extract.sequences import SequenceError, SequenceRef, resolve_sequence_set
from av1tools.extract.y4m import Y4MError, Y4MReader


@pytest.fixture(autouse=True)
def converted_cache(tmp_path, monkeypatch):
    """Still images convert into this test's own cache (not the user's)."""
    root = tmp_path / "cache"

    def cache_dir(*parts):
        path = root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    monkeypatch.setattr("av1tools.extract.sequences.cache_dir", cache_dir)
    return root


def still(path, seed, size=(64, 48), dtype=np.uint8):
    from skimage import io

    rng = np.random.default_rng(seed)
    w, h = size
    top = np.iinfo(dtype).max
    shape = (h, w, 3) if dtype == np.uint8 else (h, w)  # 16-bit: grey (what PNG writers take)
    path.parent.mkdir(parents=True, exist_ok=True)
    io.imsave(path, rng.integers(0, top + 1, shape).astype(dtype), check_contrast=False)
    return path


def names(refs):
    return [r.name for r in refs]


def test_repeated_seq(tmp_path):
    a, b = tiny_clip(tmp_path / "x" / "a.y4m", 1), tiny_clip(tmp_path / "y" / "b.y4m", 2)
    refs = resolve_sequence_set([str(b), str(a)])
    assert refs == [SequenceRef("b", b.resolve(), str(b), "b"), SequenceRef("a", a.resolve(), str(a), "a")]


def test_a_glob(tmp_path):
    for i, n in enumerate(("c", "a", "b")):
        tiny_clip(tmp_path / "clips" / f"{n}.y4m", i)
    (tmp_path / "clips" / "notes.txt").write_text("not a sequence\n")
    refs = resolve_sequence_set([str(tmp_path / "clips" / "*.y4m")])
    assert names(refs) == ["a", "b", "c"]
    assert [r.path for r in refs] == [(tmp_path / "clips" / f"{n}.y4m").resolve() for n in "abc"]
    assert [r.group for r in refs] == ["a", "b", "c"]
    with pytest.raises(SequenceError, match=r"\*\.mp4: no file matches"):
        resolve_sequence_set([str(tmp_path / "clips" / "*.mp4")])


def test_a_directory_of_y4m_files(tmp_path, monkeypatch):
    for i, n in enumerate(("b", "a")):
        tiny_clip(tmp_path / "clips" / f"{n}.y4m", i)
    (tmp_path / "clips" / ".hidden.y4m").write_bytes(b"not even a y4m")
    (tmp_path / "clips" / "sub").mkdir()
    (tmp_path / "clips" / "README.txt").write_text("not a sequence, not a list meant for --seq")
    refs = resolve_sequence_set([str(tmp_path / "clips")])
    assert names(refs) == ["a", "b"] and [r.group for r in refs] == ["a", "b"]
    assert [r.path for r in refs] == [(tmp_path / "clips" / f"{n}.y4m").resolve() for n in "ab"]
    monkeypatch.chdir(tmp_path)
    assert resolve_sequence_set(["clips/"]) == resolve_sequence_set(["clips"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SequenceError, match="empty: no sequences or images"):
        resolve_sequence_set([str(empty)])


def test_a_list_file(tmp_path, monkeypatch):
    a = tiny_clip(tmp_path / "lists" / "clips" / "a.y4m", 1)
    b = tiny_clip(tmp_path / "elsewhere" / "b.y4m", 2)
    for i, n in enumerate(("d", "c")):
        tiny_clip(tmp_path / "lists" / "more" / f"{n}.y4m", 10 + i)
    listing = tmp_path / "lists" / "set.txt"
    listing.write_text(
        "# training clips\n"
        "clips/a.y4m\n"
        "\n"
        f"  {b}  \n"  # absolute, blanks around it
        "#clips/missing.y4m\n"
        "more\n"  # a directory, relative to the list file
    )
    monkeypatch.chdir(tmp_path / "elsewhere")  # relative lines are not relative to the cwd
    refs = resolve_sequence_set([str(listing)])
    assert names(refs) == ["a", "b", "c", "d"]
    assert [r.path for r in refs] == [
        a.resolve(),
        b.resolve(),
        (tmp_path / "lists" / "more" / "c.y4m").resolve(),
        (tmp_path / "lists" / "more" / "d.y4m").resolve(),
    ]
    listing.write_text("clips/a.y4m\nclips/missing.y4m\n")
    with pytest.raises(SequenceError, match="missing.y4m: no such file") as e:
        resolve_sequence_set([str(listing)])
    assert str(tmp_path / "lists" / "clips" / "missing.y4m") in str(e.value)  # where it was looked for


def test_a_list_file_may_name_samples(tmp_path, monkeypatch):
    from av1tools.extract import sequences

    fake = tiny_clip(tmp_path / "samples" / "carphone.y4m", 3)
    monkeypatch.setattr(sequences, "sample_path", lambda name: fake)  # no conversion needed
    listing = tmp_path / "lists" / "set.list"
    a = tiny_clip(tmp_path / "lists" / "a.y4m", 1)
    listing.write_text("a.y4m\ncarphone\n")
    refs = resolve_sequence_set([str(listing)])
    assert refs == [SequenceRef("a", a.resolve(), str(a), "a"), SequenceRef("carphone", fake, "carphone", "carphone")]
    listing.write_text("nosuchsample\n")
    with pytest.raises(SequenceError, match="nosuchsample: neither a file, a sample"):
        resolve_sequence_set([str(listing)])


def test_a_directory_of_still_images(tmp_path, monkeypatch):
    stills = tmp_path / "stills"
    still(stills / "b.png", 1)
    still(stills / "a.png", 2, size=(40, 30))
    still(stills / "deep.png", 3, dtype=np.uint16)
    refs = resolve_sequence_set([str(stills)])
    assert names(refs) == ["stills-a", "stills-b", "stills-deep"]
    assert [r.group for r in refs] == names(refs)  # each image its own split group
    assert [r.origin for r in refs] == [str(stills / f"{n}.png") for n in ("a", "b", "deep")]
    for ref, (w, h, depth) in zip(refs, [(40, 30, 8), (64, 48, 8), (64, 48, 10)]):
        assert ref.path.suffix == ".y4m" and ref.path.is_file()
        with Y4MReader(ref.path) as r:
            assert (r.width, r.height, r.bit_depth, len(r)) == (w, h, depth, 1)
    # the same directory named another way gives the same names (and so the same shards)
    monkeypatch.chdir(stills)
    assert names(resolve_sequence_set(["."])) == names(refs)
    assert names(resolve_sequence_set(["../stills/"])) == names(refs)


def test_a_single_still_is_named_after_itself(tmp_path):
    image = still(tmp_path / "pic.png", 4)
    [ref] = resolve_sequence_set([str(image)])
    assert (ref.name, ref.group, ref.origin) == ("pic", "pic", str(image))


def test_duplicates_of_one_path_are_collapsed(tmp_path, monkeypatch):
    a = tiny_clip(tmp_path / "clips" / "a.y4m", 1)
    tiny_clip(tmp_path / "clips" / "b.y4m", 2)
    listing = tmp_path / "set.txt"
    listing.write_text("clips/a.y4m\n")
    monkeypatch.chdir(tmp_path)
    refs = resolve_sequence_set(["clips/a.y4m", str(a), "clips", "clips/*.y4m", str(listing), "./clips/a.y4m"])
    assert names(refs) == ["a", "b"]
    assert [r.path for r in refs] == [a.resolve(), (tmp_path / "clips" / "b.y4m").resolve()]


def test_two_files_with_one_name_are_refused_naming_both(tmp_path):
    first, second = tiny_clip(tmp_path / "x" / "same.y4m", 1), tiny_clip(tmp_path / "y" / "same.y4m", 2)
    with pytest.raises(SequenceError, match="two sequences named 'same'") as e:
        resolve_sequence_set([str(first), str(tmp_path / "y")])
    assert str(first) in str(e.value) and str(second) in str(e.value)
    # even an identical copy: two paths, two sources to tell apart
    (tmp_path / "z").mkdir()
    copy = tmp_path / "z" / "same.y4m"
    copy.write_bytes(first.read_bytes())
    with pytest.raises(SequenceError, match="two sequences named 'same'"):
        resolve_sequence_set([str(first), str(copy)])
    # two stills of one directory that differ only by their suffix
    still(tmp_path / "s" / "p.png", 1)
    still(tmp_path / "s" / "p.bmp", 2)
    with pytest.raises(SequenceError, match="two sequences named 's-p'") as e:
        resolve_sequence_set([str(tmp_path / "s")])
    assert "p.png" in str(e.value) and "p.bmp" in str(e.value)


def test_a_missing_item_fails_the_set_by_name_or_is_skipped(tmp_path):
    a = tiny_clip(tmp_path / "a.y4m", 1)
    missing = tmp_path / "gone.y4m"
    with pytest.raises(SequenceError, match="gone.y4m: no such file"):
        resolve_sequence_set([str(a), str(missing)])
    warnings = []
    refs = resolve_sequence_set(
        [str(missing), str(a), str(tmp_path / "*.mkv")], skip_missing=True, warn=warnings.append
    )
    assert names(refs) == ["a"]
    assert len(warnings) == 2
    assert warnings[0].startswith("skipped: ") and str(missing) in warnings[0]
    assert "*.mkv: no file matches" in warnings[1]
    with pytest.raises(SequenceError, match="all were skipped"):
        resolve_sequence_set([str(missing)], skip_missing=True)


def test_an_unreadable_image_is_named(tmp_path):
    stills = tmp_path / "stills"
    good = still(stills / "good.png", 1)
    bad = stills / "broken.png"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(SequenceError, match="broken.png: cannot decode as an image"):
        resolve_sequence_set([str(stills)])
    with pytest.raises(SequenceError, match="broken.png: cannot decode"):
        resolve_sequence_set([str(bad)])
    warnings = []
    refs = resolve_sequence_set([str(stills)], skip_missing=True, warn=warnings.append)
    assert names(refs) == ["stills-good"] and refs[0].origin == str(good)
    assert len(warnings) == 1 and "broken.png" in warnings[0]


def test_a_truncated_y4m_in_a_set_is_named(tmp_path):
    clips = tmp_path / "clips"
    tiny_clip(clips / "fine.y4m", 1)
    cut = tiny_clip(clips / "cut.y4m", 2, frames=2)
    cut.write_bytes(cut.read_bytes()[:-100])
    with pytest.raises((SequenceError, Y4MError), match="cut.y4m: frame 1: truncated"):
        resolve_sequence_set([str(clips)])
    warnings = []
    assert names(resolve_sequence_set([str(clips)], skip_missing=True, warn=warnings.append)) == ["fine"]
    assert len(warnings) == 1 and "cut.y4m" in warnings[0]


def test_extract_a_directory_of_stills(cli, tmp_path, aom_tools):
    stills = tmp_path / "photos"
    still(stills / "one.png", 1)
    still(stills / "two.jpg", 2, size=(72, 40))
    out = tmp_path / "d"
    code, _, err = cli(["extract", "--seq", stills, "--out", out, "--cq-level", "40", "--cpu-used", "6", "-q"])
    assert code == 0, err
    shards = sorted(p.name for p in out.glob("*.h5"))
    assert shards == ["photos-one_intra_cpu6_sb64_q40_f1.h5", "photos-two_intra_cpu6_sb64_q40_f1.h5"]
    assert sorted(p.name for p in out.glob("*.ivf")) == [s.replace(".h5", ".ivf") for s in shards]
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["shards"]) == shards
    assert sorted(manifest["splits"]) == ["photos-one", "photos-two"]
    assert sorted(manifest["splits"].values()) == ["train", "val"]
    assert {(e["width"], e["height"], e["settings"]["frames"]) for e in manifest["shards"].values()} == {
        (64, 48, 1),
        (72, 40, 1),
    }
