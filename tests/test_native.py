"""The superblock model inside the patched encoder (AV1TOOLS_MODEL): the export format, its
refusals, and parity with the Python path (allowed sets, then bitstreams)."""

from pathlib import Path

import pytest
import torch

from av1tools.encoder import encoder_env, read_stats, write_partition_map
from av1tools.eval.config import OperatingPoint
from av1tools.eval.guided import descends, prediction_entries
from av1tools.extract.aom import AomError, EncodeSettings, run_encoder
from av1tools.extract.sequences import sample_path
from av1tools.extract.y4m import Y4MReader
from av1tools.model.config import ENCODING_DECISION
from av1tools.model.superblock.checkpoint import save_superblock
from av1tools.model.superblock.config import SuperblockConfig
from av1tools.model.superblock.export import (
    HEADER,
    ExportError,
    export_bytes,
    export_superblock,
    load_export,
    read_export,
)
from av1tools.model.superblock.net import SuperblockNet
from av1tools.model.superblock.predict import SuperblockPredictor
from av1tools.native import native_env, point_spec, run_native, supports_native
from av1tools.partition import cq_level_to_qindex
from av1tools.zoo import default_model_dir

SRC = "bigbuckbunny-cif"  # 352x198: edge superblocks on the right and at the bottom
COVER = OperatingPoint(coverage=0.8, max_types=3)


@pytest.fixture(scope="module")
def predictor():
    torch.set_num_threads(1)
    return SuperblockPredictor(default_model_dir(), device="cpu", decision=ENCODING_DECISION)


@pytest.fixture(scope="module")
def exported(predictor, tmp_path_factory):
    # The operating point stored in the file is top-1: every test that wants another one
    # passes AV1TOOLS_MODEL_POINT, as one exported file serves a whole curve.
    where = tmp_path_factory.mktemp("model") / "sb.av1tnet"
    return export_superblock(predictor.net, OperatingPoint(top_k=1), where, predictor.extra.get("temperatures"))


# ---------------------------------------------------------------- the format (no encoder)


CONTEXTS = ({}, {"margin": 16}, {"activity": True}, {"frame_size": True}, {"margin": 32, "activity": True})


@pytest.mark.parametrize(
    "point, context",
    [
        (OperatingPoint(top_k=2), {}),
        (OperatingPoint(threshold=0.15), {"margin": 16, "activity": True, "frame_size": True}),
        (OperatingPoint(coverage=0.8, max_types=2), {"margin": 32}),
    ],
)
def test_export_round_trip(tmp_path, point, context):
    torch.manual_seed(0)
    net = SuperblockNet(SuperblockConfig(widths=(8, 16, 24, 32, 40), level_weights="equal", **context)).eval()
    path = export_superblock(net, point, tmp_path / "m.av1tnet")
    config, state, got = read_export(path)
    assert config == net.config and got == point
    assert state.keys() == net.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    loaded, _ = load_export(path)
    x, q, size = torch.rand(3, 1, net.config.window, net.config.window), torch.rand(3), torch.rand(3, 2)
    with torch.no_grad():
        assert torch.equal(loaded(x, q, size), net(x, q, size))


def _corruptions(data: bytes) -> dict[str, bytes]:
    magic, version, size, crc, reserved = HEADER.unpack_from(data)
    flipped = bytearray(data)
    flipped[HEADER.size + 200] ^= 0x10
    return {
        "wrong magic": b"XXXXXXXX" + data[8:],
        "other version": HEADER.pack(magic, version + 1, size, crc, reserved) + data[HEADER.size :],
        "truncated": data[:-100],
        "corrupted": bytes(flipped),
    }


def test_read_export_refuses_damaged_files(tmp_path, predictor):
    data = export_bytes(predictor.net, COVER)
    for name, bad in _corruptions(data).items():
        (tmp_path / "bad").write_bytes(bad)
        with pytest.raises(ExportError):
            read_export(tmp_path / "bad")
        assert name  # each case refused


def test_the_temperatures_are_folded_into_the_exported_heads(predictor):
    """The encoder's network gives the calibrated logits: each level's heads divided by its
    temperature, as the Python predictor divides its logits."""
    from av1tools.model.superblock.export import with_temperatures
    from av1tools.model.superblock.layout import LEVEL_OF_SLOT

    temperatures = [1.5, 0.8, 1.2, 2.0]
    folded = with_temperatures(predictor.net, temperatures)
    side = predictor.net.config.window
    x, q, size = torch.rand(4, 1, side, side), torch.rand(4), torch.rand(4, 2)
    with torch.no_grad():
        want = predictor.net(x, q, size) / torch.tensor(temperatures)[torch.from_numpy(LEVEL_OF_SLOT)].view(1, -1, 1)
        assert torch.allclose(folded(x, q, size), want, atol=1e-5)
    assert with_temperatures(predictor.net, None) is predictor.net


