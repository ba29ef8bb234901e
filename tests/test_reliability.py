"""Hostile-but-fair inputs: what was written is never lost or misstated, a failure is one
line naming the problem, a killed run leaves nothing that looks whole."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from av1tools.extract.y4m import Y4MHeader, write_y4m
from av1tools.paths import remove_stale_temps, temp_path

EXTRACT = ["extract", "--cq-level", "40", "--cpu-used", "6", "--jobs", "1", "-q"]


def tiny_clip(path, seed, frames=2, size=(64, 48)):
    """A small random 8-bit y4m (different seeds, different content)."""
    rng = np.random.default_rng(seed)
    w, h = size
    planes = [
        (rng.integers(0, 256, (h, w)), rng.integers(0, 256, (h // 2, w // 2)), rng.integers(0, 256, (h // 2, w // 2)))
        for _ in range(frames)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_y4m(path, Y4MHeader(w, h, 30, 8, "420jpeg"), planes)
    return path


def stored_sha(dataset):
    with h5py.File(dataset) as f:
        return f.attrs["sequence_sha256"]


def only_shard(directory):
    [h5] = sorted(directory.glob("*.h5"))
    return h5


def test_another_source_with_the_same_name_is_refused_by_name(cli, tmp_path, aom_tools):
    first, second = tiny_clip(tmp_path / "in" / "small3.y4m", 1), tiny_clip(tmp_path / "in2" / "small3.y4m", 2)
    out = tmp_path / "d"
    assert cli(EXTRACT + ["--seq", first, "--out", out])[0] == 0
    dataset = only_shard(out)
    sha = stored_sha(dataset)
    code, _, err = cli(EXTRACT + ["--seq", second, "--out", out])
    assert code == 1 and err.count("\n") == 1
    assert dataset.name in err and "another source" in err and "--overwrite" in err
    assert stored_sha(dataset) == sha  # what was there is kept
    code, _, err = cli(EXTRACT + ["--seq", second, "--out", out, "--overwrite"])
    assert code == 0, err
    assert stored_sha(dataset) != sha


def test_two_sources_with_one_name_in_one_command_are_refused(cli, tmp_path, aom_tools):
    a, b = tiny_clip(tmp_path / "in" / "small3.y4m", 1), tiny_clip(tmp_path / "in2" / "small3.y4m", 2)
    code, _, err = cli(EXTRACT + ["--seq", a, "--seq", b, "--out", tmp_path / "d"])
    assert code == 1 and "two sequences named 'small3'" in err and err.count("\n") == 1
    assert not (tmp_path / "d").exists()


def test_a_truncated_dataset_is_redone_not_kept(cli, tmp_path, aom_tools):
    clip, out = tiny_clip(tmp_path / "c.y4m", 3), tmp_path / "d"
    assert cli(EXTRACT + ["--seq", clip, "--out", out])[0] == 0
    dataset = only_shard(out)
    dataset.write_bytes(dataset.read_bytes()[: dataset.stat().st_size // 2])
    code, out_text, err = cli(EXTRACT + ["--seq", clip, "--out", out, "--json"])
    assert code == 0, err
    [shard] = json.loads(out_text)["shards"]
    assert shard["status"] == "redone"
    code, _, _ = cli(["info", dataset])
    assert code == 0


def test_a_changed_setting_is_another_shard_and_finished_ones_are_kept(cli, tmp_path, aom_tools):
    clip, out = tiny_clip(tmp_path / "c.y4m", 4), tmp_path / "d"
    assert cli(EXTRACT + ["--seq", clip, "--out", out])[0] == 0
    code, text, _ = cli(EXTRACT + ["--seq", clip, "--out", out, "--cq-level", "40", "--cq-level", "50", "--json"])
    statuses = sorted(s["status"] for s in json.loads(text)["shards"])
    assert code == 0 and statuses == ["kept", "written"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["shards"]) == 2 and set(manifest["splits"]) == {"c"}


def _mount_tmpfs(path, size):
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.decode().strip()[:80]})")


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, aom_tools):
    disk = tmp_path / "t"
    _mount_tmpfs(disk, "1m")
    try:
        cmd = [
            sys.executable,
            "-m",
            "av1tools",
            "extract",
            "--seq",
            "carphone",
            "--out",
            str(disk / "d"),
            "--cq-level",
            "30",
            "--cpu-used",
            "6",
            "--frames",
            "60",
            "--jobs",
            "1",
            "-q",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert done.returncode == 1, done.stderr
        assert done.stderr.count("\n") == 1 and "no space left on device" in done.stderr
        assert "carphone_intra_cpu6_sb64_q30_f60" in done.stderr and "Traceback" not in done.stderr
        assert list((disk / "d").iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_training_with_an_empty_validation_split_is_refused(cli, tmp_path, aom_tools):
    clip = tiny_clip(tmp_path / "one.y4m", 5, frames=1)
    assert cli(EXTRACT + ["--seq", clip, "--out", tmp_path / "d"])[0] == 0
    code, _, err = cli(["train", "--data", tmp_path / "d", "--out", tmp_path / "runs" / "r", "--epochs", "1"])
    assert code == 1 and "split is empty" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()  # no empty shell left behind


def test_failed_evaluate_leaves_no_output_directory(cli, tmp_path, data_dir):
    code, _, err = cli(
        ["evaluate", "--model", tmp_path / "nowhere", "--data", data_dir, "--out", tmp_path / "r" / "f1"]
    )
    assert code == 1 and "no such run directory" in err
    assert not (tmp_path / "r").exists()


def test_evaluate_names_how_to_make_a_calibrated_report(cli, tmp_path, data_dir):
    # eval-encode simulates with no calibration clip by default: such a report has no cost
    # model for evaluate, and the message says which eval-encode option makes one
    report = tmp_path / "report.json"
    simulation = {"calibration_clip": None, "stock": {"scales": {"guided": 1.0}, "cost_models": {}}}
    report.write_text(json.dumps({"simulation": simulation, "verdicts": {"stock": {}}}))
    args = ["evaluate", "--model", "default", "--data", data_dir, "--out", tmp_path / "f1", "--calibration", report]
    code, _, err = cli(args)
    assert code == 2 and "not an eval-encode report with a calibrated simulation" in err
    assert "--calibration CLIP" in err and "Traceback" not in err
    assert not (tmp_path / "f1").exists()


def test_messages_name_the_problem(cli, tmp_path, trained_run):
    run, _ = trained_run
    only_version = tmp_path / "bare.h5"
    with h5py.File(only_version, "w") as f:
        f.attrs["schema_version"] = 2
    code, out, err = cli(["info", only_version])
    assert code == 1 and "bare.h5: not a complete av1tools dataset" in err and "None" not in out

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = cli(["info", empty])
    assert code == 1 and "empty: no .h5 datasets" in err and err.count("\n") == 1

    code, _, err = cli(["predict", "--model", run, "--seq", empty, "--cq-level", "30", "--out", tmp_path / "p.h5"])
    assert code == 1 and "is a directory" in err

    code, _, err = cli(["info", tmp_path / "missing.h5", "--debug"])  # --debug after the subcommand
    assert code == 1 and "Traceback" in err


def test_checkpoint_messages(cli, tmp_path, trained_run):
    run, _ = trained_run
    bad = tmp_path / "bad"
    shutil.copytree(run, bad)
    (bad / "stage2.pt").write_bytes((run / "stage2.pt").read_bytes()[:3000])
    code, _, err = cli(
        [
            "predict",
            "--model",
            bad,
            "--seq",
            "carphone",
            "--frames",
            "1",
            "--cq-level",
            "30",
            "--out",
            tmp_path / "p.h5",
        ]
    )
    message = err.strip()
    assert code == 1 and "corrupted or not a torch checkpoint" in message
    inner = message[message.index("(") + 1 : message.rindex(")")]
    assert inner.endswith("...") or len(inner) < 100 and not inner.endswith(" ")  # never cut mid-word
    shutil.copy(run / "stage3_rect.pt", bad / "stage2.pt")
    code, _, err = cli(
        [
            "predict",
            "--model",
            bad,
            "--seq",
            "carphone",
            "--frames",
            "1",
            "--cq-level",
            "30",
            "--out",
            tmp_path / "p.h5",
        ]
    )
    assert code == 1 and "holds stage3_rect, not stage2" in err


def test_attributes_say_where_and_what(tmp_path, aom_tools, cli, monkeypatch):
    clip = tiny_clip(tmp_path / "in" / "rel.y4m", 6)
    monkeypatch.chdir(tmp_path)
    assert cli(EXTRACT + ["--seq", "in/rel.y4m", "--out", "out"])[0] == 0
    with h5py.File(only_shard(tmp_path / "out")) as f:
        a = dict(f.attrs)
    assert a["sequence_path"] == str(clip.resolve()) and a["working_directory"] == str(tmp_path)
    assert str(tmp_path / "out") in a["encoder_command"]
    assert "av1tools guided-partition patch" in a["encoder_build"]


def _start_extract(out, frames=120):
    cmd = [
        sys.executable,
        "-m",
        "av1tools",
        "extract",
        "--seq",
        "carphone",
        "--out",
        str(out),
        "--cq-level",
        "20",
        "--cpu-used",
        "5",
        "--frames",
        str(frames),
        "--jobs",
        "1",
        "-q",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(out.glob(".*.tmp")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the extract finished before it could be interrupted"
    return proc


def test_sigterm_cleans_up_and_exits_143(tmp_path, aom_tools):
    out = tmp_path / "d"
    proc = _start_extract(out)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "terminated" in err
    assert [p.name for p in out.iterdir()] == []


def test_sigkill_leftovers_are_removed_by_the_next_run(tmp_path, aom_tools):
    out = tmp_path / "d"
    proc = _start_extract(out)
    proc.kill()
    proc.wait()
    assert list(out.glob(".*.tmp")), "SIGKILL should leave the dead writer's temp files"
    assert not list(out.glob("*.h5"))
    assert remove_stale_temps(out) and not list(out.glob(".*.tmp"))


def test_stale_temp_of_a_live_writer_is_kept(tmp_path):
    mine = temp_path(tmp_path / "x.h5")
    mine.write_bytes(b"partial")
    assert remove_stale_temps(tmp_path) == [] and mine.exists()  # this process is alive
    dead = tmp_path / mine.name.replace(f".{os.getpid()}.", ".999999999.")
    dead.write_bytes(b"partial")
    assert remove_stale_temps(tmp_path) == [dead]


def test_corrupted_pixels_name_the_file(tmp_path, data_dir):
    from av1tools.extract.dataset import DatasetError, open_dataset

    [src] = sorted(data_dir.glob("carphone*q30*.h5"))
    broken = tmp_path / src.name
    data = bytearray(src.read_bytes())
    with h5py.File(src) as f:
        offset = f["blocks/64x64/pixels"].id.get_chunk_info(0).byte_offset
    data[offset : offset + 64] = bytes(64)  # garbage in the first compressed chunk
    broken.write_bytes(bytes(data))
    with open_dataset(broken) as ds, pytest.raises(DatasetError, match=broken.name):
        ds.pixels(64)
    torch.manual_seed(0)  # (keeps this module's torch import used: the CLI loads models lazily)


# ---------------------------------------------------------------------------------------
# Issue 22: a stopped extract, speeds that are not what they are called, checksums, damaged
# shards and manifests, and the messages that name them.


def one_line(err, *words):
    """``err`` is one error line holding each of ``words``, and no traceback."""
    assert err.count("\n") == 1 and err.startswith("av1tools: error: ") and "Traceback" not in err, err
    for w in words:
        assert str(w) in err, (w, err)


def two_groups(tmp_path, *levels, out=None):
    """Two tiny clips extracted at ``levels`` (two groups: train has both sides)."""
    out = out or tmp_path / "d"
    seqs = [tiny_clip(tmp_path / "in" / f"{n}.y4m", 20 + i) for i, n in enumerate(("golf", "charlie"))]
    args = [a for s in seqs for a in ("--seq", s)] + [a for q in levels for a in ("--cq-level", q)]
    return out, ["extract", *EXTRACT[3:], *args, "--out", out]  # EXTRACT without its --cq-level 40


def manifest_of(out):
    return json.loads((out / "manifest.json").read_text())


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_stopped_extract_has_listed_every_finished_shard(tmp_path, aom_tools, cli, jobs):
    """A real SIGTERM in the middle of a 30-shard run: every shard finished by then is in the
    manifest (each is recorded as it completes; with a process pool the parent records
    each as its outcome arrives, and those still on their way once the workers stop), and a
    rerun keeps them all and lists the rest."""
    out = tmp_path / "ds"
    levels = [a for q in range(30) for a in ("--cq-level", str(q))]
    args = ["extract", "--seq", "carphone", "--out", str(out), "--frames", "2", "--cpu-used", "6", *levels]
    args += ["--jobs", str(jobs), "-q"]
    proc = subprocess.Popen([sys.executable, "-m", "av1tools", *args], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(list(out.glob("*.h5"))) < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the extract finished before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    on_disk = {p.name for p in out.glob("*.h5")}
    listed = set(manifest_of(out)["shards"])
    assert 5 <= len(on_disk) < 30 and listed == on_disk, sorted(on_disk - listed)
    assert not list(out.glob(".*.tmp"))  # nothing half-written that a later run could take for whole
    code, text, err = cli(["info", out, "--json"])
    assert code == 0 and len(json.loads(text)) == len(on_disk)
    code, text, err = cli([*args, "--json"])
    assert code == 0, err
    status = {Path(s["dataset"]).name: s["status"] for s in json.loads(text)["shards"]}
    assert {status[n] for n in on_disk} == {"kept"} and len(status) == 30
    assert sorted(manifest_of(out)["shards"]) == sorted(p.name for p in out.glob("*.h5"))
    code, text, _ = cli(["info", out, "--json"])
    assert code == 0 and len(json.loads(text)) == 30


def test_unlisted_shards_are_refused_until_a_rerun_lists_them(tmp_path, aom_tools, cli):
    out, args = two_groups(tmp_path, 40, 50)
    assert cli(args)[0] == 0
    data = manifest_of(out)  # as a run stopped between a shard and its entry leaves it
    dropped = sorted(data["shards"])[1]
    del data["shards"][dropped]
    (out / "manifest.json").write_text(json.dumps(data))
    code, _, err = cli(["info", out])
    assert code == 1
    one_line(err, f"{out}: 1 complete shard not listed in manifest.json ({dropped})", "rerun the extract")
    for arch in ("staged", "superblock"):
        code, _, err = cli(["train", "--arch", arch, "--data", out, "--out", tmp_path / "r", "--epochs", "1", "-q"])
        assert code == 1 and not (tmp_path / "r").exists()
        one_line(err, "not listed", dropped)
    code, text, err = cli([*args, "--json"])
    assert code == 0, err
    assert {s["status"] for s in json.loads(text)["shards"]} == {"kept"}
    assert len(manifest_of(out)["shards"]) == 4
    code, text, _ = cli(["info", out, "--json"])
    assert code == 0 and len(json.loads(text)) == 4


def test_inter_mode_speeds_above_6_are_refused_before_any_work(tmp_path, cli):
    from av1tools.extract.aom import EncodeSettings, check_cpu_used

    out = tmp_path / "d"
    code, _, err = cli(["extract", "--seq", "carphone", "--mode", "inter", "--cpu-used", "9", "--out", out, "-q"])
    assert code in (1, 2) and not out.exists()
    one_line(err, "cpu-used 9", "0..6", "inter")
    for cpu in (7, 8, 9):
        with pytest.raises(ValueError, match=r"outside 0\.\.6"):
            EncodeSettings(mode="inter", cpu_used=cpu)
    with pytest.raises(ValueError, match=r"outside 0\.\.9"):
        check_cpu_used("intra", 10)
    check_cpu_used("intra", 9)
    check_cpu_used("inter", 6)


def test_good_quality_speeds_above_6_code_what_6_does(tmp_path, aom_tools):
    """Why the rule above: libaom 3.6.0's good-quality usage has no speed steps past 6."""
    clip = tiny_clip(tmp_path / "c.y4m", 7)
    streams = []
    for cpu in (6, 9):
        out = tmp_path / f"cpu{cpu}.ivf"
        args = ["--good", "--passes=1", "--end-usage=q", "--cq-level=40", f"--cpu-used={cpu}", "--limit=2"]
        subprocess.run(
            [str(aom_tools.aomenc), *args, "--ivf", "-o", str(out), str(clip)], check=True, capture_output=True
        )
        streams.append(out.read_bytes())
    assert streams[0] == streams[1]


