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
            model,
            "--out",
            tmp_path,
            "--frames",
            "2",
            "--repeat",
            "1",
            "--cpu-used",
            "5",
            "--presets",
            "6",
            "--top-k",
            "1",
            "--coverage",
            "0.9",
            "--calibration",
            "coffee-pan",
            "--bracket",
            "--json",
        ]
    )
    assert code == 0, err
    result = json.loads(out)["verdicts"]
    assert list(result) == ["stock", "exact"]  # the headline first
    for verdict, kinds in (
        ("stock", {"baseline", "model", "preset"}),
        ("exact", {"baseline", "oracle", "model", "preset"}),
    ):
        assert {r["kind"] for r in result[verdict]["rows"]} == kinds
        for r in result[verdict]["rows"]:
            assert not r["failed"] and r["cq_levels"] == [23, 31, 39, 47]
            assert r["bd_rate"]["psnr_y"]["cubic"] is not None
        assert set(result[verdict]["ladder"]) >= {"points", "model top-1", "model cover 0.9"}
        assert set(result[verdict]["best"]["model"]) == {"0.5", "1", "2"}
    exact = {r["label"]: r for r in result["exact"]["rows"]}
    assert exact["oracle"]["bd_rate"]["psnr_y"]["cubic"] == 0.0 and exact["oracle"]["time_saving_encoder"] > 0.2
    report = json.loads((tmp_path / "report.json").read_text())
    instrument = report["instrument"]["carphone"]
    assert instrument["oracle_identical"] == 4 and instrument["oracle_mismatched_nodes"] == 0
    assert report["simulation"]["calibration_clip"] == "coffee-pan"
    assert set(report["simulation"]["stock"]["cost_models"]) == {"23", "31", "39", "47"}
    # the scales come from the calibration clip's guided encodes (top-1 and cover 0.9 at 4 cq-levels)
    assert report["simulation"]["stock"]["scales"]["encodes"] == 8
    assert report["simulation"]["exact"]["scales"]["encodes"] == 12  # the oracle too
    for r in report["runs"]:  # every baseline timed before and after its runs, every round
        assert len(r["closing_cpu_seconds_all"]) == (len(r["cpu_seconds_all"]) if r["kind"] == "baseline" else 0)
    baselines = [r["name"] for r in report["runs"] if r["kind"] == "baseline"]
    assert all((tmp_path / "encodes" / f"{name}.nodes").exists() for name in baselines)
    for label in ("oracle", "model top-1", "model cover 0.9"):
        assert exact[label]["simulation_error"] is not None
    md, page = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()
    for section in SECTIONS:
        assert f"## {section}" in md and f"<h2>{section}</h2>" in page
    for label in ("baseline", "oracle", "model top-1", "cpu-used 6"):
        assert f"| {label} |" in md
    assert "libaom's presets" in md and "AV1TOOLS_EXACT_GUIDE=1" in md and "Largest error:" in md


def test_eval_encode_refuses_bad_options_before_encoding(tmp_path, cli, aom_tools):
    from av1tools.extract.aom import reference_tools

    for presets, words in (
        ("-9", "cpu-used -9 is outside 0..9"),
        ("2", "faster than the baseline's cpu-used 3"),
        ("4,4", "presets named more than once: [4]"),
    ):
        code, _, err = cli(["eval-encode", "--seq", "carphone", "--out", tmp_path / "a", f"--presets={presets}"])
        assert code == 1 and words in err and err.count("\n") == 1 and not (tmp_path / "a").exists(), err
    code, _, err = cli(
        ["eval-encode", "--seq", "carphone", "--out", tmp_path / "a", "--mode", "inter", "--presets", "6,7,8"]
    )
    assert code == 1 and "cpu-used 7 is outside 0..6" in err and "exactly as 6" in err
    for coverage, words in (("0.7,128=0.9", "at most once, not 128"), ("0.7,64", "is not a coverage")):
        code, _, err = cli(["eval-encode", "--seq", "carphone", "--out", tmp_path / "a", "--coverage", coverage])
        assert code != 0 and words in err and "Traceback" not in err and not (tmp_path / "a").exists(), err
    code, _, err = cli(["eval-encode", "--seq", "carphone", "--out", tmp_path / "b", "--calibration", "carphone"])
    assert code == 1 and "also evaluated" in err and not (tmp_path / "b").exists()
    unpatched = reference_tools().root
    code, _, err = cli(["--aom-dir", unpatched, "eval-encode", "--seq", "carphone", "--out", tmp_path / "c"])
    assert code == 1 and "ignores partition maps" in err and err.count("\n") == 1
    assert not (tmp_path / "c").exists()


