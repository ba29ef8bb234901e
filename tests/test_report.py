"""The rendering layer: number formats, the BD-rate lookup, and a partial study that says
in its verdict which runs failed."""

from av1tools.report import bd, pct, render_markdown, signed


def test_number_formats():
    assert pct(0.1234) == "12.3%" and pct(None) == "n/a" and pct(float("nan")) == "n/a"
    assert signed(1.234) == "+1.23%" and signed(-0.5, 1, " pts") == "-0.5 pts" and signed(None) == "n/a"


def test_bd_reads_a_rows_nested_bd_rate():
    row = {"bd_rate": {"psnr_y": {"cubic": 1.5, "pchip": 1.4}}}
    assert bd(row) == 1.5 and bd(row, "psnr_y", "pchip") == 1.4 and bd(row, "ssim_y") is None and bd({}) is None


def test_a_partial_study_says_which_runs_failed():
    from dataclasses import asdict

    from av1tools.eval.encode.measure import EncodeRun

    quality = {"psnr_y": 40.0, "psnr_u": 41.0, "psnr_v": 42.0, "ssim_y": 0.9}
    runs = [
        asdict(EncodeRun("baseline", "baseline", "c", 23, 3, kbps=100.0, quality=quality)),
        asdict(EncodeRun("cpu-used 6", "preset", "c", 31, 6, ok=False, error="aomenc failed (exit 1): boom")),
    ]
    settings = dict(
        clips=[{"name": "c", "width": 64, "height": 64, "bit_depth": 8, "frames": 1}],
        mode="intra",
        cpu_used=3,
        sb_size=64,
        cq_levels=[23, 31],
        repeat=1,
        encoder={"label": "x"},
        exact=True,
        model=None,
        threads=1,
        presets=[6],
        machine="m",
        verdicts=["stock"],
        guided_features="stock",
        heuristic=None,
        points=[],
        warmup_seconds={},
    )
    r = {"settings": settings, "verdicts": {}, "instrument": {}, "runs": runs, "simulation": {"note": "none"}}
    text = render_markdown("encode", r, [])
    assert "**1 of 2 encodes failed**" in text and "cpu-used 6 on c q31" in text and "boom" in text
