"""evaluate and eval-encode end to end on a tiny embedded clip, with a real (tiny) model."""

import json

from conftest import ENCODE_SECTIONS as SECTIONS


def test_evaluate_writes_per_stage_f1(trained_run, data_dir, tmp_path, cli):
    model, _ = trained_run
    code, out, err = cli(["evaluate", "--model", str(model), "--data", str(data_dir), "--out", str(tmp_path), "--json"])
    assert code == 0, err
    head = json.loads(out)["macro_f1"]
    assert set(head) == {"stage1", "stage2", "stage3_rect", "stage3_ab", "end_to_end", "identical_tree_share"}
    result = json.loads((tmp_path / "evaluation.json").read_text())
    assert set(result["end_to_end"]["by_size"]) == {"64", "32", "16", "8"}
    assert set(result["end_to_end"]["by_cq_level"]) == {"30", "50"}
    assert result["trees"]["superblocks"] > 0
    assert len(result["end_to_end"]["confusion"]) == 10
    assert (tmp_path / "confusion_end_to_end.png").exists() and "## Whole trees" in (
        tmp_path / "evaluation.md"
    ).read_text()


def test_eval_encode_report(trained_run, tmp_path, cli):
    model, _ = trained_run
    code, out, err = cli(
        [
            "eval-encode",
            "--seq",
            "carphone",
            "--model",
            str(model),
            "--out",
            str(tmp_path),
            "--frames",
            "2",
            "--repeat",
            "1",
            "--cpu-used",
            "5",
            "--presets",
            "1",
            "--json",
        ]
    )
    assert code == 0, err
    result = json.loads(out)
    kinds = {r["kind"] for r in result["rows"]}
    assert kinds == {"baseline", "oracle", "model", "preset"}
    for r in result["rows"]:
        assert not r["failed"] and r["cq_levels"] == [23, 31, 39, 47]
        assert r["bd_rate_psnr_y_cubic"] is not None
    oracle = next(r for r in result["rows"] if r["kind"] == "oracle")
    assert oracle["partition_mismatches"] == 0 and oracle["time_saving_encoder"] > 0.2
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["calibration"]["runs"] == 8
    md, page = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()
    for section in SECTIONS:
        assert f"## {section}" in md and f"<h2>{section}</h2>" in page
    for label in ("baseline", "oracle", "model top-1", "cpu-used 6"):
        assert f"| {label} |" in md


def test_eval_encode_bad_sequence(tmp_path, cli):
    code, _, err = cli(["eval-encode", "--seq", str(tmp_path / "none.y4m"), "--out", str(tmp_path)])
    assert code == 1 and "none.y4m: no such file" in err and err.count("\n") == 1