@pytest.mark.parametrize("inputs", [{"references": 2}, {"frame_info": True}])
def test_a_net_with_inputs_the_encoder_does_not_read_is_not_exported(inputs):
    """The encoder's C network reads the superblock's luma window, the qindex and the
    frame's size: a model that needs more (references, its frame's place in the group) is
    refused by name, never run on half its inputs."""
    from av1tools.model.superblock.config import SuperblockConfig
    from av1tools.model.superblock.net import SuperblockNet

    with pytest.raises(ExportError, match=next(iter(inputs))):
        export_bytes(SuperblockNet(SuperblockConfig(**inputs)), COVER)


def test_point_spec_is_what_the_encoder_parses():
    assert point_spec(OperatingPoint(top_k=2)) == "top_k 2"
    assert point_spec(OperatingPoint()) == "top_k 1"
    assert point_spec(OperatingPoint(threshold=0.1)) == "threshold 0.1"
    assert point_spec(OperatingPoint(coverage=0.85, max_types=4)) == "coverage 0.85 4"
    by_size = OperatingPoint(coverage=0.7, size_coverage=((8, 0.5), (64, 0.95)))
    assert point_spec(by_size) == "coverage 0.7 3 0.95 0.7 0.7 0.5"  # 64, 32, 16, 8


def test_read_stats_reads_lines_with_and_without_the_network_fields(tmp_path):
    fields = [3, 1, 0] + list(range(5)) + [1] * 12 + [2] * 120
    (tmp_path / "s").write_text(" ".join(map(str, fields)) + "\n" + " ".join(map(str, fields + [777, 12])) + "\n")
    old, new = read_stats(tmp_path / "s")
    assert (old.network_ns, old.network_calls) == (0, 0)
    assert (new.network_ns, new.network_calls) == (777, 12)
    assert old.type_ns.shape == new.type_ns.shape == (6, 10) and new.frame_ns == old.frame_ns == 4


# ---------------------------------------------------------------- the encoder


def _encode(tools, tmp_path, name, settings, env, src=SRC):
    ivf = tmp_path / f"{name}.ivf"
    run_encoder(tools, settings, sample_path(src), ivf, 8, env=env)
    return ivf


def test_the_encoder_says_it_runs_models(aom_tools):
    from av1tools.extract.aom import reference_tools

    assert supports_native(aom_tools)
    assert not supports_native(reference_tools())  # stock libaom ignores the variable


def test_encoder_refuses_bad_models_and_settings(aom_tools, tmp_path, predictor, exported):
    settings = EncodeSettings(cq_level=40, cpu_used=6, frames=1)
    data = export_bytes(predictor.net, COVER)
    for name, bad in _corruptions(data).items():
        path = tmp_path / f"{name.replace(' ', '_')}.av1tnet"
        path.write_bytes(bad)
        with pytest.raises(AomError, match=r"av1tools: AV1TOOLS_MODEL .*: "):
            _encode(aom_tools, tmp_path, "bad", settings, native_env(path))
    (tmp_path / "empty.av1tnet").write_bytes(b"")
    with pytest.raises(AomError, match="truncated"):
        _encode(aom_tools, tmp_path, "bad", settings, native_env(tmp_path / "empty.av1tnet"))
    with pytest.raises(AomError, match="needs 64x64 superblocks"):
        _encode(aom_tools, tmp_path, "bad", EncodeSettings(sb_size=128, cpu_used=6, frames=1), native_env(exported))
    with pytest.raises(AomError, match="AV1TOOLS_MODEL_POINT"):
        env = native_env(exported)
        env["AV1TOOLS_MODEL_POINT"] = "coverage 1.5"
        _encode(aom_tools, tmp_path, "bad", settings, env)
    with pytest.raises(AomError, match="exclude each other"):
        map_path = tmp_path / "m.map"
        write_partition_map(map_path, [])
        env = native_env(exported)
        env["AV1TOOLS_PARTITION_MAP"] = str(map_path)
        _encode(aom_tools, tmp_path, "bad", settings, env)
    with pytest.raises(AomError, match="need AV1TOOLS_MODEL"):
        env = encoder_env(None, None)
        env["AV1TOOLS_MODEL_POINT"] = "top_k 2"
        _encode(aom_tools, tmp_path, "bad", settings, env)


