"""The one predictor interface and the family registry: loading by name or run directory,
what a wrong --model is told, and options of one family refused for the other."""

import shutil

import numpy as np
import pytest

from av1tools.model.common import CheckpointError
from av1tools.model.families import FAMILIES, ModelNotFound, family_of, load_predictor, run_directory
from av1tools.model.predictor import FramePrediction


def test_default_is_the_shipped_superblock_model():
    predictor = load_predictor("default", device="cpu")
    assert predictor.kind == "superblock" and family_of(run_directory("default")) is FAMILIES["superblock"]
    luma = np.random.default_rng(1).integers(0, 256, (72, 100)).astype(np.uint8)
    pred = predictor.predict_frame(luma, 255.0, 120)
    assert isinstance(pred, FramePrediction)
    np.testing.assert_allclose(pred.probs.sum(axis=1), 1.0, rtol=1e-5)


def test_a_staged_run_loads_as_the_staged_family(trained_run):
    run, _ = trained_run
    predictor = load_predictor(run, device="cpu")
    assert predictor.kind == "staged" and family_of(run) is FAMILIES["staged"]
    assert load_predictor(run / "stage1.pt", device="cpu").kind == "staged"  # its checkpoint names the run too


def test_what_a_wrong_model_is_told(tmp_path):
    with pytest.raises(ModelNotFound, match="x.pt: no such run directory"):
        run_directory(tmp_path / "x.pt")
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(ModelNotFound, match="notes.txt: a file; --model takes a run directory"):
        run_directory(other)
    with pytest.raises(ModelNotFound, match="not a trained run .it holds no stage1.pt or superblock.pt"):
        family_of(tmp_path)


def test_a_truncated_superblock_checkpoint_is_named_without_a_cut_word(tmp_path):
    from av1tools.zoo import default_model_dir

    bad = tmp_path / "bad"
    shutil.copytree(default_model_dir(), bad)
    (bad / "superblock.pt").write_bytes((default_model_dir() / "superblock.pt").read_bytes()[:5000])
    with pytest.raises(CheckpointError) as e:
        load_predictor(bad, device="cpu")
    message = str(e.value)
    assert "superblock.pt: corrupted or not a torch checkpoint" in message
    inner = message[message.index("(") + 1 : message.rindex(")")]
    assert inner.endswith("...") or len(inner) < 100  # cut at a word boundary, never mid-word


def test_an_option_of_the_other_family_is_refused(cli, tmp_path):
    code, _, err = cli(["train", "--data", tmp_path, "--out", tmp_path / "r", "--stream", "--widths", "8,8,8,8,8"])
    assert code == 2 and "--widths, --stream: not an option of the staged model" in err
    code, _, err = cli(
        ["train", "--arch", "superblock", "--data", tmp_path, "--out", tmp_path / "r", "--balance", "focal"]
    )
    assert code == 2 and "--balance: not an option of the superblock model" in err
    assert not (tmp_path / "r").exists()


def test_predict_names_a_model_that_is_not_a_run(cli, tmp_path):
    code, _, err = cli(
        ["predict", "--model", tmp_path / "x.pt", "--seq", "carphone", "--cq-level", "30", "--out", tmp_path / "p.h5"]
    )
    assert code == 1 and "x.pt: no such run directory" in err and err.count("\n") == 1