def test_eval_encode_bad_sequence(tmp_path, cli):
    code, _, err = cli(["eval-encode", "--seq", str(tmp_path / "none.y4m"), "--out", str(tmp_path)])
    assert code == 1 and "none.y4m: no such file" in err and err.count("\n") == 1


def test_the_aom_ctc_conditions_give_every_ctc_metric(tmp_path, cli, aom_tools):
    from av1tools.eval.metrics import METRICS_FOR_BD

    args = ["eval-encode", "--seq", "bigbuckbunny-cif", "--out", tmp_path, "--conditions", "aom-ctc", "--frames", "2"]
    args += ["--cpu-used", "5", "--presets", "6", "--verdict", "stock", "--repeat", "1", "--calibration", "", "--json"]
    code, out, err = cli(args)
    assert code == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["settings"]["cq_levels"] == [21, 27, 34, 40, 46, 52]  # nearest to the AI qindex points 85..210
    assert report["settings"]["clips"][0]["frames"] == 2  # --frames shortens the CTC's 30
    quality = next(r["quality"] for r in report["runs"] if r["kind"] == "baseline")
    assert set(METRICS_FOR_BD) <= set(quality) and 0 < quality["vmaf"] <= 100
    preset = {r["label"]: r for r in report["verdicts"]["stock"]["rows"]}["cpu-used 6"]
    assert set(preset["bd_rate"]) == set(METRICS_FOR_BD)
    assert set(preset["bd_rate"]["psnr_y"]) == {"cubic", "pchip", "avm"} and preset["bd_rate"]["psnr_y"]["avm"] > 0
    md = (tmp_path / "report.md").read_text()
    assert "## BD-rate per metric" in md and " ms_ssim_y_db |" in md and " vmaf_neg |" in md


def test_a_dynamic_superblock_size_is_refused_for_guided_runs(tmp_path, cli, aom_tools):
    code, _, err = cli(["eval-encode", "--seq", "carphone", "--out", tmp_path / "a", "--sb-size", "dynamic"])
    assert code == 1 and err.count("\n") == 1 and "need 64x64 superblocks" in err and "no 128 level" in err
    assert not (tmp_path / "a").exists()


def test_native_inference_measures_what_the_decision_file_measures(tmp_path, cli, aom_tools):
    """The model inside the encoder codes exactly what its decision file codes; only where the
    model's time is counted differs (inside the encoder's CPU time, given by the patch's timers)."""
    reports = {}
    for inference in ("native", "python"):
        args = [
            "eval-encode",
            "--seq",
            "carphone",
            "--model",
            "default",
            "--out",
            tmp_path / inference,
            "--frames",
            "2",
        ]
        args += ["--cpu-used", "5", "--presets", "6", "--verdict", "stock", "--repeat", "1", "--calibration", ""]
        args += ["--coverage", "0.8", "--inference", inference, "-q"]
        code, _, err = cli(args)
        assert code == 0, err
        reports[inference] = json.loads((tmp_path / inference / "report.json").read_text())
    native, python = reports["native"], reports["python"]
    assert native["settings"]["inference"] == "native" and python["settings"]["inference"] == "python"
    for cq in (23, 31, 39, 47):
        name = f"carphone_q{cq}_model_cover_0.8.ivf"
        assert (tmp_path / "native" / "encodes" / name).read_bytes() == (
            tmp_path / "python" / "encodes" / name
        ).read_bytes()
    rows = {v: {r["label"]: r for r in reports[v]["verdicts"]["stock"]["rows"]} for v in reports}
    assert rows["native"]["model cover 0.8"]["bd_rate"] == rows["python"]["model cover 0.8"]["bd_rate"]
    runs = [r for r in native["runs"] if r["kind"] == "model"]
    assert all(r["network_seconds"] > 0 and r["inference_cpu_seconds"] == 0 and r["map_nodes"] > 0 for r in runs)
    assert 0 < rows["native"]["model cover 0.8"]["inference_share"] < 0.05