def partition_zeroed(dataset):
    """Every partition label of one node size set to NONE, in place (h5py r+): the file
    keeps its size."""
    before = dataset.stat()
    with h5py.File(dataset, "r+") as f:
        labels = next(g["partition"] for g in f["blocks"].values() if g["partition"][:].any())
        labels[...] = 0
    assert dataset.stat().st_size == before.st_size
    return before


@pytest.mark.parametrize("restore_mtime", [False, True])
def test_a_shard_edited_in_place_is_refused_and_never_reblessed(tmp_path, aom_tools, cli, restore_mtime):
    out, args = two_groups(tmp_path, 40)
    assert cli(args)[0] == 0
    listed = manifest_of(out)["shards"]
    victim = out / sorted(listed)[0]
    before = partition_zeroed(victim)
    if restore_mtime:  # defeats the size + mtime fast path: only a full hash sees it
        os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert cli(["info", out])[0] == 0  # documented: the fast path trusts size and mtime
    else:
        code, _, err = cli(["info", out])
        assert code == 1
        one_line(err, victim.name, "changed since manifest.json listed it", "--overwrite")
        code, _, err = cli(["train", "--data", out, "--out", tmp_path / "r", "--epochs", "1", "-q"])
        assert code == 1 and not (tmp_path / "r").exists()
        one_line(err, victim.name, "changed since")
        code, _, err = cli(["info", victim])  # named on its own: still checked against its manifest
        assert code == 1 and victim.name in err
        code, _, err = cli(args)  # extract's rerun refuses it, before any work
        assert code == 1
        one_line(err, victim.name, "changed since manifest.json listed it", "--overwrite")
    code, _, err = cli(["info", out, "--verify"])
    assert code == 1
    one_line(err, victim.name, "changed since manifest.json listed it")
    if restore_mtime:
        assert cli(args)[0] == 0  # kept (its size and mtime are those listed) ...
    assert manifest_of(out)["shards"] == listed  # ... but never re-blessed: checksum and counts stay
    code, text, err = cli([*args, "--overwrite", "--json"])  # --overwrite hashes every listed shard
    assert code == 0, err
    status = {Path(s["dataset"]).name: s["status"] for s in json.loads(text)["shards"]}
    assert status[victim.name] == "redone" and set(status.values()) == {"redone", "kept"}
    assert cli(["info", out, "--verify"])[0] == 0
    assert manifest_of(out)["shards"][victim.name]["nodes"] == listed[victim.name]["nodes"]


