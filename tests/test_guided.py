"""The patched libaom: forced maps come back exactly, no map changes nothing, counters."""

import numpy as np
import pytest
from conftest import random_tree

from av1tools.encoder import STAT_SIZES, MapEntry, encoder_env, read_node_times, read_stats, write_partition_map
from av1tools.eval.guided import oracle_entries
from av1tools.eval.quality import measure_quality
from av1tools.extract.aom import AomError, EncodeSettings, inspect_bitstream, reference_tools, run_encoder
from av1tools.extract.ivf import decode_frames
from av1tools.extract.sequences import sample_path
from av1tools.partition import frame_nodes

SRC = "carphone"


def encode(tools, tmp_path, name, settings, map_entries=None, stats=True, exact=False, src=SRC):
    map_path = None
    if map_entries is not None:
        map_path = tmp_path / f"{name}.map"
        write_partition_map(map_path, map_entries)
    stats_path = tmp_path / f"{name}.stats" if stats else None
    ivf = tmp_path / f"{name}.ivf"
    env = encoder_env(map_path, stats_path, exact=True if exact else None)
    result = run_encoder(tools, settings, sample_path(src), ivf, 8, env=env)
    return ivf, result, (read_stats(stats_path) if stats else None)


@pytest.fixture(scope="module")
def intra():
    return EncodeSettings(cq_level=35, cpu_used=5, frames=2)


def test_random_forced_map_comes_back_exactly(aom_tools, tmp_path, intra):
    rng = np.random.default_rng(7)
    rows, cols = 36, 44  # 176x144
    trees = {
        f: [n for sy in range(0, 144, 64) for sx in range(0, 176, 64) for n in random_tree(rng, sx, sy, 64, rows, cols)]
        for f in range(2)
    }
    entries = [MapEntry(f, n.x, n.y, n.size, 1 << int(n.partition)) for f, nodes in trees.items() for n in nodes]
    ivf, _, _ = encode(aom_tools, tmp_path, "random", intra, entries)
    grids = inspect_bitstream(aom_tools, ivf)
    for g in grids:
        got = set(frame_nodes(g.block_size, 64))
        assert got == set(trees[g.display_index]), (
            f"frame {g.display_index}: {len(set(trees[g.display_index]) - got)} nodes differ"
        )
    assert sum(1 for _ in decode_frames(ivf)) == 2


def test_no_map_is_bit_identical_to_unpatched_libaom(aom_tools, tmp_path, intra):
    reference = reference_tools()
    assert reference.aomenc != aom_tools.aomenc
    ref = tmp_path / "ref.ivf"
    run_encoder(reference, intra, sample_path(SRC), ref, 8)
    plain, _, _ = encode(aom_tools, tmp_path, "plain", intra, None, stats=False)
    empty, _, _ = encode(aom_tools, tmp_path, "empty", intra, [])
    unrelated, _, _ = encode(aom_tools, tmp_path, "other", intra, [MapEntry(99, 0, 0, 64, 1)])
    for ivf in (plain, empty, unrelated):
        assert ivf.read_bytes() == ref.read_bytes(), ivf.name


@pytest.mark.parametrize("cpu_used", [3, 5])
def test_exact_oracle_is_the_baseline(aom_tools, tmp_path, cpu_used):
    """With AV1TOOLS_EXACT_GUIDE=1 on both encodes, forcing the baseline's own partitions
    gives the baseline's bitstream (issue target: bits within 0.1%, PSNR-Y within 0.01 dB),
    at the setting behind the published numbers (cpu-used 3) and a faster one, at every
    cq-level of the study, on real content with AB and 4-way partitions."""
    for cq in (23, 31, 39, 47):
        settings = EncodeSettings(cq_level=cq, cpu_used=cpu_used, frames=2)
        base, base_run, _ = encode(aom_tools, tmp_path, f"b{cq}", settings, exact=True, src="bigbuckbunny-cif")
        grids = inspect_bitstream(aom_tools, base)
        oracle, oracle_run, _ = encode(
            aom_tools, tmp_path, f"o{cq}", settings, oracle_entries(grids, 64), exact=True, src="bigbuckbunny-cif"
        )
        q_base = measure_quality(base, sample_path("bigbuckbunny-cif"), 2)
        q_oracle = measure_quality(oracle, sample_path("bigbuckbunny-cif"), 2)
        assert abs(oracle.stat().st_size - base.stat().st_size) <= 0.001 * base.stat().st_size, cq
        assert abs(q_oracle["psnr_y"] - q_base["psnr_y"]) <= 0.01, cq
        assert oracle.read_bytes() == base.read_bytes(), f"cq {cq}: not bit-identical"
        assert oracle_run.cpu_seconds < 0.6 * base_run.cpu_seconds  # it did skip the search


