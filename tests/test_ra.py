"""Random access (issue 19): the ra and ld modes, the encoder's frame records against an
independent reading of the bitstream, every coded frame labelled (schema v3) and guided,
the exact oracle in inter frames, libaom's intra CNN switch, and reading v2 shards."""

import struct

import h5py
import numpy as np
import pytest
from conftest import extract_quietly

from av1tools.encoder import (
    RECORDS_MAGIC,
    STATS_FIELDS,
    UPDATE_TYPES,
    RecordsError,
    encoder_env,
    read_frame_records,
    read_stats,
    write_partition_map,
)
from av1tools.eval.guided import oracle_entries
from av1tools.extract.aom import (
    AomError,
    EncodeSettings,
    check_cpu_used,
    inspect_bitstream,
    reference_tools,
    run_encoder,
)
from av1tools.extract.dataset import SCHEMA_VERSION, DatasetError, open_dataset
from av1tools.extract.ivf import coded_frames
from av1tools.extract.sequences import sample_path
from av1tools.extract.y4m import Y4MReader
from av1tools.partition import frame_nodes

CLIP = "bigbuckbunny-cif"  # 352x198: its key frame and alt-ref are temporally filtered
FRAMES = 17  # one golden-frame group with a hidden alt-ref and internal alt-refs


def ra(cq=31, cpu_used=5, frames=FRAMES, mode="ra"):
    return EncodeSettings(cq_level=cq, cpu_used=cpu_used, mode=mode, frames=frames)


def encode(tools, tmp_path, name, settings, env=None, src=CLIP):
    ivf = tmp_path / f"{name}.ivf"
    run_encoder(tools, settings, sample_path(src), ivf, 8, env=env)
    return ivf


# ---------------------------------------------------------------------------------------
# the modes


def test_mode_arguments():
    assert EncodeSettings(mode="ra").aomenc_args("x.y4m", "o.ivf", 8)[:2] == ["--good", "--passes=2"]
    ld = EncodeSettings(mode="ld").aomenc_args("x.y4m", "o.ivf", 8)
    assert {"--good", "--passes=1", "--lag-in-frames=0", "--auto-alt-ref=0"} <= set(ld)
    assert EncodeSettings(mode="ra").tag().startswith("ra_cpu3")
    for mode in ("ra", "ld"):
        check_cpu_used(mode, 6)
        with pytest.raises(ValueError, match=f"outside 0..6, the speeds of {mode} mode"):
            check_cpu_used(mode, 7)


def test_ld_codes_no_hidden_frames(aom_tools, tmp_path):
    frames = coded_frames(encode(aom_tools, tmp_path, "ld", ra(cpu_used=6, frames=6, mode="ld")))
    assert len(frames) == 6 and all(f.show_frame for f in frames)


# ---------------------------------------------------------------------------------------
# frame records


@pytest.fixture(scope="module")
def recorded(aom_tools, tmp_path_factory):
    """An ra encode with its frame records and counters, and the same encode without them."""
    tmp = tmp_path_factory.mktemp("records")
    records, stats = tmp / "frames.rec", tmp / "stats.txt"
    ivf = encode(aom_tools, tmp, "recorded", ra(), encoder_env(None, stats, records=records))
    plain = encode(aom_tools, tmp, "plain", ra(), encoder_env(None, None))
    return ivf, plain, read_frame_records(records), read_stats(stats)


def test_records_and_counters_leave_the_bitstream_alone(aom_tools, tmp_path, recorded):
    ivf, plain, _, _ = recorded
    assert ivf.read_bytes() == plain.read_bytes()
    stock = encode(reference_tools(), tmp_path, "stock", ra())
    assert plain.read_bytes() == stock.read_bytes()  # no variables: the unpatched encoder's bits


def test_records_match_an_independent_reading_of_the_bitstream(aom_tools, recorded):
    """Our own OBU parse (order hints, refreshed and referenced slots, display indices
    tracked through the slots) and libaom's inspect against what the encoder recorded."""
    ivf, _, records, stats = recorded
    parsed = coded_frames(ivf)
    grids = inspect_bitstream(aom_tools, ivf)
    assert len(records) == len(parsed) == len(grids) == len(stats) == FRAMES  # hidden ones included
    assert sum(not r.show_frame for r in records) >= 3  # an alt-ref and internal alt-refs
    for r, p, g, s in zip(records, parsed, grids, stats):
        assert r.coded_index == g.decode_index
        assert (r.show_frame, r.frame_type, r.order_hint) == (p.show_frame, p.frame_type, p.order_hint)
        assert (r.show_frame, r.frame_type, r.order_hint, r.base_qindex) == (
            g.show_frame,
            g.frame_type,
            g.order_hint,
            g.base_qindex,
        )
        assert r.pts == p.display_index == g.display_index == s.display_index
        assert r.refresh_frame_flags == p.refresh_frame_flags
        assert r.ref_slots == (p.ref_slots or (-1,) * 7) and r.ref_display == p.ref_display
        if r.show_frame:
            assert r.pts == p.pts  # shown: the temporal unit's timestamp
    assert sorted(r.pts for r in records) == list(range(FRAMES))  # every source frame coded once
    assert {UPDATE_TYPES[r.update_type] for r in records} >= {"KF", "ARF", "INTNL_ARF", "LF"}
    arf = next(r for r in records if UPDATE_TYPES[r.update_type] == "ARF")
    assert not arf.show_frame and arf.pyramid_level == 1
    assert all(r.ref_display == (-1,) * 7 for r in records if r.frame_type == 0)