def test_a_shard_missing_a_dataset_is_redone(tmp_path, aom_tools, cli):
    out, args = two_groups(tmp_path, 40, 50)
    assert cli(args)[0] == 0
    victim = out / sorted(manifest_of(out)["shards"])[0]
    with h5py.File(victim, "r+") as f:
        del f["blocks/16x16/partition"]
    for extra in ([], ["--overwrite"]):
        code, text, err = cli([*args, *extra, "--json"])
        assert code == 0, err
        status = {Path(s["dataset"]).name: s["status"] for s in json.loads(text)["shards"]}
        assert status[victim.name] == ("redone" if not extra else "kept")
    with h5py.File(victim) as f:
        assert "blocks/16x16/partition" in f
    assert len(manifest_of(out)["shards"]) == 4
    assert cli(["info", out, "--verify"])[0] == 0


def test_a_missing_dataset_is_named_cleanly(tmp_path, data_dir, cli):
    [src] = sorted(data_dir.glob("carphone*q30*.h5"))
    lone = tmp_path / src.name  # no manifest beside it: the reader itself finds the hole
    shutil.copy(src, lone)
    with h5py.File(lone, "r+") as f:
        del f["blocks/16x16/partition"]
    code, _, err = cli(["info", lone])
    assert code == 1
    assert err == f"av1tools: error: {lone}: cannot read blocks/16x16/partition (object 'partition' doesn't exist)\n"


