"""Simulated speed-up: a guided encode's time predicted from its decision map alone.

The patched encoder times its own partition search (docs/guided.md): per node size and
partition type, the evaluations and their own time; per node size, the nodes searched and
their time including their sub-blocks; per frame, the whole encode. From *calibration*
encodes (another clip, same settings) a cost model takes:

- the own time of one evaluation of each (node size, type), pooled over every calibration
  encode (so budget exits and reused results are in the average, as they happen);
- the overhead of searching a node beyond its type evaluations (pruning models, context
  saves), per node size;
- the cost of a node left to libaom's normal search (what the calibration baselines spent
  per node of that size), and of a 4x4 node;
- the time outside the partition search, per pixel of a frame.

A map is then simulated node by node (the nodes the guided encoder reaches, each with its
allowed types), and so is the evaluated clip's own baseline from its counters; the
simulated time saving is one minus their ratio. It is checked against the measured one in
every report: nothing in it is fitted to the encodes it predicts.

``exhaustive_pixels``/``guided_pixels`` measure search work in mode-search pixels for
``evaluate`` (no encoder run at all).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from av1tools.encoder import SPLIT_BIT
from av1tools.encoder import STAT_SIZE_ROW as SIZE_ROW
from av1tools.partition import MIN_NODE_SIZE, Partition, allowed_partitions, edge_allowed, mi_grid_shape


@dataclass(frozen=True)
class CostModel:
    """Unit costs (CPU nanoseconds) at one cq-level, from calibration encodes."""

    cq_level: int
    guided_type_ns: list  # [size row][type]: own time of one evaluation at a node a map constrains
    baseline_type_ns: list  # [size row][type]: the same under libaom's normal search
    guided_overhead_ns: list  # [size row]: per node, beyond its type evaluations (guided encodes)
    baseline_overhead_ns: list  # [size row]: the same in the baselines
    normal_node_ns: list  # [size row]: own cost of a node under libaom's normal search
    node4_ns: float  # a 4x4 node, all included
    fixed_ns_per_pixel: float  # per frame pixel: everything outside the partition search
    startup_ns: float  # per encode: the encoder process's time outside its frames
    encodes: int
    clip: str = ""
    # What the unit costs alone miss, fitted on the calibration encodes' measured times (1:
    # not fitted): the partition search of an unguided encode, and of a guided one split
    # into its guided nodes and the nodes it leaves to libaom's search (those a map leaves
    # are the hard ones, which cost more than the baseline's average node).
    baseline_scale: float = 1.0
    guided_scale: float = 1.0
    unguided_scale: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)


def _sums(counters: Iterable) -> dict[str, np.ndarray]:
    counters = list(counters)
    return {
        "frame_ns": np.array(sum(c.frame_ns for c in counters), dtype=float),
        "node_count": sum(c.node_count for c in counters).astype(float),
        "node_ns": sum(c.node_ns for c in counters).astype(float),
        "type_count": sum(c.type_count for c in counters).astype(float),
        "type_ns": sum(c.type_ns for c in counters).astype(float),
    }


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _root_row(s: dict) -> int:
    """The counters' row of the largest node size searched: its nodes' time is the whole
    partition search."""
    return int(np.argmax(s["node_count"] > 0))


def _overhead(s: dict) -> np.ndarray:
    """Per node of each size: its search time beyond its sub-blocks' and its types'."""
    children = np.append(s["node_ns"][1:], 0.0)
    return _ratio(s["node_ns"] - children - s["type_ns"].sum(axis=1), s["node_count"])


def fit_cost_model(
    baselines: Sequence[tuple[list, float]],
    guided: Sequence[tuple[list, float]],
    frame_pixels: int,
    frames: int,
    cq_level: int,
    clip: str = "",
) -> CostModel:
    """Unit costs from calibration encodes, each (its FrameCounters, its CPU seconds):
    ``baselines`` (libaom's normal search) and ``guided`` ones (maps of any kind)."""
    runs = list(baselines) + list(guided)
    every = _sums(c for counters, _ in runs for c in counters)
    base = _sums(c for counters, _ in baselines for c in counters)
    steered = _sums(c for counters, _ in guided for c in counters) if guided else base
    sb_row = _root_row(every)
    base_children = np.append(base["node_ns"][1:], 0.0)
    fixed = every["frame_ns"] - every["node_ns"][sb_row]
    startup = [cpu * 1e9 - sum(c.frame_ns for c in counters) for counters, cpu in runs]
    return CostModel(
        cq_level,
        _ratio(steered["type_ns"], steered["type_count"]).tolist(),
        _ratio(base["type_ns"], base["type_count"]).tolist(),
        _overhead(steered).tolist(),
        _overhead(base).tolist(),
        _ratio(base["node_ns"] - base_children, base["node_count"]).tolist(),
        float(_ratio(every["node_ns"][SIZE_ROW[4]], every["node_count"][SIZE_ROW[4]])),
        float(fixed / max(frame_pixels * frames * len(runs), 1)),
        float(max(np.median(startup), 0.0)),
        len(runs),
        clip,
    )


def _nan0(x: float) -> float:
    return 0.0 if x != x else x


def _unit(table: list, row: int, t: int) -> float:
    unit = table[row][t]
    if unit == unit:
        return unit
    known = [u for u in table[row] if u == u]  # never seen in calibration: the size's mean evaluation
    return float(np.mean(known)) if known else 0.0


def _node_ns(model: CostModel, size: int, mask: int | None) -> float:
    """Simulated cost of searching one node (its sub-blocks' searches not included, but an
    8x8 node's 4x4 sub-blocks are); ``mask`` None: libaom's normal search."""
    row = SIZE_ROW[size]
    if mask is None:
        return _nan0(model.normal_node_ns[row])
    total = _nan0(model.guided_overhead_ns[row])
    for t in range(10):
        if mask >> t & 1:
            total += _unit(model.guided_type_ns, row, t)
    if size == 8 and mask & SPLIT_BIT:
        total += 4 * _nan0(model.node4_ns)
    return total


def _outside_search_ns(model: CostModel, frame_pixels: int, frames: int) -> float:
    return model.startup_ns + model.fixed_ns_per_pixel * frame_pixels * frames


def map_search_ns(entries: Iterable, model: CostModel) -> tuple[float, float]:
    """The unit costs of a map's partition search: (its guided nodes, the nodes it leaves to
    libaom's normal search), before the calibrated scales."""
    guided = unguided = 0.0
    for e in entries:
        if e.guided:
            guided += _node_ns(model, e.size, e.mask)
        else:
            unguided += _node_ns(model, e.size, None)
    return guided, unguided


def counters_search_ns(counters: Sequence, model: CostModel) -> float:
    """The unit costs of an unguided encode's partition search, known from its own counters:
    its evaluations and nodes at the calibration baselines' unit costs."""
    s = _sums(counters)
    unit = np.nan_to_num(np.array(model.baseline_type_ns, dtype=float))
    total = float((s["type_count"] * unit).sum())
    return total + float((s["node_count"] * np.nan_to_num(np.array(model.baseline_overhead_ns, dtype=float))).sum())


def simulate_map(entries: Iterable, model: CostModel, frame_pixels: int, frames: int) -> float:
    """Simulated encode time (ns) of a map: every entry the guided encoder reaches
    (``MapEntry``; ``guided=False`` ones keep the normal search), the time outside the
    partition search, and the encoder's start-up."""
    guided, unguided = map_search_ns(entries, model)
    search = model.guided_scale * guided + model.unguided_scale * unguided
    return _outside_search_ns(model, frame_pixels, frames) + search


def simulate_counters(counters: Sequence, model: CostModel, frame_pixels: int) -> float:
    """Simulated time (ns) of an unguided encode whose work is known from its own counters
    (the evaluated clip's baseline)."""
    search = model.baseline_scale * counters_search_ns(counters, model)
    return _outside_search_ns(model, frame_pixels, len(counters)) + search


def calibrated(
    model: CostModel,
    baselines: Sequence[tuple[list, float]],
    guided: Sequence[tuple[list, float, list]],
    frame_pixels: int,
    frames: int,
) -> CostModel:
    """``model`` with its scales fitted on the calibration encodes' CPU times: ``baselines``
    (counters, CPU seconds) and ``guided`` ones (counters, CPU seconds, the map's reached
    entries). The guided scales are one least-squares fit over every guided encode (top-k
    maps fix the guided nodes' scale, coverage maps the unguided nodes'); a scale the
    encodes cannot determine stays 1."""
    outside = _outside_search_ns(model, frame_pixels, frames)
    base_sim = [counters_search_ns(c, model) for c, _ in baselines]
    base_meas = [cpu * 1e9 - outside for _, cpu in baselines]
    baseline_scale = sum(base_meas) / sum(base_sim) if sum(base_sim) > 0 else 1.0
    rows = [(*map_search_ns(entries, model), cpu * 1e9 - outside) for _, cpu, entries in guided]
    guided_scale = unguided_scale = 1.0
    if rows:
        a = np.array([[g, u] for g, u, _ in rows], dtype=float)
        y = np.array([m for _, _, m in rows], dtype=float)
        if np.linalg.matrix_rank(a) == 2:
            coef = np.linalg.lstsq(a, y, rcond=None)[0]
            if (coef > 0).all():
                guided_scale, unguided_scale = (float(c) for c in coef)
        if guided_scale == unguided_scale == 1.0 and a[:, 0].sum() > 0:  # one scale for both
            guided_scale = unguided_scale = float(y.sum() / a.sum(axis=1).sum())
    return replace(
        model, baseline_scale=float(baseline_scale), guided_scale=guided_scale, unguided_scale=unguided_scale
    )


def simulated_time_saving(map_ns: float, baseline_ns: float) -> float:
    """The time saving a simulated guided encode promises against its simulated baseline."""
    return 1.0 - map_ns / baseline_ns


def time_saving_against(entries: Iterable, model: CostModel, baseline: Sequence, baseline_cpu_s: float) -> float:
    """The time saving a map promises against the clip's own measured baseline (its counters
    and CPU time): the baseline's partition-search time, measured, scaled by the simulated
    ratio of the map's search to the baseline's (both at the calibration's unit costs and
    scales); everything outside the search as the baseline measured it. So a clip whose
    search costs more or less per node than the calibration clip's (content, resolution,
    caches), or spends more of its time outside the search, is taken as it is."""
    s = _sums(baseline)
    search = float(s["node_ns"][_root_row(s)])
    units = model.baseline_scale * counters_search_ns(baseline, model)
    guided, unguided = map_search_ns(entries, model)
    ratio = (model.guided_scale * guided + model.unguided_scale * unguided) / units if units > 0 else 1.0
    total = baseline_cpu_s * 1e9
    return 1.0 - (total - search + search * ratio) / total


def exhaustive_pixels(width: int, height: int, sb_size: int) -> int:
    """Mode-search pixels of a search that tries every allowed type at every node."""
    mi_rows, mi_cols = mi_grid_shape(width, height)
    total = 0
    size = sb_size
    xs, ys = np.meshgrid(np.arange(0, mi_cols * 4, sb_size), np.arange(0, mi_rows * 4, sb_size))
    nodes = list(zip(xs.ravel(), ys.ravel()))
    while size >= MIN_NODE_SIZE and nodes:
        per_node = len([p for p in allowed_partitions(size) if p != Partition.SPLIT])
        total += len(nodes) * per_node * size * size
        half = size // 2
        nodes = [
            (x + dx, y + dy)
            for x, y in nodes
            for dy in (0, half)
            for dx in (0, half)
            if (y + dy) // 4 < mi_rows and (x + dx) // 4 < mi_cols
        ]
        size = half
    return total


def guided_pixels(entries: Iterable, width: int, height: int) -> int:
    """Mode-search pixels the patched encoder spends on the guided nodes of a decision map."""
    mi_rows, mi_cols = mi_grid_shape(width, height)
    total = 0
    for e in entries:
        if not e.guided:
            continue
        mask = e.mask
        edge = edge_allowed(e.x, e.y, e.size, mi_rows, mi_cols)
        if edge is not None:
            mask &= sum(1 << int(p) for p in edge)
            if not mask:
                total += e.size * e.size
                continue
        total += bin(mask & ~SPLIT_BIT).count("1") * e.size * e.size
    return total
