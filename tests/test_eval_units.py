"""Evaluation arithmetic on hand-made inputs: BD-rate, metrics, decision maps, cost model, reports."""

from dataclasses import replace

import bjontegaard
import numpy as np
import pytest
from conftest import ENCODE_SECTIONS as SECTIONS

from av1tools.encoder import (
    NODE_FIELDS,
    NODE_TYPES,
    NODES_MAGIC,
    STAT_SIZES,
    FrameCounters,
    MapEntry,
    NodeTimes,
    read_node_times,
    read_stats,
    write_partition_map,
)
from av1tools.eval.bdrate import bd_rate
from av1tools.eval.config import OperatingPoint
from av1tools.eval.encode.aggregate import against_heuristic, best_points, set_rows
from av1tools.eval.encode.measure import EncodeRun
from av1tools.eval.encode.result import Row
from av1tools.eval.encode.simulate import model_share
from av1tools.eval.encode.study import summarise
from av1tools.eval.guided import allowed_sets, prediction_entries
from av1tools.eval.ladder import compare, ladder_points
from av1tools.eval.speedup import (
    BaselineNodes,
    exhaustive_pixels,
    fit_cost_model,
    fit_scales,
    guided_pixels,
    simulate_counters,
    simulate_map,
    simulated_search_ratio,
    time_saving_from_ratio,
)
from av1tools.model.metrics import confusion, macro_f1, per_class
from av1tools.model.predictor import FramePrediction
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
    from av1tools.model.hierarchy import combine, greedy_decision
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


def test_greedy_decision_of_many_nodes_is_each_nodes_own():
    """A frame's nodes at once give what each node alone gives: stage by stage the most
    probable allowed class (the first on a tie), on random probabilities and allowed sets."""
    from av1tools.model.hierarchy import AB_TYPES, RECT_TYPES, STAGES, greedy_decision

    rng = np.random.default_rng(3)
    n = 500
    probs = {k: rng.dirichlet(np.ones(len(STAGES[k].members)), n) for k in STAGES}
    probs["stage2"][:5] = 1 / 3  # ties
    allowed = rng.random((n, 10)) < 0.5
    allowed[:, Partition.NONE] |= ~allowed.any(axis=1)

    def one(i):
        def best(p, ok):
            return int(np.where(ok, p, -1.0).argmax())

        ok = [[bool(allowed[i, list(m)].any()) for m in STAGES[k].members] for k in ("stage1", "stage2")]
        if best(probs["stage1"][i], ok[0]) == 0:
            return Partition.NONE
        c2 = best(probs["stage2"][i], ok[1])
        if c2 == 0:
            return Partition.SPLIT
        types = RECT_TYPES if c2 == 1 else AB_TYPES
        p3 = probs["stage3_rect" if c2 == 1 else "stage3_ab"][i]
        return types[best(p3, [allowed[i, t] for t in types])]

    assert greedy_decision(probs, allowed).tolist() == [int(one(i)) for i in range(n)]


def test_allowed_sets_of_each_operating_point():
    probs = np.array([[0.5, 0.1, 0.05, 0.3, 0.05, 0, 0, 0, 0, 0]])
    top = np.array([0])

    def sets(point, decision=top):
        bits, guided = allowed_sets(probs, decision, point)
        return int(bits[0]), bool(guided[0])

    assert sets(OperatingPoint(top_k=1)) == (1 << Partition.NONE, True)
    assert sets(OperatingPoint(top_k=2)) == ((1 << Partition.NONE) | (1 << Partition.SPLIT), True)
    assert sets(OperatingPoint(threshold=0.09)) == (0b1011, True)
    assert sets(OperatingPoint(threshold=0.99)) == (1, True)  # the most probable always stays
    assert sets(OperatingPoint(top_k=10)) == (0b11111, True)  # zero-probability types never allowed
    assert sets(OperatingPoint(top_k=1), np.array([Partition.VERT])) == (1 << Partition.VERT, True)
    assert sets(OperatingPoint(top_k=2), np.array([Partition.VERT])) == ((1 << Partition.VERT) | 1, True)
    assert sets(OperatingPoint(coverage=0.5)) == (1, True)  # 0.5 alone reaches 0.5
    assert sets(OperatingPoint(coverage=0.8)) == (0b1001, True)  # 0.5 + 0.3
    assert sets(OperatingPoint(coverage=0.85, max_types=2)) == (0b1011, False)  # needs 3: unsure
    assert sets(OperatingPoint(coverage=0.85, max_types=3)) == (0b1011, True)
    with pytest.raises(ValueError):
        OperatingPoint(top_k=2, coverage=0.9)