BROKEN_MANIFESTS = {
    "a list": ("[1, 2]", "not an av1tools manifest (it holds an array, not an object)"),
    "an empty object": ("{}", 'not an av1tools manifest (no "format": "av1tools-manifest")'),
    "no shards": ('{"format": "av1tools-manifest", "version": 1, "splits": {}}', "no 'shards'"),
    "bad JSON": ('{"format": "av1tools-manifest", ', "not valid JSON"),
    "shards as a list": (
        '{"format": "av1tools-manifest", "version": 1, "shards": [], "splits": {}}',
        "'shards' is an array",
    ),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_MANIFESTS))
def test_a_broken_manifest_is_named_before_any_work(tmp_path, aom_tools, cli, kind):
    text, words = BROKEN_MANIFESTS[kind]
    out, args = two_groups(tmp_path, 40)
    out.mkdir()
    (out / "manifest.json").write_text(text)
    code, _, err = cli(args)
    assert code == 1 and not list(out.glob("*.h5")) and not list(out.glob("*.ivf"))
    one_line(err, out / "manifest.json", words)
    for cmd in (
        ["info", out],
        ["train", "--data", out, "--out", tmp_path / "r", "-q"],
        ["experiment", "transfer", "--data", out, "--out", tmp_path / "t", "--quick", "-q"],
    ):
        code, _, err = cli(cmd)
        assert code == 1
        one_line(err, out / "manifest.json", words)
    assert (out / "manifest.json").read_text() == text  # nothing rewritten over it


