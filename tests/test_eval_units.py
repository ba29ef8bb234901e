"""Evaluation arithmetic on hand-made inputs: BD-rate, metrics, decision maps, cost model, reports."""

import bjontegaard
import numpy as np
import pytest
from conftest import ENCODE_SECTIONS as SECTIONS

from av1tools.eval.bdrate import bd_rate
from av1tools.eval.encode_eval import EncodeRun, summarise
from av1tools.eval.guided import MapEntry, choose_mask, prediction_entries, read_stats, write_partition_map
from av1tools.eval.speedup import calibrate, exhaustive_pixels, guided_pixels, simulated_time_saving
from av1tools.model.metrics import confusion, macro_f1, per_class
from av1tools.model.predict import FramePrediction
from av1tools.partition import Partition
from av1tools.report import write_report
from av1tools.report.plots import encode_plots

RATES = [100.0, 200.0, 400.0, 800.0]
PSNR = [30.0, 33.0, 36.0, 39.0]


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_rate_identical_curves_is_zero(method):
    assert bd_rate(RATES, PSNR, RATES, PSNR, method) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_rate_of_a_known_shift(method):
    assert bd_rate(RATES, PSNR, [r * 1.1 for r in RATES], PSNR, method) == pytest.approx(10.0, abs=1e-9)
    assert bd_rate(RATES, PSNR, [r * 0.8 for r in RATES], PSNR, method) == pytest.approx(-20.0, abs=1e-9)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_rate_matches_the_bjontegaard_package(method):
    test_rates, test_psnr = [95.0, 210.0, 380.0, 850.0], [30.2, 33.1, 35.8, 39.4]
    ours = bd_rate(RATES, PSNR, test_rates, test_psnr, method)
    theirs = bjontegaard.bd_rate(RATES, PSNR, test_rates, test_psnr, method=method)
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_bd_rate_without_overlap_is_nan():
    assert np.isnan(bd_rate(RATES, PSNR, RATES, [p + 20 for p in PSNR]))


def test_metrics_on_hand_built_predictions():
    truth = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 2, 2])
    m = confusion(truth, pred, 3)
    assert m.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    pc = per_class(m)
    np.testing.assert_allclose(pc["precision"], [1.0, 0.5, 0.5])
    np.testing.assert_allclose(pc["recall"], [2 / 3, 0.5, 1.0])
    f1 = [0.8, 0.5, 2 / 3]
    np.testing.assert_allclose(pc["f1"], f1)
    assert macro_f1(m) == pytest.approx(np.mean(f1))
    # a class that never occurs nor is predicted does not dilute the macro average
    assert macro_f1(confusion(truth, pred, 5)) == pytest.approx(np.mean(f1))


def test_greedy_decision_goes_stage_by_stage():
    from av1tools.model.stages import combine, greedy_decision
    from av1tools.partition import allowed_mask

    probs = {
        "stage1": np.array([[0.45, 0.55]]),
        "stage2": np.array([[0.3, 0.4, 0.3]]),
        "stage3_rect": np.array([[0.1, 0.2, 0.3, 0.4]]),
        "stage3_ab": np.array([[0.25] * 4]),
    }
    allowed = allowed_mask(32)[None]
    assert combine(probs).argmax() == Partition.NONE  # the product favours the big class
    assert greedy_decision(probs, allowed)[0] == Partition.VERT_4
    assert greedy_decision(probs, allowed_mask(8)[None])[0] == Partition.VERT  # no 4-way at 8x8
    edge = np.zeros((1, 10), bool)
    edge[0, [Partition.HORZ, Partition.SPLIT]] = True
    assert greedy_decision(probs, edge)[0] == Partition.HORZ


def test_choose_mask():
    probs = np.array([0.5, 0.1, 0.05, 0.3, 0.05, 0, 0, 0, 0, 0])
    assert choose_mask(probs) == 1 << Partition.NONE
    assert choose_mask(probs, top_k=2) == (1 << Partition.NONE) | (1 << Partition.SPLIT)
    assert choose_mask(probs, threshold=0.09) == 0b1011
    assert choose_mask(probs, threshold=0.99) == 1  # the most probable always stays
    assert choose_mask(probs, top_k=10) == 0b11111  # zero-probability types never allowed
    assert choose_mask(probs, decision=Partition.VERT) == 1 << Partition.VERT
    assert choose_mask(probs, top_k=2, decision=Partition.VERT) == (1 << Partition.VERT) | 1