def test_records_hold_the_luma_the_encoder_coded(recorded):
    _, _, records, _ = recorded
    with Y4MReader(sample_path(CLIP)) as reader:
        same = {r.pts: np.array_equal(r.luma, reader.read_luma(r.pts)) for r in records}
    filtered = [r for r in records if not same[r.pts]]
    # libaom filters the key frame and the alt-ref temporally; the others are coded as they are
    assert {UPDATE_TYPES[r.update_type] for r in filtered} == {"KF", "ARF"}
    assert records[0].luma.shape == (198, 352) and records[0].luma.dtype == np.uint8


def test_records_file_errors_name_the_problem(tmp_path):
    bad = tmp_path / "bad.rec"
    bad.write_bytes(b"NOTRECS!" + bytes(8))
    with pytest.raises(RecordsError, match="bad.rec: not an av1tools frame records file"):
        read_frame_records(bad)
    bad.write_bytes(RECORDS_MAGIC + struct.pack("<II", 9, 104))
    with pytest.raises(RecordsError, match="version 9"):
        read_frame_records(bad)
    bad.write_bytes(RECORDS_MAGIC + struct.pack("<II", 1, 104) + bytes(50))
    with pytest.raises(RecordsError, match="record 0 is truncated"):
        read_frame_records(bad)
    with pytest.raises(RecordsError, match="no frame records"):
        read_frame_records(tmp_path / "missing.rec")


# ---------------------------------------------------------------------------------------
# the counters


def test_read_stats_reads_every_line_length(tmp_path):
    sizes = " ".join("1 2" for _ in range(6))
    types = " ".join(f"{t} {10 * t}" for _ in range(6) for t in range(10))
    guided = " ".join(f"{s} {100 * s} {s + 1} {1000 + s}" for s in range(6))
    p = tmp_path / "s.txt"
    old = f"0 1 0 85 120 300 40960 5000 {sizes} {types}"
    p.write_text(f"{old}\n{old} 7 3\n{old} 7 3 15 {guided}\n")
    a, b, c = read_stats(p)
    assert (a.network_ns, a.guided_nodes, a.guided_count) == (0, None, None)
    assert (b.network_ns, b.network_calls, b.guided_nodes) == (7, 3, None)
    assert c.guided_nodes == 15 and c.guided_count.tolist() == list(range(6))
    assert c.unguided_ns.tolist() == [1000 + s for s in range(6)] and c.guided_ns[2] == 200
    assert len(f"{old} 7 3 15 {guided}".split()) == STATS_FIELDS
    p.write_text(f"{old} 7\n")
    with pytest.raises(ValueError, match="line 1 has 141 fields"):
        read_stats(p)


# ---------------------------------------------------------------------------------------
# every coded frame labelled (schema v3)


@pytest.fixture(scope="module")
def ra_shard(aom_tools, tmp_path_factory):
    out = tmp_path_factory.mktemp("ra-data")
    [shard] = extract_quietly([CLIP], out, [31], cpu_used=5, mode="ra", frames=FRAMES).shards
    return shard