def test_a_manifest_entry_outside_the_directory_is_named_so(tmp_path, aom_tools, cli):
    out, args = two_groups(tmp_path, 40)
    assert cli(args)[0] == 0
    data = manifest_of(out)
    name = sorted(data["shards"])[0]
    data["shards"]["../../../../etc/passwd"] = data["shards"].pop(name)
    (out / "manifest.json").write_text(json.dumps(data))
    code, _, err = cli(["info", out])
    assert code == 1
    one_line(err, "'../../../../etc/passwd' names a file outside the dataset directory")
    assert "not listed" not in err


def test_an_out_that_is_not_a_directory_is_named_so(tmp_path, cli):
    code, _, err = cli([*EXTRACT, "--seq", "carphone", "--out", "/dev/null"])
    assert code == 1
    one_line(err, "/dev/null: not a directory")
    a_file = tmp_path / "f"
    a_file.write_text("x")
    code, _, err = cli([*EXTRACT, "--seq", "carphone", "--out", a_file / "sub"])
    assert code == 1
    one_line(err, f"{a_file / 'sub'}: cannot be created: {a_file} is not a directory")


def test_a_cache_that_is_a_file_is_named_so(tmp_path, cli, monkeypatch):
    cache = tmp_path / "cache"
    cache.write_text("not a directory")
    monkeypatch.setenv("AV1TOOLS_CACHE", str(cache))
    monkeypatch.delenv("AV1TOOLS_AOM_DIR", raising=False)
    code, _, err = cli([*EXTRACT, "--seq", "carphone", "--out", tmp_path / "d"])
    assert code == 1
    one_line(err, f"{cache}: the av1tools cache (AV1TOOLS_CACHE) is not a directory")
    code, text, _ = cli(["doctor"])
    assert code == 1 and f"{cache}: the av1tools cache (AV1TOOLS_CACHE) is not a directory" in text
    assert "not built" not in text