def python_entries(predictor, source: Path, frames: int, cq: int, point: OperatingPoint):
    """The decision file the Python path writes for this encode (eval-encode's _infer)."""
    qindex = cq_level_to_qindex(cq)
    with Y4MReader(source) as reader:
        lumas = [reader.read_luma(i) for i in range(frames)]
        max_value = float((1 << reader.bit_depth) - 1)
    walk = "split" if point.forces else (lambda probs, decision, size: descends(probs, decision, point, size))
    preds = [predictor.predict_frame(luma, max_value, qindex, 64, walk, i) for i, luma in enumerate(lumas)]
    return prediction_entries(preds, 64, point)


def sets_by_node(entries) -> dict:
    """(display index, x, y, size) -> the set a map or dump gives the node (0: libaom's search)."""
    return {(e.display_index, e.x, e.y, e.size): (e.mask if e.guided else 0) for e in entries}


def _unexplained(python: dict, native: dict, differ: set) -> list:
    """Nodes of the Python map the native encoder never asked about and whose absence no
    ancestor explains. The Python walk lists every child of a node whose set holds
    SPLIT; libaom searches them in order and stops once their costs pass the best type
    found so far, so an ancestor that is left to the normal search (mask 0), whose set
    has several types (one of them evaluated before SPLIT, or a budget from above), or
    whose set differs, explains a child never asked about. Below single-type ancestors
    only (forced SPLITs down from the superblock) every child must be asked."""
    out = []
    for key in set(python) - set(native):
        f, x, y, size = key
        s, ok = size, False
        while s < 64 and not ok:
            s *= 2
            parent = (f, x - x % s, y - y % s, s)
            mask = python.get(parent, 0)
            ok = parent in differ or mask == 0 or mask.bit_count() > 1
        if not ok:
            out.append(key)
    return out


@pytest.mark.parametrize("cpu_used", [3, 5])
def test_native_sets_and_bitstreams_match_the_python_path(aom_tools, tmp_path, predictor, exported, cpu_used):
    """Issue 20's parity: on 2 frames of bigbuckbunny-cif, all-intra, at every cq-level of
    the study and three kinds of operating point, the sets the encoder used are the
    Python predictor's for >= 99.9% of nodes (measured: all; a coverage by node size
    too), and where all are equal the
    native encode's bitstream is the decision-file encode's, byte for byte."""
    frames, source = 2, sample_path(SRC)
    by_size = OperatingPoint(coverage=0.7, size_coverage=((64, 0.95), (16, 0.8), (8, 0.5)))
    points = (COVER, OperatingPoint(top_k=2), OperatingPoint(threshold=0.2), by_size)
    compared = differing = 0
    for cq in (23, 31, 39, 47):
        settings = EncodeSettings(cq_level=cq, cpu_used=cpu_used, frames=frames)
        for i, point in enumerate(points):
            if i and cq not in (23, 47):
                continue  # the other points at the ends of the range only
            table = python_entries(predictor, source, frames, cq, point)
            python = sets_by_node(table)
            dump = tmp_path / f"q{cq}_{i}.dump"
            native_run = run_native(settings, source, tmp_path / f"q{cq}_{i}.ivf", exported, point, aom_tools, dump)
            native = sets_by_node(native_run.dump)
            assert len(native) == len(native_run.dump), "a node asked twice"
            differ = {k for k in native if native[k] != python.get(k)}  # or not in the Python map
            assert not _unexplained(python, native, differ)
            compared += len(native)
            differing += len(differ)
            assert len(differ) <= 0.001 * len(native), f"cq {cq} {point.label}: {len(differ)} of {len(native)}"
            # the encoder's own account: one forward pass per superblock of each frame
            assert native_run.network_calls == frames * 6 * 4 and native_run.network_cpu_seconds > 0
            if not differ:
                map_path = tmp_path / f"q{cq}_{i}.map"
                write_partition_map(map_path, table)
                env = encoder_env(map_path, None)
                env["AV1TOOLS_EXACT_GUIDE"] = "1"
                reference = _encode(aom_tools, tmp_path, f"q{cq}_{i}_map", settings, env)
                assert reference.read_bytes() == (tmp_path / f"q{cq}_{i}.ivf").read_bytes(), f"cq {cq} {point.label}"
    assert compared > 10000 and differing <= 0.001 * compared


