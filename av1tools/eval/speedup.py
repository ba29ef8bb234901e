"""Simulated speed-up: a guided encode's time predicted from its decision map alone.

The patched encoder times its own partition search (docs/guided.md). eval-encode's
simulation costs a map's nodes where they stand in the clip's own baseline, whose every
node the encoder timed (AV1TOOLS_NODE_TIMES; ``BaselineNodes``):

- a node the map leaves to libaom's search costs what the baseline's search of that node
  took (its own time; an 8x8 node's 4x4 sub-blocks included), so the hard nodes a
  coverage map leaves cost what they cost, not the size's average;
- a node the map guides costs the baseline's own time of each allowed type at that node
  (the size's mean evaluation in its frame where the baseline never tried that type there;
  an AB type without the types its sub-blocks reuse modes from, a whole search: at least the
  node's NONE) and the node's overhead beyond its types; a node the baseline never searched, the size's
  mean node in its frame (in the encode where its frame has none of that size);
  a frame the map names no node of, its whole baseline search;
- what these costs miss (a forced type runs without the budget an earlier type gave it,
  results libaom reused) is two scales fitted on the calibration clip's guided encodes
  (``fit_scales``), never on the evaluated clips.

The map's simulated search over the baseline's, applied to the baseline's measured search
time, is the simulated encode; the rest of the baseline's time is kept as measured.

The unit-cost model (``CostModel``: per node size and type, the mean own time of an
evaluation, from calibration counters) is what ``av1tools evaluate`` simulates with, where
no encode of the evaluated content exists. ``exhaustive_pixels``/``guided_pixels`` measure
search work in mode-search pixels (no encoder run at all).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from av1tools.encoder import NODE_TYPES, SPLIT_BIT, NodeTimes
from av1tools.encoder import STAT_SIZE_ROW as SIZE_ROW
from av1tools.partition import MI_SIZE, MIN_NODE_SIZE, Partition, allowed_partitions, edge_allowed, mi_grid_shape


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


def _unit(model: CostModel, row: int, t: int) -> float:
    """One evaluation of type ``t`` at a size under a map: as the guided calibration encodes
    measured it, else as the baselines did; a type neither ever ran there costs the size's
    NONE evaluation (every type but SPLIT searches blocks covering the node once, as NONE
    does; SPLIT's own time is its loop: 0), as ``_mean_node`` costs an untried type (nothing
    where no encode ran NONE there either)."""
    tables = (model.guided_type_ns, model.baseline_type_ns)
    for table in tables:
        if table[row][t] == table[row][t]:
            return table[row][t]
    if t == Partition.SPLIT:
        return 0.0
    return next(
        (table[row][Partition.NONE] for table in tables if table[row][Partition.NONE] == table[row][Partition.NONE]),
        0.0,
    )


def _node_ns(model: CostModel, size: int, mask: int | None) -> float:
    """Simulated cost of searching one node (its sub-blocks' searches not included, but an
    8x8 node's 4x4 sub-blocks are); ``mask`` None: libaom's normal search."""
    row = SIZE_ROW[size]
    if mask is None:
        return _nan0(model.normal_node_ns[row])
    total = _nan0(model.guided_overhead_ns[row])
    for t in range(10):
        if mask >> t & 1:
            total += _unit(model, row, t)
    if size == 8 and mask & SPLIT_BIT:
        total += 4 * _nan0(model.node4_ns)
    return total


def _outside_search_ns(model: CostModel, frame_pixels: int, frames: int) -> float:
    return model.startup_ns + model.fixed_ns_per_pixel * frame_pixels * frames


def map_search_ns(entries: Iterable, model: CostModel) -> tuple[float, float]:
    """The unit costs of a map's partition search: (its guided nodes, the nodes it leaves to
    libaom's normal search)."""
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
    return _outside_search_ns(model, frame_pixels, frames) + guided + unguided


def simulate_counters(counters: Sequence, model: CostModel, frame_pixels: int) -> float:
    """Simulated time (ns) of an unguided encode whose work is known from its own counters
    (the evaluated clip's baseline)."""
    return _outside_search_ns(model, frame_pixels, len(counters)) + counters_search_ns(counters, model)


def simulated_time_saving(map_ns: float, baseline_ns: float) -> float:
    """The time saving a simulated guided encode promises against its simulated baseline."""
    return 1.0 - map_ns / baseline_ns


# An AB type's sub-blocks reuse the modes found before them at the node (libaom's
# reuse_best_prediction_for_part_ab: the SPLIT quadrants' NONE searches and one HORZ/VERT
# half, in stock all-intra and in good-quality inter frames): the types each AB type reads.
AB_SOURCES = {
    Partition.HORZ_A: SPLIT_BIT | 1 << Partition.HORZ,
    Partition.HORZ_B: SPLIT_BIT | 1 << Partition.HORZ,
    Partition.VERT_A: SPLIT_BIT | 1 << Partition.VERT,
    Partition.VERT_B: SPLIT_BIT | 1 << Partition.VERT,
}


def _mean_node(mine: list) -> tuple[float, float, list[float]]:
    """Of nodes of one size (BaselineNodes' records): the mean own time, the mean overhead
    beyond the types, and each type's mean evaluation. A type never tried among them costs
    their mean NONE evaluation: every type but SPLIT searches blocks covering the node once,
    as NONE does (SPLIT's own time is its loop, its sub-blocks are nodes of their own: 0)."""
    tried = np.array([[n[2] >> t & 1 for t in range(NODE_TYPES)] for n in mine]).sum(axis=0)
    spent = np.array([n[3] for n in mine]).sum(axis=0)
    known = [spent[t] / tried[t] for t in range(NODE_TYPES) if tried[t] and t != Partition.SPLIT]
    whole = float(spent[0] / tried[0]) if tried[0] else float(np.mean(known)) if known else 0.0
    untried = [0.0 if t == Partition.SPLIT else whole for t in range(NODE_TYPES)]
    types = [float(spent[t] / tried[t]) if tried[t] else untried[t] for t in range(NODE_TYPES)]
    return float(np.mean([n[1] for n in mine])), float(np.mean([n[1] - sum(n[3]) for n in mine])), types


class BaselineNodes:
    """A baseline encode's partition search node by node (its AV1TOOLS_NODE_TIMES): what
    each node of a map costs where it stands."""

    def __init__(self, times: NodeTimes) -> None:
        nodes: dict[tuple, list] = {}  # key -> [ns, own, tried mask, type ns]
        for (p, h, r, c, s, _, tried, ns, own), types in zip(times.fields.tolist(), times.type_ns.tolist()):
            key = (int(p), bool(h), int(c) * MI_SIZE, int(r) * MI_SIZE, int(s))
            if key in nodes:  # searched twice (libaom's search again when nothing was valid)
                n = nodes[key]
                n[0], n[1], n[2] = n[0] + ns, n[1] + own, n[2] | tried
                n[3] = [a + b for a, b in zip(n[3], types)]
            else:
                nodes[key] = [float(ns), float(own), int(tried), [float(t) for t in types]]
        self._nodes = nodes
        self._root = root = max((k[4] for k in nodes), default=0)
        # per coded frame, and in all: the search's time, its root nodes' with their sub-blocks
        self.frame_ns: dict[tuple[int, bool], float] = {}
        for k, n in nodes.items():
            if k[4] == root:
                self.frame_ns[k[:2]] = self.frame_ns.get(k[:2], 0.0) + n[0]
        self.search_ns = float(sum(self.frame_ns.values()))
        # what a node the baseline never searched costs: the mean node of its size in its own
        # frame (a random-access key frame's nodes cost several times an inter frame's), or of
        # its size in the whole encode where its frame has none
        scopes: dict = {}
        for k, n in nodes.items():
            scopes.setdefault((k[:2], k[4]), []).append(n)
            scopes.setdefault(k[4], []).append(n)
        self._means = {scope: _mean_node(mine) for scope, mine in scopes.items()}
        eights = [n for k, n in nodes.items() if k[4] == 8]
        split = [n for n in eights if n[2] & SPLIT_BIT]
        # an 8x8 node's 4x4 sub-blocks (never map entries): their search where it ran, on average
        self._split4_ns = float(np.mean([n[0] - n[1] for n in split])) if split else 0.0
        self._below8_ns = float(np.mean([n[0] - n[1] for n in eights])) if eights else 0.0

    def _mean(self, e) -> tuple[float, float, list[float]]:
        """The mean node ``e`` is costed by where the baseline never searched it (``_mean_node``)."""
        scope = ((e.display_index, bool(e.hidden)), e.size)
        return self._means.get(scope) or self._means.get(e.size) or (0.0, 0.0, [0.0] * NODE_TYPES)

    def _searched(self, e, unguided: set, pruned: set) -> bool:
        """Whether the guided encode searches ``e``: not below a node left to libaom's search
        whose baseline search never tried SPLIT there (nor below such an unsearched node)."""
        if e.size >= self._root:
            return True
        parent = (e.display_index, bool(e.hidden), e.x - e.x % (2 * e.size), e.y - e.y % (2 * e.size), 2 * e.size)
        if parent in pruned:
            return False
        if parent not in unguided:
            return True
        n = self._nodes.get(parent)  # never searched in the baseline either: its children may be
        return n is None or bool(n[2] & SPLIT_BIT)

    def node_ns(self, e) -> tuple[float, float]:
        """(guided, unguided) cost of one map entry (``MapEntry``), sub-blocks excluded
        except an 8x8 node's 4x4 ones; a node the baseline never searched costs the size's
        mean node in its frame (mean overhead and mean evaluations, for a guided one; ``_mean``)."""
        if e.size < 8:
            return 0.0, 0.0
        n = self._nodes.get((e.display_index, bool(e.hidden), e.x, e.y, e.size))
        if not e.guided:
            if n is None:
                return 0.0, self._mean(e)[0] + (self._below8_ns if e.size == 8 else 0.0)
            return 0.0, n[0] if e.size == 8 else n[1]
        tried = n[2] if n is not None else 0
        cost = n[1] - sum(n[3]) if n is not None else self._mean(e)[1]
        cost += sum(self.type_costs(e))
        if e.size == 8 and e.mask & SPLIT_BIT:
            cost += n[0] - n[1] if tried & SPLIT_BIT else self._split4_ns
        return cost, 0.0

    def type_costs(self, e) -> list[float]:
        """Each partition type's simulated own time at a guided entry: the baseline's time of
        that type at that node, the size's mean evaluation in its frame where the baseline
        never tried it there; 0 for the types its mask does not allow. An AB type whose set
        lacks a type its sub-blocks reuse modes from (``AB_SOURCES``) searches every mode of
        its blocks: at least the node's NONE evaluation (blocks covering the same area; at
        32x32, kivy-city q23 top-2, the baseline's cached HORZ_B/VERT_B evaluations took
        0.27-0.28 ms, the guided encode's in sets without SPLIT 0.46-0.56)."""
        n = self._nodes.get((e.display_index, bool(e.hidden), e.x, e.y, e.size))
        mean = self._mean(e)[2]
        tried = n[2] if n is not None else 0

        def at(t: int) -> float:
            return n[3][t] if tried >> t & 1 else mean[t]

        costs = [at(t) if e.mask >> t & 1 else 0.0 for t in range(NODE_TYPES)]
        for t, sources in AB_SOURCES.items():
            if e.mask >> t & 1 and e.mask & sources != sources:
                costs[t] = max(costs[t], at(Partition.NONE))
        return costs

    def map_search_ns(self, entries: Iterable) -> tuple[float, float]:
        """A map's simulated search: (its guided nodes, the nodes it leaves to libaom's
        search), every entry the guided encoder reaches costed where it stands, largest
        first. A map may list nodes below one it leaves to libaom that libaom would not
        search (the baseline never split there): they cost nothing. A coded frame the map
        names no node of keeps the baseline's whole search of it."""
        guided = unguided = 0.0
        left, pruned, named = set(), set(), set()
        for e in sorted(entries, key=lambda e: -e.size):
            key = (e.display_index, bool(e.hidden), e.x, e.y, e.size)
            named.add(key[:2])
            if not self._searched(e, left, pruned):
                pruned.add(key)
                continue
            if not e.guided:
                left.add(key)
            g, u = self.node_ns(e)
            guided += g
            unguided += u
        unguided += sum(ns for frame, ns in self.frame_ns.items() if frame not in named)
        return guided, unguided

    def map_ratios(self, entries: Iterable) -> tuple[float, float]:
        """``map_search_ns`` as shares of this baseline's search."""
        g, u = self.map_search_ns(entries)
        return (g / self.search_ns, u / self.search_ns) if self.search_ns > 0 else (0.0, 0.0)


@dataclass(frozen=True)
class SearchScales:
    """What node costs taken from a baseline miss, fitted on the calibration clip's guided
    encodes (1: not fitted): a guided node costs ``guided`` times its allowed types'
    baseline times, a node left to libaom's search ``unguided`` times its baseline time."""

    guided: float = 1.0
    unguided: float = 1.0
    encodes: int = 0
    clip: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def search_ns(counters: Sequence) -> float:
    """An encode's measured partition-search time, from its counters."""
    s = _sums(counters)
    return float(s["node_ns"][_root_row(s)])


def fit_scales(rows: Sequence[tuple[float, float, float]], clip: str = "") -> SearchScales:
    """The scales from calibration encodes, each (its map's guided share, its unguided share
    of the baseline's simulated search, its measured search over the baseline's measured
    one): one least-squares fit over every encode (forced maps fix the guided nodes' scale,
    coverage maps the unguided nodes'); one scale for both where the encodes cannot tell
    them apart or the fit is not positive."""
    if not rows:
        return SearchScales(clip=clip)
    a = np.array([[g, u] for g, u, _ in rows], dtype=float)
    y = np.array([m for _, _, m in rows], dtype=float)
    if np.linalg.matrix_rank(a) == 2:
        coef = np.linalg.lstsq(a, y, rcond=None)[0]
        if (coef > 0).all():
            return SearchScales(float(coef[0]), float(coef[1]), len(rows), clip)
    both = float(y.sum() / a.sum()) if a.sum() > 0 else 1.0
    return SearchScales(both, both, len(rows), clip)


def simulated_search_ratio(ratios: tuple[float, float], scales: SearchScales) -> float:
    """A map's simulated search over its baseline's, scaled."""
    return scales.guided * ratios[0] + scales.unguided * ratios[1]


def time_saving_from_ratio(ratio: float, baseline_search_ns: float, baseline_cpu_s: float) -> float:
    """The time saving of an encode whose search takes ``ratio`` of its baseline's measured
    search time, everything outside the search as the baseline measured it."""
    total = baseline_cpu_s * 1e9
    return 1.0 - (total - baseline_search_ns * (1.0 - ratio)) / total if total > 0 else 0.0


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