def test_ra_shard_labels_every_coded_frame(aom_tools, ra_shard, recorded):
    """Against inspect's own reading of the shard's bitstream: per coded frame its labels
    (hidden alt-refs included), its type, show flag, qindex and display index; the
    references against our OBU parse; the pixels are what the encoder coded."""
    grids = inspect_bitstream(aom_tools, ra_shard.bitstream)
    parsed = coded_frames(ra_shard.bitstream)
    _, _, records, _ = recorded  # the same settings and source: the same bitstream
    assert ra_shard.bitstream.read_bytes() == recorded[0].read_bytes()
    with open_dataset(ra_shard.dataset) as ds:
        assert ds.attrs.schema_version == SCHEMA_VERSION == 3 and ds.attrs.mode == "ra"
        frames = ds.frames_table()
        assert frames["hidden"].sum() == sum(not g.show_frame for g in grids) >= 3
        for name, want in (
            ("decode_index", [g.decode_index for g in grids]),
            ("display_index", [g.display_index for g in grids]),
            ("show_frame", [g.show_frame for g in grids]),
            ("frame_type", [g.frame_type for g in grids]),
            ("base_qindex", [g.base_qindex for g in grids]),
            ("order_hint", [g.order_hint for g in grids]),
            ("update_type", [r.update_type for r in records]),
            ("pyramid_level", [r.pyramid_level for r in records]),
        ):
            assert frames[name].tolist() == want, name
        assert frames["ref_display"].tolist() == [list(p.ref_display) for p in parsed]
        counted = 0
        for size in ds.node_sizes:
            decode = ds.column(size, "decode_index")
            x, y = ds.column(size, "x"), ds.column(size, "y")
            assert len(set(zip(decode.tolist(), x.tolist(), y.tolist()))) == len(decode)  # unique keys
            for g in grids:
                want = sorted((n.x, n.y, int(n.partition)) for n in frame_nodes(g.block_size, 64) if n.size == size)
                sel = decode == g.decode_index
                got = sorted(zip(x[sel].tolist(), y[sel].tolist(), ds.column(size, "partition")[sel].tolist()))
                assert got == want, (size, g.decode_index)
                counted += len(want)
            # nodes of hidden frames carry the display index they stand for and their pixels
            hidden = ~ds.shown(size)
            assert hidden.any()
            np.testing.assert_array_equal(ds.column(size, "display_index"), frames["display_index"][decode])
        assert counted == sum(len(list(frame_nodes(g.block_size, 64))) for g in grids)
        # the label count per frame type, shown and hidden, as inspect reads the bitstream
        per_type: dict = {}
        for g in grids:
            key = (g.frame_type, g.show_frame)
            per_type[key] = per_type.get(key, 0) + len(list(frame_nodes(g.block_size, 64)))
        got_type: dict = {}
        for size in ds.node_sizes:
            decode = ds.column(size, "decode_index")
            for t, shown in zip(ds.column(size, "frame_type"), frames["show_frame"][decode]):
                got_type[(int(t), bool(shown))] = got_type.get((int(t), bool(shown)), 0) + 1
        assert got_type == per_type and (1, False) in per_type
        lumas = ds.coded_lumas()
        for r in records:
            np.testing.assert_array_equal(lumas[r.coded_index], r.luma)
        assert np.isfinite(frames["source_psnr"]).sum() == 2  # the filtered key frame and alt-ref
        # the shown coded frames (the others are shown by show_existing_frame)
        assert set(ds.frame_lumas()) == {int(d) for d, s in zip(frames["display_index"], frames["show_frame"]) if s}


def _as_v2(src, dst):
    """A v2 shard made of a v3 one: the v3 columns and the hidden frames' rows removed."""
    with h5py.File(src) as f, h5py.File(dst, "w") as g:
        for k, v in f.attrs.items():
            g.attrs[k] = v
        g.attrs["schema_version"] = 2
        hidden = f["frames/hidden"][:].astype(bool)
        for name in ("decode_index", "display_index", "base_qindex", "frame_type", "show_frame", "block_size"):
            values = f[f"frames/{name}"][:]
            if name == "display_index":
                values = np.where(hidden, -1, values)
            g[f"frames/{name}"] = values
        for group in f["blocks"]:
            keep = ~hidden[f[f"blocks/{group}/decode_index"][:]]
            for name, ds in f[f"blocks/{group}"].items():
                if name != "decode_index":
                    g[f"blocks/{group}/{name}"] = ds[:][keep]


def test_v2_shards_are_read_with_v3_defaults(ra_shard, tmp_path):
    v2 = tmp_path / "old.h5"
    _as_v2(ra_shard.dataset, v2)
    with open_dataset(v2) as old, open_dataset(ra_shard.dataset) as new:
        assert old.attrs.schema_version == 2
        frames = old.frames_table()
        assert frames["hidden"].tolist() == (frames["show_frame"] == 0).tolist()
        key = frames["frame_type"] == 0
        assert (frames["update_type"][key] == 0).all() and (frames["update_type"][~key] == -1).all()
        assert (frames["order_hint"][key] == 0).all() and (frames["order_hint"][~key] == -1).all()
        assert (frames["ref_display"] == -1).all() and np.isinf(frames["source_psnr"]).all()
        shown = ~new.frames_table()["hidden"].astype(bool)
        for size in new.node_sizes:
            keep = shown[new.column(size, "decode_index")]
            np.testing.assert_array_equal(old.column(size, "decode_index"), new.column(size, "decode_index")[keep])
            assert old.shown(size).all()
        assert set(old.frame_lumas()) == set(new.frame_lumas())
    with h5py.File(v2, "a") as f:
        f.attrs["schema_version"] = 1
    with pytest.raises(DatasetError, match="schema v1 is older than this av1tools reads"):
        open_dataset(v2)


