"""Integration: the real aomenc and inspect on a few frames of real and synthetic clips."""

import subprocess
import sys

import h5py
import numpy as np
import pytest
from conftest import extract_quietly

from av1tools.extract.aom import EncodeSettings, encode_and_inspect, run_encoder
from av1tools.extract.dataset import read_summary
from av1tools.extract.ivf import coded_frames, decode_frames
from av1tools.extract.sequences import sample_path
from av1tools.extract.y4m import Y4MReader
from av1tools.partition import NODE_SIZES, Node, Partition, leaf_blocks, mi_grid_shape, paint_grid

FRAMES = 3


@pytest.fixture(scope="module")
def carphone_sets(aom_tools, tmp_path_factory):
    out = tmp_path_factory.mktemp("extract")
    return extract_quietly(["carphone"], out, [24, 48], cpu_used=5, frames=FRAMES).shards


def nodes_of_frame(f: h5py.File, frame: int) -> list[Node]:
    nodes = []
    for size in NODE_SIZES:
        name = f"blocks/{size}x{size}"
        if name not in f:
            continue
        g = f[name]
        sel = g["display_index"][:] == frame
        nodes += [
            Node(int(x), int(y), size, Partition(int(p)))
            for x, y, p in zip(g["x"][sel], g["y"][sel], g["partition"][sel])
        ]
    return nodes


def test_two_qps_give_two_datasets(carphone_sets):
    assert len(carphone_sets) == 2
    q = [read_summary(r.dataset).attrs.cq_level for r in carphone_sets]
    assert q == [24, 48]
    splits = [read_summary(r.dataset).counts[64][Partition.SPLIT] for r in carphone_sets]
    assert splits[0] >= splits[1]  # a finer quantiser splits at least as often


@pytest.fixture(scope="module")
def sb128_set(aom_tools, tmp_path_factory):
    return extract_quietly(
        ["coffee-pan"], tmp_path_factory.mktemp("sb128"), [20], cpu_used=6, sb_size=128, frames=2
    ).shards


def test_leaves_tile_every_superblock_exactly(carphone_sets, sb128_set):
    with h5py.File(sb128_set[0].dataset) as f:
        assert "blocks/128x128" in f and len(f["blocks/128x128/partition"]) == 2 * 2
    for r in carphone_sets + sb128_set:
        with h5py.File(r.dataset) as f:
            grids = f["frames/block_size"][:]
            display = f["frames/display_index"][:]
            rows, cols = grids.shape[1:]
            assert (rows, cols) == mi_grid_shape(f.attrs["width"], f.attrs["height"])
            for grid, frame in zip(grids, display):
                nodes = nodes_of_frame(f, int(frame))
                cover = np.zeros((rows * 4, cols * 4), dtype=int)
                for x, y, w, h in leaf_blocks(nodes, rows, cols):
                    cover[y : y + h, x : x + w] += 1
                assert (cover[: rows * 4, : cols * 4] == 1).all()
                np.testing.assert_array_equal(paint_grid(nodes, rows, cols), grid)


def check_pixels_match_source(dataset, source):
    """Every third node's pixels are its source frame's, except in frames libaom coded from
    temporally filtered pixels (their source_psnr is finite)."""
    with h5py.File(dataset) as f, Y4MReader(source) as reader:
        frames = {i: reader.read_luma(i) for i in range(f.attrs["frames"])}
        filtered = np.isfinite(f["frames/source_psnr"][:])
        h, w = reader.height, reader.width
        checked = 0
        for size in NODE_SIZES:
            name = f"blocks/{size}x{size}"
            if name not in f:
                continue
            g = f[name]
            assert g["pixels"].dtype == reader.header.dtype.newbyteorder("=")
            for i in range(0, len(g["x"]), 3):
                if filtered[g["decode_index"][i]]:
                    continue
                x, y, fr = int(g["x"][i]), int(g["y"][i]), int(g["display_index"][i])
                block = g["pixels"][i]
                src = frames[fr][y : y + size, x : x + size]
                np.testing.assert_array_equal(block[: src.shape[0], : src.shape[1]], src)
                assert bool(g["inside"][i]) == (x + size <= w and y + size <= h)
                checked += 1
    assert checked > 20


def test_pixels_equal_source_8bit(carphone_sets):
    check_pixels_match_source(carphone_sets[0].dataset, sample_path("carphone"))