def test_a_coverage_by_node_size_applies_to_its_size_only():
    probs = np.tile(np.array([[0.5, 0.1, 0.05, 0.3, 0.05, 0, 0, 0, 0, 0]], np.float32), (3, 1))
    decision, sizes = np.zeros(3, np.int64), np.array([64, 32, 8])
    point = OperatingPoint(coverage=0.5, size_coverage=((64, 0.8), (8, 0.85)))
    bits, guided = allowed_sets(probs, decision, point, sizes)
    assert bits.tolist() == [0b1001, 1, 0b1011] and guided.all()
    assert allowed_sets(probs, decision, point, 32)[0].tolist() == [1, 1, 1]  # one size for all
    assert point.label == "model cover 0.5 64:0.8 8:0.85"
    with pytest.raises(ValueError, match="sizes"):
        allowed_sets(probs, decision, point)
    for bad in (((128, 0.9),), ((8, 0.9), (8, 0.8)), ((8, 1.5),)):
        with pytest.raises(ValueError):
            OperatingPoint(coverage=0.7, size_coverage=bad)
    with pytest.raises(ValueError, match="needs a coverage"):
        OperatingPoint(top_k=2, size_coverage=((8, 0.9),))


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
    top1 = OperatingPoint(top_k=1)
    entries = prediction_entries([pred], 64, top1)
    assert [(e.x, e.y, e.size, e.mask) for e in entries] == [
        (0, 0, 64, 8),
        (0, 0, 32, 1),
        (32, 0, 32, 1),
        (0, 32, 32, 1),
        (32, 32, 32, 1),
    ]
    pred.decision[0] = Partition.NONE  # now the root stays whole: its children are never reached
    assert [e.mask for e in prediction_entries([pred], 64, top1)] == [1]
    # an unsure root keeps the normal search, and its children (which it may split) stay guided
    pred.probs[0] = [0.3, 0.3, 0.3, 0.1, 0, 0, 0, 0, 0, 0]
    unsure = prediction_entries([pred], 64, OperatingPoint(coverage=0.95, max_types=2))
    assert [e.guided for e in unsure] == [False, True, True, True, True]
    path = tmp_path / "m.map"
    assert write_partition_map(path, entries) == 5
    assert write_partition_map(tmp_path / "u.map", unsure) == 4  # only guided nodes are written
    lines = path.read_text().splitlines()
    assert lines[0] == "av1tools-partition-map 1" and lines[2] == "3 0 0 0 32 1"
    with pytest.raises(ValueError):
        write_partition_map(path, [MapEntry(0, 0, 0, 64, 0)])


def _counters(frame_ns, nodes, node_ns, types):
    """One frame's counters: ``types`` {(size, type): (count, ns)}."""
    count, ns = np.zeros((6, 10), np.int64), np.zeros((6, 10), np.int64)
    for (size, t), (c, n) in types.items():
        count[STAT_SIZES.index(size), t], ns[STAT_SIZES.index(size), t] = c, n
    node_count = np.array([nodes.get(s, 0) for s in STAT_SIZES])
    node_time = np.array([node_ns.get(s, 0) for s in STAT_SIZES])
    return FrameCounters(0, True, 0, 0, 0, 0, 0, frame_ns, node_count, node_time, count, ns)