def test_compare_features_measures_both_feature_sets_in_one_study(tmp_path, cli, aom_tools):
    """The other guided speed features' curve beside the model's, in the same study: its own
    rows, best points and ladder verdicts, run with the exact switch (the instrument's speed
    features), so its encodes differ from the model's stock-feature ones."""
    args = ["eval-encode", "--seq", "carphone", "--model", "default", "--out", tmp_path, "--frames", "2"]
    args += ["--cpu-used", "5", "--presets", "6", "--verdict", "stock", "--repeat", "1"]
    args += ["--coverage", "0.8", "--compare-features", "-q"]
    code, _, err = cli(args)
    assert code == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    verdict = report["verdicts"]["stock"]
    rows = {r["label"]: r for r in verdict["rows"]}
    assert rows["exact features: model cover 0.8"]["source"] == "exact features"
    assert set(verdict["best"]) == {"model", "exact features"}
    assert "exact features: model cover 0.8" in verdict["ladder"]
    assert report["settings"]["compare_features"] is True
    # no calibration clip by default: every guided run simulated from its own clip's baseline
    # node costs as they are (scales 1)
    assert report["simulation"]["calibration_clip"] is None and report["settings"]["calibration"] is None
    scales = report["simulation"]["stock"]["scales"]
    assert scales["guided"] == 1.0 == scales["unguided"]
    assert all(r["simulated_time_saving"] is not None for r in report["runs"] if r["kind"] in ("model", "features"))
    assert "as they are (no calibration clip: scales 1)" in (tmp_path / "report.md").read_text()
    names = [
        f"carphone_q{cq}_{label}.ivf"
        for cq in (23, 47)
        for label in ("model_cover_0.8", "exact_features_model_cover_0.8")
    ]
    streams = [(tmp_path / "encodes" / n).read_bytes() for n in names]
    assert streams[0] != streams[1] or streams[2] != streams[3]


def test_random_access_studies_guide_every_coded_frame(tmp_path, cli, aom_tools):
    """In random access the map covers every frame the encoder codes, hidden alt-refs too (their
    pictures from the baseline's frame records), and the exact oracle is the baseline."""
    from av1tools.encoder import read_stats

    args = ["eval-encode", "--seq", "carphone", "--model", "default", "--out", tmp_path, "--mode", "ra"]
    args += ["--frames", "9", "--cpu-used", "5", "--presets", "6", "--repeat", "1", "--calibration", ""]
    args += ["--coverage", "0.8", "--inference", "python", "--key-frames-searched", "-q"]
    code, _, err = cli(args)
    assert code == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["instrument"]["carphone"]["oracle_identical"] == 4
    maps = (tmp_path / "encodes" / "carphone_q31_model_cover_0.8.map").read_text().splitlines()[1:]
    assert any(line.split()[1] == "1" for line in maps)  # entries of hidden frames
    counters = read_stats(tmp_path / "encodes" / "carphone_q31_model_cover_0.8.stats")
    assert any(not c.show_frame and c.guided_nodes for c in counters)
    rows = report["verdicts"]["stock"]["rows"]
    assert {r["kind"] for r in rows} == {"baseline", "model", "preset", "keysearch"}
    # the key frame (coded first) keeps libaom's search where its curve says so, and only there
    keyed = read_stats(tmp_path / "encodes" / "carphone_q31_key_frames_searched_model_cover_0.8.stats")
    assert keyed[0].guided_nodes == 0 < counters[0].guided_nodes
    assert [c.guided_nodes > 0 for c in keyed[1:]] == [c.guided_nodes > 0 for c in counters[1:]]
    assert {r["source"] for r in rows if r["kind"] == "keysearch"} == {"key frames searched"}