def test_a_v2_shard_with_hidden_frames_is_redone(aom_tools, ra_shard, tmp_path):
    from av1tools.extract.pipeline import ExtractConfig, extract

    out = tmp_path / "redo"
    out.mkdir()
    stem = ra_shard.dataset.stem
    _as_v2(ra_shard.dataset, out / f"{stem}.h5")
    (out / f"{stem}.ivf").write_bytes(ra_shard.bitstream.read_bytes())
    config = ExtractConfig((CLIP,), out, (31,), ra(), jobs=1)
    [again] = extract(config).shards
    assert again.status == "redone"
    with open_dataset(again.dataset) as ds:
        assert ds.attrs.schema_version == 3 and ds.frames_table()["hidden"].any()


def test_extract_refuses_inter_modes_without_frame_records(tmp_path, monkeypatch):
    from av1tools.extract.pipeline import ExtractConfig, ExtractError, extract

    monkeypatch.setenv("AV1TOOLS_AOM_DIR", str(reference_tools().root))
    with pytest.raises(ExtractError, match="ra mode needs the av1tools-patched encoder"):
        extract(ExtractConfig((CLIP,), tmp_path / "x", (31,), ra(), jobs=1))


# ---------------------------------------------------------------------------------------
# guided random access, and the exact oracle


def oracle_run(tools, tmp_path, cq, cpu_used, frames=FRAMES):
    settings = ra(cq, cpu_used, frames)
    base_stats, oracle_stats = tmp_path / f"b{cq}.stats", tmp_path / f"o{cq}.stats"
    base = encode(tools, tmp_path, f"b{cq}", settings, encoder_env(None, base_stats, exact=True))
    grids = inspect_bitstream(tools, base)
    write_partition_map(tmp_path / f"o{cq}.map", oracle_entries(grids, 64))
    oracle = encode(tools, tmp_path, f"o{cq}", settings, encoder_env(tmp_path / f"o{cq}.map", oracle_stats, exact=True))
    return base, oracle, grids, read_stats(base_stats), read_stats(oracle_stats)


def test_ra_oracle_is_the_baseline(aom_tools, tmp_path):
    """With AV1TOOLS_EXACT_GUIDE=1, forcing the baseline's own partitions in every coded
    frame (hidden alt-refs included) reproduces the baseline byte for byte, random access,
    cpu-used 3, at every cq-level of the study."""
    for cq in (23, 31, 39, 47):
        base, oracle, grids, base_stats, oracle_stats = oracle_run(aom_tools, tmp_path, cq, 3, frames=9)
        assert sum(not g.show_frame for g in grids) >= 3
        assert oracle.read_bytes() == base.read_bytes(), f"cq {cq}: not byte-identical"
        assert sum(s.frame_ns for s in oracle_stats) < 0.6 * sum(s.frame_ns for s in base_stats)


def test_guided_ra_reports_guided_nodes_in_hidden_frames(aom_tools, tmp_path):
    _, _, grids, base_stats, oracle_stats = oracle_run(aom_tools, tmp_path, 39, 5, frames=9)
    assert len(oracle_stats) == len(grids)
    for g, b, o in zip(grids, base_stats, oracle_stats):
        assert b.guided_nodes == 0 and b.unguided_count.sum() == b.nodes
        # every node of 8x8 and above is forced; 4x4 blocks have no partition to choose
        assert o.guided_nodes == len(list(frame_nodes(g.block_size, 64))) == o.nodes - o.unguided_count[5]
        assert o.guided_count.sum() == o.guided_nodes and (o.guided_ns[o.guided_count > 0] > 0).all()
        assert o.display_index == g.display_index and o.show_frame == g.show_frame
    assert any(not o.show_frame and o.guided_nodes > 0 for o in oracle_stats)


# ---------------------------------------------------------------------------------------
# libaom's own intra partition CNN


def test_intra_cnn_switch(aom_tools, tmp_path):
    settings = EncodeSettings(cq_level=31, cpu_used=3, frames=2)  # all-intra: the CNN runs at speed >= 1
    stock = encode(reference_tools(), tmp_path, "stock", settings)
    unset = encode(aom_tools, tmp_path, "unset", settings, encoder_env(None, None))
    off = encode(aom_tools, tmp_path, "off", settings, encoder_env(None, None, intra_cnn=False))
    assert unset.read_bytes() == stock.read_bytes()
    assert off.read_bytes() != stock.read_bytes()
    env = encoder_env(None, None)
    env["AV1TOOLS_INTRA_CNN"] = "1"
    with pytest.raises(AomError, match="AV1TOOLS_INTRA_CNN must be 0"):
        encode(aom_tools, tmp_path, "bad", settings, env)