def test_prediction_entries_follow_allowed_splits(tmp_path):
    probs = np.zeros((5, 10))
    probs[0, Partition.SPLIT] = 1  # the 64x64 root splits
    probs[1:, Partition.NONE] = 1
    pred = FramePrediction(
        3,
        np.array([0, 0, 32, 0, 32]),
        np.array([0, 0, 0, 32, 32]),
        np.array([64, 32, 32, 32, 32]),
        probs,
        probs.argmax(1).astype(np.uint8),
    )
    entries = prediction_entries([pred], 64)
    assert [(e.x, e.y, e.size, e.mask) for e in entries] == [
        (0, 0, 64, 8),
        (0, 0, 32, 1),
        (32, 0, 32, 1),
        (0, 32, 32, 1),
        (32, 32, 32, 1),
    ]
    pred.decision[0] = Partition.NONE  # now the root stays whole: its children are never reached
    assert [e.mask for e in prediction_entries([pred], 64)] == [1]
    path = tmp_path / "m.map"
    assert write_partition_map(path, entries) == 5
    lines = path.read_text().splitlines()
    assert lines[0] == "av1tools-partition-map 1" and lines[2] == "3 0 0 0 32 1"
    with pytest.raises(ValueError):
        write_partition_map(path, [MapEntry(0, 0, 0, 64, 0)])


def test_cost_model():
    # 64x64 frame, sb 64: exhaustive = one 64 node (9 types) + 4x32 (9) + 16x16 (9) + 64x8 (3)
    assert exhaustive_pixels(64, 64, 64) == 9 * 4096 + 4 * 9 * 1024 + 16 * 9 * 256 + 64 * 3 * 64
    forced = [MapEntry(0, 0, 0, 64, 1 << Partition.SPLIT)] + [
        MapEntry(0, x, y, 32, 1 << Partition.HORZ) for y in (0, 32) for x in (0, 32)
    ]
    assert guided_pixels(forced, 64, 64) == 4 * 1024
    runs = [
        {"cpu_seconds": 1.0 + 2e-6 * p, "frames": 10, "mode_pixels": p, "exhaustive_pixels": 4e6, "baseline": b}
        for p, b in ((1e6, True), (2e5, False), (1.2e6, True), (3e5, False))
    ]
    cal = calibrate(runs)
    assert cal.seconds_per_unit == pytest.approx(2e-6)
    assert cal.fixed_per_frame == pytest.approx(1.0 / 10 / 2e-6)
    assert cal.rho == pytest.approx((0.25 + 0.3) / 2)
    assert simulated_time_saving(cal.rho * 4e6, 10, 4e6, cal) == pytest.approx(0.0)


def test_read_stats(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("0 1 0 85 120 300 40960\n1 0 1 10 12 30 4096\n")
    a, b = read_stats(p)
    assert (a.display_index, a.show_frame, a.nodes, a.mode_pixels) == (0, True, 85, 40960)
    assert not b.show_frame


def _run(label, kind, cq_level, kbps, psnr, cpu, **kw):
    r = EncodeRun(
        label,
        kind,
        cq_level,
        3,
        kbps=kbps,
        cpu_seconds=cpu,
        cpu_seconds_all=[cpu],
        quality={"psnr_y": psnr, "psnr_u": psnr + 2, "psnr_v": psnr + 3, "ssim_y": psnr / 50, "frames": 2},
        counters={"mode_pixels": int(cpu * 1e6), "mode_searches": 10},
        **kw,
    )
    return r


def test_report_renders_all_sections(tmp_path):
    runs = []
    for cq, rate, psnr in zip((23, 31, 39, 47), RATES[::-1], PSNR[::-1]):
        runs += [
            _run("baseline", "baseline", cq, rate, psnr, 2.0),
            _run("oracle", "oracle", cq, rate * 1.01, psnr, 0.5, partition_mismatches=0, map_nodes=100),
            _run(
                "model top-1",
                "model",
                cq,
                rate * 1.03,
                psnr - 0.05,
                0.6,
                inference_cpu_seconds=0.2,
                simulated_search_work=3e5,
                map_nodes=90,
            ),
            _run("cpu-used 4", "preset", cq, rate * 1.02, psnr, 1.0),
        ]
    runs.append(EncodeRun("cpu-used 5", "preset", 23, 5, ok=False, error="aomenc failed (exit 1): boom"))
    report = summarise(
        runs,
        2,
        4_000_000,
        dict(
            sequence="clip",
            width=64,
            height=64,
            bit_depth=8,
            frames=2,
            mode="intra",
            cpu_used=3,
            sb_size=64,
            cq_levels=[23, 31, 39, 47],
            repeat=1,
            encoder={"label": "libaom test build"},
            points=["model top-1"],
            presets=[4, 5],
            decision="product",
            model="runs/x",
            machine="test",
        ),
    )
    rows = {r["label"]: r for r in report["rows"]}
    assert rows["oracle"]["bd_rate_psnr_y_cubic"] == pytest.approx(1.0, abs=0.01)
    assert rows["model top-1"]["time_saving_encoder"] == pytest.approx(0.7)
    assert rows["model top-1"]["time_saving_end_to_end"] == pytest.approx(0.6)
    assert rows["cpu-used 5"]["failed"] == ["q23: aomenc failed (exit 1): boom"]
    paths = write_report("encode", report, tmp_path, "test", encode_plots)
    md, page = paths["md"].read_text(), paths["html"].read_text()
    for section in SECTIONS:
        assert f"## {section}" in md and f"<h2>{section}</h2>" in page
    assert "boom" in md and "data:image/png;base64," in page
    assert (tmp_path / "rd_curves.png").stat().st_size > 1000 and (tmp_path / "ts_vs_bdrate.png").exists()
