"""Where a guided encode's simulated search differs from what it measured, node size by type.

For one guided run of a finished eval-encode study (a native run, whose dump lists every set
the encoder used), prints per node size and partition type: the baseline's evaluations and
their time (its counters), what the simulation costs the run's allowed evaluations at
(``BaselineNodes.type_costs``: each allowed type's own time at that node in the baseline's
node times, the size's mean where the baseline never tried it there; guided nodes only, a
node left to libaom's search is costed by its own baseline time as a whole), and the guided
encode's own counters (all its nodes, guided and left alike). The guided encode may evaluate
a type at more nodes than the baseline did (an allowed set overrides libaom's pruning) or
fewer (libaom's pruning inside the set): the simulation costs those at the size's mean.

    python benchmarks/simulation_nodes.py reports/study kivy-city-f0-189 31 "model cover 0.9"
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from av1tools.encoder import NODE_TYPES, STAT_SIZE_ROW, read_node_times, read_stats
from av1tools.eval.speedup import BaselineNodes
from av1tools.native import read_dump
from av1tools.partition import Partition

SIZES = (64, 32, 16, 8)


def simulated(entries, nodes: BaselineNodes) -> tuple[np.ndarray, np.ndarray]:
    """Per size row and type: the allowed evaluations at guided nodes and their simulated ns."""
    count, ns = np.zeros((6, NODE_TYPES)), np.zeros((6, NODE_TYPES))
    for e in entries:
        if not e.guided or e.size not in SIZES:
            continue
        row = STAT_SIZE_ROW[e.size]
        count[row] += [e.mask >> t & 1 for t in range(NODE_TYPES)]
        ns[row] += nodes.type_costs(e)
    return count, ns


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("clip")
    ap.add_argument("cq_level", type=int)
    ap.add_argument("label", help='a guided run\'s label, e.g. "model cover 0.9"')
    args = ap.parse_args()
    work = args.study / "encodes"
    stem = f"{args.clip}_q{args.cq_level}_"
    run = f"{stem}{args.label.replace(' ', '_')}"  # a label's dots are not suffixes
    sets, stats = work / f"{run}.sets", work / f"{run}.stats"
    for path in (work / f"{stem}baseline.nodes", sets, stats):
        if not path.exists():
            raise SystemExit(f"{path}: not found (a native run of a study whose baselines wrote node times)")
    nodes = BaselineNodes(read_node_times(work / f"{stem}baseline.nodes"))
    sim_count, sim_ns = simulated(read_dump(sets), nodes)
    base, guided = read_stats(work / f"{stem}baseline.stats"), read_stats(stats)
    b_count, b_ns = sum(c.type_count for c in base), sum(c.type_ns for c in base)
    g_count, g_ns = sum(c.type_count for c in guided), sum(c.type_ns for c in guided)
    print(f"{args.clip} q{args.cq_level} {args.label}: evaluations and ms (baseline | simulated | guided encode)")
    for size in SIZES:
        row = STAT_SIZE_ROW[size]
        print(f"{size}x{size}")
        for t in range(NODE_TYPES):
            if b_count[row, t] or sim_count[row, t] or g_count[row, t]:
                print(
                    f"  {Partition(t).name:8s} {int(b_count[row, t]):7d} {b_ns[row, t] / 1e6:8.1f} | "
                    f"{int(sim_count[row, t]):7d} {sim_ns[row, t] / 1e6:8.1f} | "
                    f"{int(g_count[row, t]):7d} {g_ns[row, t] / 1e6:8.1f}"
                )
    rows = [STAT_SIZE_ROW[size] for size in SIZES]
    print(
        f"all types ms: baseline {b_ns[rows].sum() / 1e6:.1f} | simulated (guided nodes) {sim_ns[rows].sum() / 1e6:.1f}"
        f" | guided encode {g_ns[rows].sum() / 1e6:.1f}"
    )


if __name__ == "__main__":
    main()
