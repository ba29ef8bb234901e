"""<out>/manifest.json: what each shard is and holds, splits that never move, shards that
disagree with it refused by name, and concurrent extract runs into one directory."""

import fcntl
import hashlib
import json
import subprocess
import sys
import time

import h5py
import pytest
from jobs_helpers import tiny_clip

from av1tools.extract.manifest import (
    ManifestError,
    check_shard,
    data_source,
    read_manifest,
    stable_fraction,
)
from av1tools.partition import PARTITION_NAMES

EXTRACT = ["extract", "--cpu-used", "6", "--jobs", "1", "-q"]


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def clips(tmp_path, *names, frames=1):
    return [tiny_clip(tmp_path / "in" / f"{n}.y4m", 100 + i, frames=frames) for i, n in enumerate(names)]


def extract_into(cli, out, seqs, *levels):
    args = EXTRACT + [a for s in seqs for a in ("--seq", s)] + [a for q in levels for a in ("--cq-level", q)]
    code, _, err = cli(args + ["--out", out])
    assert code == 0, err
    return json.loads((out / "manifest.json").read_text())


def test_the_manifest_describes_every_shard(cli, tmp_path, aom_tools):
    from av1tools.extract.aom import encoder_build
    from av1tools.extract.dataset import read_summary

    seqs, out = clips(tmp_path, "mf-one", "mf-two", frames=2), tmp_path / "d"
    data = extract_into(cli, out, seqs, 40, 50)
    assert data["format"] == "av1tools-manifest" and data["version"] == 1
    shards = sorted(out.glob("*.h5"))
    assert len(shards) == 4 and sorted(data["shards"]) == [p.name for p in shards]
    build = encoder_build(aom_tools).label
    for h5 in shards:
        entry = data["shards"][h5.name]
        seq = entry["sequence"]
        assert seq in ("mf-one", "mf-two") and entry["group"] == seq and h5.name.startswith(seq + "_")
        assert entry["source_sha256"] == sha256(tmp_path / "in" / f"{seq}.y4m")
        q = int(h5.stem.split("_q")[1].split("_")[0])
        assert entry["settings"] == {"frames": 2, "cq_level": q, "cpu_used": 6, "mode": "intra", "sb_size": 64}
        assert entry["encoder"] == build and entry["width"] == 64 and entry["height"] == 48
        assert entry["sha256"] == sha256(h5) and entry["bytes"] == h5.stat().st_size
        ivf = out / entry["bitstream"]
        assert ivf == h5.with_suffix(".ivf") and entry["bitstream_sha256"] == sha256(ivf)
        summary = read_summary(h5)
        want = {
            f"{s}x{s}": {PARTITION_NAMES[p]: n for p, n in sorted(c.items()) if n} for s, c in summary.counts.items()
        }
        assert entry["nodes"] == want
        assert sum(sum(c.values()) for c in entry["nodes"].values()) > 0
    assert set(data["splits"]) == {"mf-one", "mf-two"}


def test_splits_are_assigned_once_and_never_move(cli, tmp_path, aom_tools):
    # by their hash both of the first groups are "train": the first assignment flips one
    # to "val"; the later groups would not flip it (a recomputed split would move it)
    assert all(stable_fraction(f"split:{g}") >= 0.25 for g in ("charlie", "golf", "lima"))
    assert stable_fraction("split:alpha") < 0.25
    charlie, golf, alpha, lima, hotel = clips(tmp_path, "charlie", "golf", "alpha", "lima", "hotel")
    out = tmp_path / "d"
    first = extract_into(cli, out, [charlie, golf], 40, 50)["splits"]
    assert sorted(first) == ["charlie", "golf"] and sorted(first.values()) == ["train", "val"]

    second = extract_into(cli, out, [charlie, golf, alpha, lima], 40, 50)
    splits = second["splits"]
    assert len(second["shards"]) == 8 and sorted(splits) == ["alpha", "charlie", "golf", "lima"]
    assert {g: splits[g] for g in first} == first
    assert set(splits.values()) == {"train", "val"}

    # a hand edit (the documented way to move a group) survives the next extract
    path = out / "manifest.json"
    data = json.loads(path.read_text())
    moved = "train" if data["splits"]["golf"] == "val" else "val"
    data["splits"]["golf"] = moved
    path.write_text(json.dumps(data))
    third = extract_into(cli, out, [hotel], 40)["splits"]
    assert third["golf"] == moved and {g: third[g] for g in splits if g != "golf"} == {
        g: v for g, v in splits.items() if g != "golf"
    }
    assert sorted(third) == ["alpha", "charlie", "golf", "hotel", "lima"]