def test_pixels_equal_source_10bit(aom_tools, tmp_path):
    [r] = extract_quietly(["camera-pan10"], tmp_path, [40], cpu_used=6, frames=2).shards
    with h5py.File(r.dataset) as f:
        assert f.attrs["bit_depth"] == 10
        assert f["blocks/8x8/pixels"][:].max() > 255
    check_pixels_match_source(r.dataset, sample_path("camera-pan10"))


def decoded_frame_count(ivf) -> int:
    return sum(1 for _ in decode_frames(ivf))


def test_bitstream_decodes_with_dav1d(carphone_sets):
    for r in carphone_sets:
        assert decoded_frame_count(r.bitstream) == FRAMES


def test_inter_mode_labels_every_coded_frame(aom_tools, tmp_path):
    [r] = extract_quietly(["astronaut-pan"], tmp_path, [40], cpu_used=6, mode="inter", frames=10).shards
    with h5py.File(r.dataset) as f:
        shown = f["frames/show_frame"][:].astype(bool)
        display = f["frames/display_index"][:]
        assert (~shown).any(), "expected hidden alt-ref frames in inter mode"
        assert (f["frames/hidden"][:] == ~shown).all()
        assert len(set(display[shown])) == shown.sum()
        assert display.min() == 0 and display.max() <= 9 and set(display) == set(range(10))
        # hidden alt-refs are labelled too, under the display index they stand for
        decode = f["blocks/64x64/decode_index"][:]
        assert set(decode) == set(range(len(shown)))
        assert (f["blocks/64x64/display_index"][:] == display[decode]).all()
        assert set(f["frames/frame_type"][:]) <= {0, 1}
    assert decoded_frame_count(r.bitstream) == 10
    check_pixels_match_source(r.dataset, sample_path("astronaut-pan"))


def test_rerun_skips_finished_outputs(aom_tools, carphone_sets):
    first = carphone_sets[0]
    mtime = first.dataset.stat().st_mtime_ns
    [again] = extract_quietly(["carphone"], first.dataset.parent, [24], cpu_used=5, frames=FRAMES).shards
    assert again.status == "kept" and again.dataset == first.dataset
    assert first.dataset.stat().st_mtime_ns == mtime


def test_failed_encode_leaves_nothing(aom_tools, tmp_path):
    from av1tools.extract.pipeline import ExtractConfig, extract

    settings = EncodeSettings(frames=2, extra=("--no-such-option=1",))
    result = extract(ExtractConfig(("carphone",), tmp_path, (30,), settings, jobs=1))
    assert len(result.failed) == 1 and "aomenc failed" in result.failed[0]
    assert result.shards == [] and result.manifest is None
    assert list(tmp_path.iterdir()) == []


def test_two_extracts_into_one_directory(aom_tools, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "av1tools",
        "extract",
        "--seq",
        "carphone",
        "--out",
        str(tmp_path),
        "--cq-level",
        "36",
        "--frames",
        "2",
        "--cpu-used",
        "6",
        "-q",
    ]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    files = sorted(x.name for x in tmp_path.iterdir() if not x.name.startswith("."))
    assert files == ["carphone_intra_cpu6_sb64_q36_f2.h5", "carphone_intra_cpu6_sb64_q36_f2.ivf", "manifest.json"]
    assert sum(read_summary(tmp_path / files[0]).counts[64].values()) == 2 * 9


@pytest.mark.parametrize("mode", ["intra", "inter", "ra", "ld"])
def test_streamed_bitstream_equals_aomenc_file_output(aom_tools, tmp_path, mode):
    settings = EncodeSettings(cq_level=44, cpu_used=6, mode=mode, frames=6)
    src = sample_path("carphone")
    run_encoder(aom_tools, settings, src, tmp_path / "file.ivf", 8)
    encode, records = encode_and_inspect(aom_tools, settings, src, tmp_path / "streamed.ivf", 8)
    pairs = list(records)
    assert (tmp_path / "streamed.ivf").read_bytes() == (tmp_path / "file.ivf").read_bytes()
    assert len(pairs) == len(coded_frames(tmp_path / "file.ivf"))
    assert encode.result is not None and encode.result.frames == 6 and encode.result.cpu_seconds > 0