def test_exact_switch_is_refused_unless_0_or_1(aom_tools, tmp_path):
    env = encoder_env(None, None)
    env["AV1TOOLS_EXACT_GUIDE"] = "yes"
    with pytest.raises(AomError, match="AV1TOOLS_EXACT_GUIDE must be 0 or 1"):
        run_encoder(aom_tools, EncodeSettings(frames=1), sample_path(SRC), tmp_path / "x.ivf", 8, env=env)


@pytest.mark.parametrize("mode", ["intra", "inter"])
def test_oracle_reproduces_the_baseline(aom_tools, tmp_path, mode):
    settings = EncodeSettings(cq_level=40, cpu_used=4, mode=mode, frames=8 if mode == "inter" else 3)
    base, base_run, base_stats = encode(aom_tools, tmp_path, "base", settings)
    grids = inspect_bitstream(aom_tools, base)
    oracle, oracle_run, oracle_stats = encode(aom_tools, tmp_path, "oracle", settings, oracle_entries(grids, 64))
    got = inspect_bitstream(aom_tools, oracle)
    assert len(got) == len(grids)
    for g, o in zip(grids, got):  # every coded frame, hidden alt-refs included
        assert (o.display_index, o.show_frame) == (g.display_index, g.show_frame)
        assert set(frame_nodes(o.block_size, 64)) == set(frame_nodes(g.block_size, 64)), g.decode_index
    q_base = measure_quality(base, sample_path(SRC), settings.frames)
    q_oracle = measure_quality(oracle, sample_path(SRC), settings.frames)
    assert q_oracle["frames"] == settings.frames  # dav1d decodes every frame
    # Stock speed features (no exact switch): partitions come back exactly, but mode decisions
    # inside them drift a little (docs/guided.md). PSNR within 0.5%, bits within 2%.
    assert abs(q_oracle["psnr_y"] - q_base["psnr_y"]) / q_base["psnr_y"] < 0.005
    assert abs(oracle.stat().st_size - base.stat().st_size) / base.stat().st_size < 0.02
    # The counters: one line per coded frame, and far less search work when forced.
    assert len(base_stats) == len(grids) == len(oracle_stats)
    assert sum(s.mode_searches for s in oracle_stats) < 0.5 * sum(s.mode_searches for s in base_stats)
    assert all(s.nodes > 0 for s in base_stats)
    # The timers: a frame's partition search lies within the frame's time, and the types'
    # own times within their nodes'.
    for c in base_stats:
        assert 0 < c.node_ns[1] <= c.frame_ns and 0 < c.type_ns.sum() <= c.node_ns[1]


def test_node_times_are_the_counters_node_by_node(aom_tools, tmp_path, intra):
    """Every node the search ran, timed where it stands: per frame and node size the nodes,
    their time and each type's own time add up to the frame's counters (one clock, read once
    per node and type), every type a node tried is in its mask, and writing them leaves the
    bitstream alone."""
    plain, _, _ = encode(aom_tools, tmp_path, "plain", intra)
    env = encoder_env(None, tmp_path / "n.stats", nodes=tmp_path / "n.nodes")
    ivf = tmp_path / "n.ivf"
    run_encoder(aom_tools, intra, sample_path(SRC), ivf, 8, env=env)
    assert ivf.read_bytes() == plain.read_bytes()
    times, counters = read_node_times(tmp_path / "n.nodes"), read_stats(tmp_path / "n.stats")
    size, tried = times.column("size"), times.column("types")
    for frame in counters:
        here = times.column("pts") == frame.display_index
        for row, s in enumerate(STAT_SIZES):
            at = here & (size == s)
            assert at.sum() == frame.node_count[row] and times.column("ns")[at].sum() == frame.node_ns[row]
            assert (times.type_ns[at].sum(axis=0) == frame.type_ns[row]).all()
            # a node whose types libaom runs again (nothing valid the first time) is one record
            tried_here = [int(((tried[at] >> t) & 1).sum()) for t in range(10)]
            assert all(a <= b for a, b in zip(tried_here, frame.type_count[row].tolist()))
            assert sum(tried_here) > 0 or frame.node_count[row] == 0
    assert (times.column("own_ns") <= times.column("ns")).all() and times.column("guided").sum() == 0


def test_node_times_need_the_counters(aom_tools, tmp_path, intra):
    env = encoder_env(None, None, nodes=tmp_path / "n.nodes")
    with pytest.raises(AomError, match="AV1TOOLS_NODE_TIMES needs AV1TOOLS_PARTITION_STATS"):
        run_encoder(aom_tools, intra, sample_path(SRC), tmp_path / "x.ivf", 8, env=env)