@pytest.mark.parametrize("context", CONTEXTS)
def test_every_context_input_runs_in_the_encoder_as_in_python(aom_tools, tmp_path, context):
    """Each context input in C (the margin of the frame around the superblock, edge samples
    repeated past the frame; the 5x5 activity channel; the frame's size beside q), on a
    seeded untrained net: the sets the encoder used are the Python predictor's for >= 99.9%
    of nodes, on a frame with edge superblocks right and below."""
    torch.manual_seed(0)
    run = tmp_path / "run"
    run.mkdir()
    net = SuperblockNet(SuperblockConfig(**context)).eval()
    save_superblock(net, run, {})
    predictor = SuperblockPredictor(run, device="cpu", decision=ENCODING_DECISION)
    path = export_superblock(net, OperatingPoint(top_k=1), tmp_path / "m.av1tnet")
    settings = EncodeSettings(cq_level=31, cpu_used=6, frames=1)
    python = sets_by_node(python_entries(predictor, sample_path(SRC), 1, 31, COVER))
    native_run = run_native(settings, sample_path(SRC), tmp_path / "o.ivf", path, COVER, aom_tools, tmp_path / "o.dump")
    native = sets_by_node(native_run.dump)
    differ = {k for k in native if native[k] != python.get(k)}
    assert len(native) > 500 and len(differ) <= 0.001 * len(native), (len(differ), len(native))
    assert not _unexplained(python, native, differ)


def test_every_kernel_computes_the_same_bits(aom_tools, tmp_path, exported):
    settings = EncodeSettings(cq_level=31, cpu_used=6, frames=1)
    out = {}
    for kernels in ("c", "vector4", "auto"):
        env = native_env(exported, COVER, dump=tmp_path / f"{kernels}.dump")
        env["AV1TOOLS_MODEL_KERNELS"] = kernels
        ivf = _encode(aom_tools, tmp_path, kernels, settings, env)
        out[kernels] = (ivf.read_bytes(), (tmp_path / f"{kernels}.dump").read_text())
    assert out["c"] == out["vector4"] == out["auto"]


def test_dump_is_a_decision_file_of_the_same_encode(aom_tools, tmp_path, exported):
    """Fed back as AV1TOOLS_PARTITION_MAP, the dump reproduces the native encode (mask 0
    lines: the normal search, as when a node is not listed)."""
    settings = EncodeSettings(cq_level=39, cpu_used=5, frames=2)
    native = run_native(settings, sample_path(SRC), tmp_path / "n.ivf", exported, COVER, aom_tools, tmp_path / "d")
    assert any(not e.guided for e in native.dump) and any(e.guided for e in native.dump)
    assert all(e.x % 8 == 0 and e.y % 8 == 0 and e.size in (8, 16, 32, 64) for e in native.dump)
    env = encoder_env(tmp_path / "d", None)
    env["AV1TOOLS_EXACT_GUIDE"] = "1"
    again = _encode(aom_tools, tmp_path, "again", settings, env)
    assert again.read_bytes() == (tmp_path / "n.ivf").read_bytes()


def test_counters_carry_the_networks_time(aom_tools, tmp_path, exported):
    settings = EncodeSettings(cq_level=39, cpu_used=6, frames=2)
    native = run_native(settings, sample_path(SRC), tmp_path / "n.ivf", exported, COVER, aom_tools)
    assert [c.network_calls for c in native.counters] == [24, 24]  # 6 x 4 superblocks a frame
    assert all(0 < c.network_ns < c.frame_ns for c in native.counters)
    # a sanity bound, not the target (README: 0.9% at cpu-used 3): at cpu-used 6 on 352x198
    # the encode is short and the context model's 96x96 window weighs more (measured 5.6%)
    assert 0 < native.network_share < 0.15
    plain = tmp_path / "plain.stats"
    _encode(aom_tools, tmp_path, "plain", settings, encoder_env(None, plain))
    assert [(c.network_ns, c.network_calls) for c in read_stats(plain)] == [(0, 0), (0, 0)]


def test_threads_and_tiles(aom_tools, tmp_path, predictor, exported):
    """Two threads and two tile columns: each thread runs the model on the rows it
    searches, up to its tile's edge; its sets are the Python predictor's (>= 99.9% of nodes:
    the activity channel is close to torch's, not its bits) and the encode is its own
    decision file's."""
    settings = EncodeSettings(cq_level=35, cpu_used=6, frames=2, threads=2, extra=("--tile-columns=1",))
    native = run_native(settings, sample_path(SRC), tmp_path / "n.ivf", exported, COVER, aom_tools, tmp_path / "d")
    assert native.network_calls == 2 * 24
    python = sets_by_node(python_entries(predictor, sample_path(SRC), 2, 35, COVER))
    sets = sets_by_node(native.dump)
    differ = [k for k in sets if sets[k] != python.get(k)]
    assert len(differ) <= 0.001 * len(sets)
    env = encoder_env(tmp_path / "d", None)
    env["AV1TOOLS_EXACT_GUIDE"] = "1"
    reference = _encode(aom_tools, tmp_path, "map", settings, env)
    assert reference.read_bytes() == (tmp_path / "n.ivf").read_bytes()