@pytest.mark.parametrize(
    "script, words",
    [
        ("exit 0", "aomenc exited without error but wrote no bitstream"),
        ("printf 'this is no IVF stream, only forty-odd bytes of text\\n'", "aomenc's output is not a readable IVF"),
    ],
)
def test_an_encoder_that_writes_no_bitstream_is_named_so(tmp_path, aom_tools, cli, script, words):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "aomenc").write_text(f"#!/bin/sh\n{script}\n")
    (fake / "aomenc").chmod(0o755)
    for tool in ("aomdec", "inspect"):
        (fake / tool).symlink_to(getattr(aom_tools, tool))
    clip, out = tiny_clip(tmp_path / "c.y4m", 8), tmp_path / "d"
    code, _, err = cli(["--aom-dir", fake, *EXTRACT, "--seq", clip, "--out", out])
    assert code == 1 and "exit -9" not in err
    one_line(err, words)
    assert not list(out.glob("*.h5")) and not list(out.glob("*.ivf"))


def test_an_image_that_does_not_decode_is_named_whole(tmp_path, cli):
    text = tmp_path / "text.png"
    text.write_text("hello, I am not a PNG\n")
    code, _, err = cli([*EXTRACT, "--seq", text, "--out", tmp_path / "d"])
    assert code == 1 and err == f"av1tools: error: {text}: cannot decode as an image\n"
    empty = tmp_path / "empty.png"
    empty.touch()
    code, _, err = cli([*EXTRACT, "--seq", empty, "--out", tmp_path / "d"])
    assert code == 1 and err == f"av1tools: error: {empty}: cannot decode as an image (the file is empty)\n"