def test_train_uses_the_manifest_split(cli, tmp_path, aom_tools):
    out = tmp_path / "d"
    extract_into(cli, out, clips(tmp_path, "charlie", "golf", "alpha", frames=2), 40)
    # hand-move the validation side to a group the hash rule (seed 0) would not pick
    held_by_hash = min(("charlie", "golf", "alpha"), key=lambda g: stable_fraction(f"0:{g}"))
    val = "golf" if held_by_hash != "golf" else "charlie"
    path = out / "manifest.json"
    data = json.loads(path.read_text())
    data["splits"] = {g: "val" if g == val else "train" for g in data["splits"]}
    path.write_text(json.dumps(data))

    source = data_source([out])
    assert source.splits == data["splits"]
    assert source.files == sorted(out / name for name in data["shards"])
    assert data_source([path]).splits == data["splits"]

    run = tmp_path / "run"
    code, _, err = cli(["train", "--data", out, "--out", run, "--epochs", "1", "--max-samples", "64", "-q"])
    assert code == 0, err
    split = json.loads((run / "metrics.json").read_text())["split"]
    assert split["chosen_by"] == "manifest"
    assert split["val_sequences"] == [val] and sorted(split["train_sequences"]) == sorted(
        {"charlie", "golf", "alpha"} - {val}
    )


@pytest.fixture
def shard_dir(cli, tmp_path, aom_tools):
    out = tmp_path / "d"
    extract_into(cli, out, clips(tmp_path, "mf-a", "mf-b"), 40)
    return out


def test_a_grown_shard_is_refused_by_name(shard_dir):
    manifest = read_manifest(shard_dir / "manifest.json")
    victim, other = manifest.files
    for f in manifest.files:
        check_shard(manifest, f)  # as written: accepted
    with open(victim, "ab") as f:
        f.write(b"\0" * 16)
    check_shard(manifest, other)
    with pytest.raises(ManifestError, match=victim.name) as e:
        check_shard(manifest, victim)
    assert "bytes" in str(e.value)
    with pytest.raises(ManifestError, match=victim.name):
        data_source([shard_dir / "manifest.json"])
    with pytest.raises(ManifestError, match=victim.name):
        data_source([shard_dir])
    assert victim in data_source([shard_dir], verify=False).files


@pytest.mark.parametrize(
    "attr, change",
    [("cq_level", lambda v: v + 1), ("encoder_build", lambda v: "X" * len(v)), ("sequence_sha256", lambda v: "0" * 64)],
)
def test_a_shard_with_other_attributes_is_refused_by_name(shard_dir, attr, change):
    manifest = read_manifest(shard_dir / "manifest.json")
    victim = manifest.files[1]
    size = victim.stat().st_size
    with h5py.File(victim, "r+") as f:  # in place: the size stays, the attributes must be caught
        f.attrs.modify(attr, change(f.attrs[attr]))
    assert victim.stat().st_size == size
    with pytest.raises(ManifestError, match=victim.name) as e:
        check_shard(manifest, victim)
    assert "disagree" in str(e.value)
    with pytest.raises(ManifestError, match=victim.name):
        data_source([shard_dir / "manifest.json"])


def test_missing_and_unlisted_shards_are_refused_by_name(shard_dir):
    manifest = read_manifest(shard_dir / "manifest.json")
    victim = manifest.files[0]
    unlisted = shard_dir / "stranger.h5"
    unlisted.write_bytes(victim.read_bytes())
    with pytest.raises(ManifestError, match="stranger.h5: not listed"):
        check_shard(manifest, unlisted)
    victim.unlink()
    with pytest.raises(ManifestError, match=f"{victim.name}: listed .* but missing"):
        data_source([shard_dir])


def test_two_extract_processes_share_one_manifest(tmp_path, aom_tools):
    """Two runs into one directory at once: the test holds the manifest lock until each has
    written its first shard (each records a shard as it completes, so each then waits for
    the lock), so both then update the manifest at the same moment."""
    seqs = clips(tmp_path, "par-a", "par-b", "par-c")
    out = tmp_path / "d"
    out.mkdir()

    def start(q):
        cmd = [sys.executable, "-m", "av1tools", *EXTRACT, "--cq-level", str(q), "--out", str(out)]
        cmd += [a for s in seqs for a in ("--seq", str(s))]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    with open(out / ".manifest.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        procs = [start(30), start(50)]
        deadline = time.monotonic() + 120
        while len(list(out.glob("*.h5"))) < 2 and time.monotonic() < deadline:
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.05)
        time.sleep(0.5)
        # both wait for the lock: neither went on, no manifest written behind its back
        assert len(list(out.glob("*.h5"))) == 2
        assert [p.poll() for p in procs] == [None, None] and not (out / "manifest.json").exists()
        fcntl.flock(lock, fcntl.LOCK_UN)
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    shards = sorted(p.name for p in out.glob("*.h5"))
    assert len(shards) == 6
    data = json.loads((out / "manifest.json").read_text())
    assert sorted(data["shards"]) == shards
    assert sorted(data["splits"]) == ["par-a", "par-b", "par-c"]
    manifest = read_manifest(out / "manifest.json")
    for f in manifest.files:
        check_shard(manifest, f)
    assert not list(out.glob(".*.tmp"))