def test_cost_model_on_hand_made_counters():
    # 64x64 frame, sb 64: exhaustive = one 64 node (9 types) + 4x32 (9) + 16x16 (9) + 64x8 (3)
    assert exhaustive_pixels(64, 64, 64) == 9 * 4096 + 4 * 9 * 1024 + 16 * 9 * 256 + 64 * 3 * 64
    # A baseline frame: one 64 node (NONE 100, SPLIT 10 own) over four 32 nodes (NONE 50, HORZ 60 each)
    P = Partition
    base = _counters(
        1400,
        {64: 1, 32: 4},
        {64: 1000, 32: 4 * 120},
        {(64, P.NONE): (1, 100), (64, P.SPLIT): (1, 10), (32, P.NONE): (4, 200), (32, P.HORZ): (4, 240)},
    )
    # A guided frame: the 64 node forced to SPLIT, each 32 node forced to HORZ (cost 80 each here)
    guided = _counters(900, {64: 1, 32: 4}, {64: 500, 32: 4 * 90}, {(64, P.SPLIT): (1, 10), (32, P.HORZ): (4, 320)})
    model = fit_cost_model([([base], 1.6e-6)], [([guided], 1.1e-6)], 64 * 64, 1, 31)
    assert model.guided_type_ns[STAT_SIZES.index(32)][P.HORZ] == pytest.approx(80)
    assert model.baseline_type_ns[STAT_SIZES.index(32)][P.HORZ] == pytest.approx(60)
    # overhead: a 32 node took 120 with 110 of types (baseline); the 64 node 1000 - 480 - 110
    assert model.baseline_overhead_ns[STAT_SIZES.index(32)] == pytest.approx(10)
    assert model.baseline_overhead_ns[STAT_SIZES.index(64)] == pytest.approx(410)
    assert model.startup_ns == pytest.approx(200)  # CPU time outside the frames, median
    forced = [MapEntry(0, 0, 0, 64, 1 << P.SPLIT)] + [
        MapEntry(0, x, y, 32, 1 << P.HORZ) for y in (0, 32) for x in (0, 32)
    ]
    assert guided_pixels(forced, 64, 64) == 4 * 1024
    # the guided calibration frame, simulated from its own map, takes what it measured
    assert simulate_map(forced, model, 64 * 64, 1) == pytest.approx(900 + 200)
    assert simulate_counters([base], model, 64 * 64) == pytest.approx(1400 + 200)
    # types no calibration encode ran at 32x32 (guided: HORZ only; baseline: NONE, HORZ): VERT
    # costs the baselines' NONE evaluation there (50), SPLIT its loop (0)
    vert = [MapEntry(0, 0, 0, 64, 1 << P.SPLIT)] + [
        MapEntry(0, x, y, 32, 1 << P.HORZ | 1 << P.VERT | 1 << P.SPLIT) for y in (0, 32) for x in (0, 32)
    ]
    assert simulate_map(vert, model, 64 * 64, 1) == pytest.approx(1100 + 4 * 50)
    table = [list(row) for row in model.baseline_type_ns]
    table[STAT_SIZES.index(32)][P.VERT] = 70.0  # a baseline that ran VERT there: its own cost wins
    assert simulate_map(vert, replace(model, baseline_type_ns=table), 64 * 64, 1) == pytest.approx(1100 + 4 * 70)


