"""The main job's --quick mode, end to end on tiny clips, and its resumption."""

import json

import pytest
from conftest import ENCODE_SECTIONS as SECTIONS

from av1tools.cli import main


def test_quick_demo_writes_every_report(tmp_path, capsys, aom_tools):
    out = tmp_path / "demo"
    with pytest.raises(SystemExit) as e:
        main(["demo", "--quick", "--out", str(out), "--json"])
    assert e.value.code == 0
    head = json.loads(capsys.readouterr().out)
    assert set(head["encode"]) == {"model top-1", "cpu-used 4"}  # the stock verdict: what a user gets
    assert set(head["encode_superblock"]) == {"model cover 0.9", "cpu-used 4"}
    assert set(head["encode_ra"]) == {"model cover 0.8", "cpu-used 6"}  # random access, the shipped ra model
    ra = json.loads((out / "reports" / "encode-ra" / "report.json").read_text())
    assert ra["settings"]["mode"] == "ra" and ra["instrument"]["coffee-pan"]["oracle_identical"] == 4
    for stage in ("stage1", "stage2", "stage3_rect", "stage3_ab", "end_to_end"):
        assert 0.0 <= head["heldout_macro_f1"][stage] <= 1.0
    report = out / "reports" / "encode"
    md, page = (report / "report.md").read_text(), (report / "report.html").read_text()
    for section in SECTIONS:
        assert f"## {section}" in md and f"<h2>{section}</h2>" in page
    verdicts = json.loads((report / "report.json").read_text())["verdicts"]
    assert verdicts["stock"]["rows"][0]["label"] == "baseline"
    assert [r["label"] for r in verdicts["exact"]["rows"]] == ["baseline", "oracle"]
    f1 = (out / "reports" / "f1" / "evaluation.md").read_text()
    assert "| end-to-end (10 types) |" in f1 and "## Whole trees" in f1
    for name in ("stage1.pt", "stage2.pt", "stage3_rect.pt", "stage3_ab.pt", "metrics.json"):
        assert (out / "runs" / "demo" / name).exists()

    # a second run reuses everything: same numbers, nothing retrained
    mtime = (out / "runs" / "demo" / "stage1.pt").stat().st_mtime_ns
    with pytest.raises(SystemExit) as e:
        main(["demo", "--quick", "--out", str(out), "--json"])
    assert e.value.code == 0
    assert json.loads(capsys.readouterr().out) == head
    assert (out / "runs" / "demo" / "stage1.pt").stat().st_mtime_ns == mtime