SPIN = """
import os, signal, sys, time, weakref
from av1tools.cli import cli, main

@cli.command("spin")
def spin():
    class Freed:
        pass

    def freed(_):  # a weakref callback: what it raises, Python prints and drops
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(10000))  # the handler runs here, at a bytecode boundary of the callback

    obj = Freed()
    ref = weakref.ref(obj, freed)
    del obj
    time.sleep(5)
    print("not stopped", ref)

main(["spin"])
"""


def test_a_sigterm_landing_in_a_weakref_callback_still_stops_the_run():
    """h5py frees objects (weakref callbacks) all the time: a SIGTERM that lands there was
    dropped, and the run went on to exit 0."""
    done = subprocess.run([sys.executable, "-c", SPIN], capture_output=True, text=True, timeout=60)
    assert done.returncode == 143 and "terminated" in done.stderr, done.stderr
    assert "not stopped" not in done.stdout and "Exception ignored" not in done.stderr


def test_eval_encode_refuses_frames_too_small_to_score(cli, tmp_path, aom_tools):
    clip = tiny_clip(tmp_path / "narrow.y4m", 9, frames=2, size=(8, 48))
    code, out, err = cli(["eval-encode", "--seq", clip, "--out", tmp_path / "r", "--frames", "1", "-q"])
    assert code == 1 and err.count("\n") == 1 and "narrow: 8x48 is too small for SSIM" in err
    assert not (tmp_path / "r").exists() and not out


def test_a_study_with_no_measured_baseline_fails():
    from av1tools.eval.encode.measure import EncodeRun
    from av1tools.eval.encode.study import EvalEncodeError, _check_measured

    failed = [
        EncodeRun("baseline", "baseline", "c", q, 3, ok=False, error="aomenc failed (exit 1): x") for q in (23, 31)
    ]
    with pytest.raises(EvalEncodeError, match="no baseline encode was measured"):
        _check_measured(failed)
    _check_measured(failed + [EncodeRun("baseline", "baseline", "c", 39, 3)])  # one measured: a partial study