def _node(x, y, size, own, types=None, below=0, frame=0):
    """One node of a baseline's node times: (type, own ns) pairs, its time beyond them, and
    its sub-blocks' time."""
    types = types or {}
    row = [frame, 0, y // 4, x // 4, size, 0, sum(1 << int(t) for t in types), own + below, own]
    return row, [types.get(t, 0) for t in range(NODE_TYPES)]


def _nodes(*nodes) -> NodeTimes:
    return NodeTimes(np.array([n[0] for n in nodes], dtype=np.int64), np.array([n[1] for n in nodes], dtype=np.int64))


def test_a_map_is_costed_where_its_nodes_stand_in_the_baseline():
    """Two 32x32 nodes of one baseline: an easy one (NONE 100) and a hard one (NONE 300, HORZ
    400, SPLIT 20). A node left to libaom's search costs what that node took; a guided one its
    allowed types' times there, and the size's mean evaluation for a type never tried there."""
    P = Partition
    easy = _node(0, 0, 32, 110, {P.NONE: 100})  # 10 beyond its types
    hard = _node(32, 0, 32, 760, {P.NONE: 300, P.HORZ: 400, P.SPLIT: 20}, below=500)
    root = _node(0, 0, 64, 50, {P.SPLIT: 30}, below=110 + 760 + 500)
    nodes = BaselineNodes(_nodes(easy, hard, root))
    assert nodes.search_ns == 50 + 110 + 760 + 500  # the root's time, sub-blocks included
    left = [MapEntry(0, 0, 0, 32, 0, guided=False), MapEntry(0, 32, 0, 32, 0, guided=False)]
    assert nodes.map_search_ns(left) == (0.0, 110 + 760)
    # the hard node guided to HORZ: its HORZ and its overhead (760 - 720 = 40)
    assert nodes.node_ns(MapEntry(0, 32, 0, 32, 1 << P.HORZ)) == (400 + 40, 0.0)
    # the easy node guided to HORZ, never tried there: the mean HORZ evaluation at 32x32 (400)
    assert nodes.node_ns(MapEntry(0, 0, 0, 32, 1 << P.HORZ)) == (400 + 10, 0.0)
    # a node the baseline never searched: the size's mean node, or mean overhead plus types
    assert nodes.node_ns(MapEntry(0, 0, 32, 32, 0, guided=False)) == (0.0, (110 + 760) / 2)
    assert nodes.node_ns(MapEntry(0, 0, 32, 32, 1 << P.NONE)) == (((10 + 40) / 2 + 200), 0.0)


def test_a_node_the_baseline_never_searched_costs_its_own_frames_mean_node():
    """Random access: a key frame's nodes cost several times an inter frame's, so a node the
    baseline never searched costs the mean node of its size in its own frame (the encode's
    where its frame has none of that size)."""
    P = Partition
    key = _node(0, 0, 32, 1000, {P.NONE: 900}, frame=0)
    inter = _node(0, 0, 32, 100, {P.NONE: 90}, frame=1)
    nodes = BaselineNodes(_nodes(key, inter))
    assert nodes.node_ns(MapEntry(1, 32, 0, 32, 0, guided=False)) == (0.0, 100)
    assert nodes.node_ns(MapEntry(0, 32, 0, 32, 0, guided=False)) == (0.0, 1000)
    assert nodes.node_ns(MapEntry(1, 32, 0, 32, 1 << P.NONE)) == (10 + 90, 0.0)
    assert nodes.node_ns(MapEntry(2, 0, 0, 32, 1 << P.NONE)) == ((100 + 10) / 2 + 495, 0.0)


def test_what_libaom_would_not_search_costs_nothing_and_what_a_map_does_not_name_costs_all():
    """Below a node left to libaom's search whose baseline never tried SPLIT, a map's nodes
    are not searched; a frame the map names no node of keeps its whole baseline search; a
    type never tried at a size costs the size's mean evaluation; a node searched twice is one
    node with both searches' time."""
    P = Partition
    plain = _node(0, 0, 32, 110, {P.NONE: 100})  # never split
    root = _node(0, 0, 64, 50, {P.NONE: 20, P.SPLIT: 10}, below=110)
    other = _node(0, 0, 64, 70, {P.NONE: 60})  # a second frame
    other[0][0] = 1
    twice = _node(32, 0, 32, 40, {P.HORZ: 30})
    nodes = BaselineNodes(_nodes(plain, root, other, twice, twice))
    assert nodes.frame_ns == {(0, False): 160, (1, False): 70} and nodes.search_ns == 230
    below = [MapEntry(0, x, y, 16, 1 << P.NONE) for y in (0, 16) for x in (0, 16)]
    left = [MapEntry(0, 0, 0, 64, 1 << P.SPLIT), MapEntry(0, 0, 0, 32, 0, guided=False)]
    assert nodes.map_search_ns(left + below) == (10 + 20, 110 + 70)  # frame 1: all of its search
    # the node searched twice: both searches (HORZ 2 x 30, overhead 2 x 10); VERT, never tried
    # at 32x32, costs the size's mean NONE evaluation (blocks covering the node, as NONE's)
    assert nodes.node_ns(MapEntry(0, 32, 0, 32, 1 << P.HORZ)) == (2 * 30 + 2 * (40 - 30), 0.0)
    assert nodes.node_ns(MapEntry(0, 0, 0, 32, 1 << P.VERT)) == (10 + 100, 0.0)


def test_an_ab_type_without_the_types_it_reuses_modes_from_costs_a_whole_search():
    """libaom's AB sub-blocks reuse the modes SPLIT's quadrants and the HORZ/VERT halves
    found: the baseline's HORZ_A (20) was that cheap. In a set with SPLIT and HORZ it keeps
    that cost; in a set without them it searches every mode: the node's NONE (300). A type
    no node of the size tried costs the size's NONE too, SPLIT nothing."""
    P = Partition
    node = _node(0, 0, 32, 1000, {P.NONE: 300, P.HORZ: 200, P.SPLIT: 10, P.HORZ_A: 20})
    other = _node(32, 0, 32, 100, {P.NONE: 100})
    top = _node(0, 0, 64, 600, {P.NONE: 500})  # no 64x64 node tried SPLIT or HORZ_4
    nodes = BaselineNodes(_nodes(node, other, top))
    cached = MapEntry(0, 0, 0, 32, 1 << P.HORZ | 1 << P.SPLIT | 1 << P.HORZ_A)
    assert nodes.type_costs(cached)[P.HORZ_A] == 20
    alone = MapEntry(0, 0, 0, 32, 1 << P.NONE | 1 << P.HORZ_A)
    assert nodes.type_costs(alone)[P.HORZ_A] == 300
    # never tried at 32x32: the mean NONE (200), with or without the types it reuses
    assert nodes.type_costs(MapEntry(0, 32, 0, 32, 1 << P.VERT_A))[P.VERT_A] == 200
    assert nodes.type_costs(MapEntry(0, 32, 0, 32, 1 << P.VERT_4))[P.VERT_4] == 200
    assert nodes.type_costs(MapEntry(0, 32, 0, 32, 1 << P.VERT | 1 << P.SPLIT))[P.SPLIT] == 10
    at_top = nodes.type_costs(MapEntry(0, 0, 0, 64, 1 << P.SPLIT | 1 << P.HORZ_4))
    assert (at_top[P.SPLIT], at_top[P.HORZ_4]) == (0.0, 500)


def test_an_8x8_node_carries_its_4x4_searches():
    P = Partition
    split = _node(0, 0, 8, 70, {P.NONE: 40, P.SPLIT: 20}, below=300)
    plain = _node(8, 0, 8, 50, {P.NONE: 45})
    nodes = BaselineNodes(_nodes(split, plain))
    assert nodes.node_ns(MapEntry(0, 0, 0, 8, 0, guided=False)) == (0.0, 370)
    assert nodes.node_ns(MapEntry(0, 0, 0, 8, 1 << P.SPLIT)) == (10 + 20 + 300, 0.0)
    # SPLIT forced where the baseline never split: the 4x4 searches where it did, on average
    assert nodes.node_ns(MapEntry(0, 8, 0, 8, 1 << P.SPLIT)) == (5 + 20 + 300, 0.0)


def test_scales_are_fitted_on_the_calibration_encodes_and_keep_what_they_measured():
    """Guided nodes at 1.2x their baseline times, unguided ones at 0.9x: one forced and one
    partial calibration encode recover both; encodes that cannot tell them apart get one
    scale; no encodes, none."""
    rows = [(0.4, 0.0, 0.48), (0.2, 0.5, 0.2 * 1.2 + 0.5 * 0.9)]
    fitted = fit_scales(rows, "cal")
    assert (fitted.guided, fitted.unguided) == (pytest.approx(1.2), pytest.approx(0.9))
    assert fitted.encodes == 2 and fitted.clip == "cal"
    assert simulated_search_ratio((0.2, 0.5), fitted) == pytest.approx(rows[1][2])
    one = fit_scales([(0.4, 0.0, 0.6), (0.3, 0.0, 0.45)])
    assert one.guided == one.unguided == pytest.approx(1.5)
    assert (fit_scales([]).guided, fit_scales([]).unguided) == (1.0, 1.0)


def test_a_time_saving_keeps_what_the_baseline_spent_outside_the_search():
    # 10 s of CPU, 8 of them searching: a search at 25% saves 6 s
    assert time_saving_from_ratio(0.25, 8e9, 10.0) == pytest.approx(0.6)
    assert time_saving_from_ratio(1.0, 8e9, 10.0) == pytest.approx(0.0)


def test_the_simulation_charges_the_models_own_time_inside_the_encoder():
    """A native run's measured saving pays the network's time (its timers: 0.5 s of a 10 s
    baseline): the simulation takes it off; a Python run's inference is outside the encoder."""
    native = EncodeRun("m", "model", "c", 23, 3, network_seconds=0.5)
    assert model_share(native, 10.0) == pytest.approx(0.05)
    assert model_share(EncodeRun("m", "model", "c", 23, 3), 10.0) == 0.0
    assert model_share(native, 0.0) == 0.0


def test_read_node_times(tmp_path):
    p = tmp_path / "n.nodes"
    row = list(range(len(NODE_FIELDS) + NODE_TYPES))
    header = np.frombuffer(NODES_MAGIC, dtype="<i8").tolist() + [len(row)]
    np.array(header + row + row, dtype="<i8").tofile(p)
    times = read_node_times(p)
    assert len(times) == 2 and times.column("size").tolist() == [4, 4] and times.type_ns[0, 0] == len(NODE_FIELDS)
    np.array(header + row[:-1], dtype="<i8").tofile(p)  # cut short
    with pytest.raises(ValueError, match="not an av1tools node times file"):
        read_node_times(p)


def test_read_stats(tmp_path):
    p = tmp_path / "s.txt"
    sizes = " ".join("1 2" for _ in range(6))
    types = " ".join(f"{t} {10 * t}" for _ in range(6) for t in range(10))
    p.write_text(f"0 1 0 85 120 300 40960 5000 {sizes} {types}\n1 0 1 10 12 30 4096 900 {sizes} {types}\n")
    a, b = read_stats(p)
    assert (a.display_index, a.show_frame, a.nodes, a.mode_pixels, a.frame_ns) == (0, True, 85, 40960, 5000)
    assert a.node_count.tolist() == [1] * 6 and a.type_ns[2, 3] == 30
    assert not b.show_frame


def test_ladder_comparison():
    ladder = ladder_points([(0.5, 2.0), (0.6, 4.0), (0.7, 7.0)])
    better = compare(0.55, 1.5, ladder)
    assert better.ladder_bd_rate == pytest.approx(3.0) and better.difference == pytest.approx(-1.5)
    assert "beats" in better.verdict and not better.extrapolated
    assert better.ladder_time_saving_at_bd == pytest.approx(0.375)
    worse = compare(0.8, 12.0, ladder)  # beyond the fastest preset: the last segment extended
    assert worse.extrapolated and worse.ladder_bd_rate == pytest.approx(10.0) and "loses" in worse.verdict
    slower = compare(-0.5, 2.0, ladder)  # slower than the baseline: judged against the baseline itself
    assert slower.ladder_bd_rate == 0.0 and slower.difference == pytest.approx(2.0) and "loses" in slower.verdict
    assert "cannot be judged" in compare(-0.5, -1.0, ladder).verdict  # slower presets were not measured


def _run(label, kind, cq_level, kbps, psnr, cpu, verdict="stock", **kw):
    return EncodeRun(
        label,
        kind,
        "clip",
        cq_level,
        3,
        verdict,
        kbps=kbps,
        cpu_seconds=cpu,
        cpu_seconds_all=[cpu, cpu * 1.1],
        quality={"psnr_y": psnr, "psnr_u": psnr + 2, "psnr_v": psnr + 3, "ssim_y": psnr / 50, "frames": 2},
        counters={"mode_pixels": int(cpu * 1e6), "mode_searches": 10},
        **kw,
    )


def test_report_renders_all_sections(tmp_path):
    runs = []
    for cq, rate, psnr in zip((23, 31, 39, 47), RATES[::-1], PSNR[::-1]):
        runs += [
            _run("baseline", "baseline", cq, rate * 1.002, psnr, 1.6),
            _run("baseline", "baseline", cq, rate, psnr, 2.0, "exact"),
            _run(
                "oracle",
                "oracle",
                cq,
                rate,
                psnr,
                0.5,
                "exact",
                partition_mismatches=0,
                map_nodes=100,
                identical_to_baseline=True,
                simulated_time_saving=0.74,
            ),
            _run(
                "model top-1",
                "model",
                cq,
                rate * 1.03,
                psnr - 0.05,
                0.48,
                source="model",
                inference_cpu_seconds=0.16,
                map_nodes=90,
                simulated_time_saving=0.72,
            ),
            _run("cpu-used 4", "preset", cq, rate * 1.02, psnr, 0.8),
            _run("cpu-used 5", "preset", cq, rate * 1.05, psnr, 0.56),
        ]
    runs.append(EncodeRun("cpu-used 6", "preset", "clip", 23, 6, ok=False, error="aomenc failed (exit 1): boom"))
    settings = dict(
        clips=[{"name": "clip", "path": "clip.y4m", "width": 64, "height": 64, "frames": 2, "bit_depth": 8}],
        calibration=None,
        mode="intra",
        cpu_used=3,
        sb_size=64,
        cq_levels=[23, 31, 39, 47],
        repeat=2,
        threads=1,
        verdicts=["stock", "exact"],
        guided_features="stock",
        budgets=[0.5, 1.0, 5.0],
        encoder={"label": "libaom test build"},
        points=["model top-1"],
        presets=[4, 5, 6],
        model="runs/x",
        model_kind="superblock",
        heuristic=None,
        decision="product",
        device="cpu",
        warmup_seconds={"model": 0.01},
        machine="test",
    )
    report = summarise(runs, settings, {"note": "no calibration clip"}).to_dict()
    stock, exact = report["verdicts"]["stock"], report["verdicts"]["exact"]
    rows = {r["label"]: r for r in stock["rows"]}
    assert {r["label"] for r in exact["rows"]} == {"baseline", "oracle"}
    assert {r["label"]: r for r in exact["rows"]}["oracle"]["bd_rate"]["psnr_y"]["cubic"] == pytest.approx(0, abs=1e-9)
    assert rows["model top-1"]["time_saving_encoder"] == pytest.approx(0.7)
    # end to end: the mean times (each run's rounds take 1 and 1.1 times its time: the means
    # 1.05 times), the inference charged once; the spread keeps each round against the same
    # round's baseline
    assert rows["model top-1"]["time_saving_end_to_end"] == pytest.approx(1 - (0.48 * 1.05 + 0.16) / (1.6 * 1.05))
    assert rows["model top-1"]["time_saving_spread"] == pytest.approx([0.7, 0.7])  # each round against its own
    assert rows["model top-1"]["simulation_error"] == pytest.approx(0.02)
    assert rows["cpu-used 6"]["failed"] == ["q23: aomenc failed (exit 1): boom"]
    verdict = stock["ladder"]["model top-1"]["encoder"]
    assert verdict["difference"] < 0 and "beats" in verdict["verdict"]  # +3% at 70% vs the ladder's ~+5%
    best = stock["best"]["model"]
    assert best["0.5"] is None and best["5"]["label"] == "model top-1"
    assert best["5"]["vs_ladder"] == pytest.approx(stock["ladder"]["model top-1"]["end_to_end"]["difference"])
    instrument = report["instrument"]["clip"]
    assert instrument["oracle_identical"] == 4 and instrument["baseline_cpu_vs_stock"] == pytest.approx(0.25)
    paths = write_report("encode", report, tmp_path, "test", encode_plots)
    md, page = paths["md"].read_text(), paths["html"].read_text()
    for section in SECTIONS:
        assert f"## {section}" in md and f"<h2>{section}</h2>" in page
    assert "boom" in md and "data:image/png;base64," in page and "beats libaom's presets" in md
    assert "within +5%: model top-1, 60.5% saved end to end" in md and "within +0.5%: no point fits" in md
    assert (tmp_path / "ts_vs_bdrate_stock.png").stat().st_size > 1000 and (tmp_path / "delta_quality.png").exists()


def _guided_row(label, source, ts, bd):
    """A guided point's row of one clip: its end-to-end saving and BD-rate PSNR-Y alone."""
    return Row(
        "c",
        label,
        source,
        source=source,
        guided=True,
        end_to_end=True,
        time_saving_end_to_end=ts,
        bd_rate={"psnr_y": {"cubic": bd}},
    )


def test_a_model_point_is_judged_against_the_heuristics_curve():
    """The heuristic's points, end to end, with the baseline at 0%, are a curve each model
    point is compared with at its own time saving, as the preset ladder is."""
    row = _guided_row
    rows = [row("heuristic cover 0.8", "heuristic", 0.2, 0.4), row("heuristic cover 0.7", "heuristic", 0.4, 1.2)]
    assert list(against_heuristic(rows)) == ["points"]  # no model point: the curve alone
    rows += [row("model cover 0.8", "model", 0.3, 0.5), row("model cover 0.7", "model", 0.4, 1.5)]
    out = against_heuristic(rows)
    assert out["points"] == [[0.0, 0.0], [0.2, 0.4], [0.4, 1.2]]
    better, worse = out["model cover 0.8"], out["model cover 0.7"]
    assert better["ladder_bd_rate"] == pytest.approx(0.8) and better["difference"] == pytest.approx(-0.3)
    assert better["verdict"].startswith("model cover 0.8 beats the variance heuristic")
    assert worse["difference"] == pytest.approx(0.3) and "loses to the variance heuristic" in worse["verdict"]
    assert against_heuristic([r for r in rows if r.source == "model"]) == {}


@pytest.mark.parametrize("features", ["stock", "exact"])
def test_the_other_features_curve_runs_with_the_features_the_model_points_do_not(features):
    """--compare-features: each model point twice under the stock verdict, the second with
    the other guided speed features (the exact switch on where the model's is off), as
    its own curve; the swap's kinds beside them."""
    from av1tools.eval.config import EvalEncodeConfig
    from av1tools.eval.encode.runs import ModelPoint, OtherFeatures, Swap, run_kinds

    points = (OperatingPoint(coverage=0.8), OperatingPoint(top_k=2))
    config = EvalEncodeConfig(
        sequences=("carphone",), out="x", model="default", points=points, verdicts=("stock",),
        guided_features=features, compare_features=True, swap=True,
    )  # fmt: skip
    kinds = run_kinds(config, ("model",))
    model = [k for k in kinds if type(k) is ModelPoint]
    other = [k for k in kinds if isinstance(k, OtherFeatures)]
    assert [k.point for k in other] == [k.point for k in model] == list(points)
    assert all(k.exact(config) == (features == "exact") for k in model)
    assert all(k.exact(config) == (features != "exact") for k in other)
    assert len({k.label for k in kinds}) == len(kinds)  # every run has its own name
    assert sum(isinstance(k, Swap) for k in kinds) == 2
    assert not run_kinds(replace(config, compare_features=False), ("model",))[-1].kind == "features"


def test_key_frames_searched_guides_the_inter_frames_only():
    """--key-frames-searched: each model point again with the key frames left out of its
    map (libaom searches a frame its map names no node of); all-intra codes key frames only
    and refuses it."""
    from av1tools.eval.config import EvalEncodeConfig
    from av1tools.eval.encode.inference import CodedFrame
    from av1tools.eval.encode.runs import KeySearched, ModelPoint, run_kinds
    from av1tools.model.predictor import FrameContext

    points = (OperatingPoint(coverage=0.8), OperatingPoint(top_k=2))
    config = EvalEncodeConfig(("carphone",), "x", "default", mode="ra", points=points, key_frames_searched=True)
    kinds = run_kinds(config, ("model",))
    keyed = [k for k in kinds if isinstance(k, KeySearched)]
    assert [k.point for k in keyed] == [k.point for k in kinds if type(k) is ModelPoint] == list(points) * 2
    assert len({(k.label, k.verdict) for k in kinds}) == len(kinds)
    assert {k.curve for k in keyed} == {"key frames searched"}
    luma = np.zeros((8, 8), np.uint8)
    frames = [CodedFrame(i, luma, 100, FrameContext(inter=i > 0, hidden=i == 2)) for i in range(3)]
    assert [f.display_index for f in keyed[0].guided_frames(frames)] == [1, 2]
    assert keyed[0].guided_frames([CodedFrame(0, luma, 100)]) == []  # all-intra frames have no context
    with pytest.raises(ValueError, match="inter modes"):
        EvalEncodeConfig(("carphone",), "x", "default", key_frames_searched=True)
    with pytest.raises(ValueError, match="Python"):
        replace(config, inference="native")
    with pytest.raises(ValueError, match="--model"):
        replace(config, model=None, heuristic="default")


def test_a_sets_row_carries_the_spread_of_its_rounds_means_over_clips():
    # round i of the set is the mean of the clips' round i: a round slow on one clip only
    # widens the set's spread by its share, and clips with different rounds give none
    a = Row("a", "p", "model", time_saving_encoder=0.5, time_saving_rounds=[0.4, 0.5, 0.6])
    b = Row("b", "p", "model", time_saving_encoder=0.3, time_saving_rounds=[0.3, 0.3, 0.3])
    (row,) = set_rows({"a": [a], "b": [b]})
    assert row.time_saving_rounds == pytest.approx([0.35, 0.4, 0.45])
    assert row.time_saving_spread == pytest.approx([0.35, 0.45])
    b.time_saving_rounds = [0.3, 0.3]
    assert set_rows({"a": [a], "b": [b]})[0].time_saving_spread is None


def test_a_time_saving_is_the_mean_time_over_the_baselines_mean():
    # the ratio of the mean CPU times over rounds: neither the quickest rounds' ratio (one
    # lucky baseline round moves it) nor the medians' (which keeps a slow spell)
    from av1tools.eval.encode.measure import time_saving

    base = EncodeRun("baseline", "baseline", "c", 23, 3, cpu_seconds_all=[10.0, 15.0, 11.0], cpu_seconds=11.0)
    run = EncodeRun("p", "model", "c", 23, 3, cpu_seconds_all=[9.0, 6.0, 3.0], cpu_seconds=6.0)
    assert time_saving(run, base) == pytest.approx(0.5)
    assert 1 - min(run.cpu_seconds_all) / min(base.cpu_seconds_all) == pytest.approx(0.7)
    assert 1 - run.cpu_seconds / base.cpu_seconds == pytest.approx(0.455, abs=1e-3)
    assert time_saving(run, base, 1.2) == pytest.approx(0.4)  # inference charged once
    single = EncodeRun("p", "model", "c", 23, 3, cpu_seconds_all=[7.2], cpu_seconds=7.2)
    assert time_saving(single, base) == pytest.approx(0.4)  # unequal rounds: each side's mean
    unrecorded = EncodeRun("p", "model", "c", 23, 3, cpu_seconds=6.0)  # a report without rounds
    assert time_saving(unrecorded, EncodeRun("baseline", "baseline", "c", 23, 3, cpu_seconds=12.0)) == 0.5


def test_a_bracketed_baseline_pairs_each_round_with_its_two_encodes_mean():
    from av1tools.eval.encode.measure import round_savings, time_saving

    base = EncodeRun("baseline", "baseline", "c", 23, 3, cpu_seconds_all=[10.0, 14.0], cpu_seconds=12.0)
    run = EncodeRun("p", "model", "c", 23, 3, cpu_seconds_all=[6.0, 6.0], cpu_seconds=6.0)
    assert round_savings(run, base) == pytest.approx([0.4, 1 - 6 / 14])  # no second encode: the one
    base.closing_cpu_seconds_all = [14.0, 10.0]  # a drift within each round: the mean meets the run halfway
    assert round_savings(run, base) == pytest.approx([0.5, 0.5]) and time_saving(run, base) == pytest.approx(0.5)
    base.closing_cpu_seconds_all = [10.0, 8.0]  # the rounds' means 10 and 11: their mean, 10.5
    assert time_saving(run, base) == pytest.approx(1 - 6 / 10.5)
    base.closing_cpu_seconds_all = [12.0]  # rounds that do not match: the opening encodes alone
    assert round_savings(run, base) == pytest.approx([0.4, 1 - 6 / 14])


def test_a_point_slower_than_the_baseline_is_no_budgets_best():
    row = _guided_row
    rows = [
        row("model top-3", "model", -0.25, -1.3),
        row("model cover 0.9", "model", 0.13, 0.66),
        row("model top-2", "model", 0.19, 0.63),
    ]
    best = best_points(rows, {}, (0.5, 1.0))["model"]
    assert best["0.5"] is None  # top-3 fits the budget but saves nothing
    assert best["1"]["label"] == "model top-2"
