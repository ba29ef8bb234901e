"""How much a measured time saving moves between studies, per way of taking it from rounds.

Reads a finished eval-encode study of many rounds (report.json: every encode's CPU time per
round) and, for every split of its rounds into two halves (the first round always in the
first half), computes each clip's operating points (the mean over cq-levels) from each half
alone, with each estimator: the two halves are two independent studies of half the rounds,
and their difference is what such studies would disagree by. Prints the RMS and largest
difference per estimator, each point's estimate from all rounds, and the study's simulated
savings' error against each estimator (read only: the choice is the split-half table's).

    python benchmarks/timing_noise.py reports/noise6

eval-encode's ``measure.time_saving`` is ``ratio of means`` (chosen by this benchmark's
split-half difference alone, pooled over three studies, never by the simulation's error;
``quickest`` until 2026-12-03, chosen on one study that the next two did not bear out).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from collections import defaultdict
from pathlib import Path

from simulation_check import as_runs  # this folder is on the path when run as a script


def paired_median(runs, bases):
    return statistics.median(1 - r / b for r, b in zip(runs, bases))


def paired_mean(runs, bases):
    return statistics.mean(1 - r / b for r, b in zip(runs, bases))


def medians(runs, bases):
    return 1 - statistics.median(runs) / statistics.median(bases)


def means(runs, bases):
    return 1 - statistics.mean(runs) / statistics.mean(bases)


def quickest(runs, bases):
    return 1 - min(runs) / min(bases)


def quickest_baseline_round(runs, bases):
    i = min(range(len(bases)), key=bases.__getitem__)
    return 1 - runs[i] / bases[i]


ESTIMATORS = {
    "paired median": paired_median,
    "paired mean": paired_mean,
    "ratio of medians": medians,
    "ratio of means": means,
    "quickest": quickest,
    "quickest baseline's round": quickest_baseline_round,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    args = ap.parse_args()
    report = json.loads((args.study / "report.json").read_text())
    verdict = report["settings"]["verdicts"][0]
    mine = [r for r in as_runs(report) if r.ok and r.verdict == verdict]
    # a baseline's round as eval-encode pairs it (bracketed: the mean of its two encodes)
    base = {(r.clip, r.cq_level): r.round_cpu_seconds() for r in mine if r.kind == "baseline"}
    points = defaultdict(dict)
    for r in mine:
        if r.kind != "baseline":  # guided points and presets alike
            points[(r.clip, r.label)][r.cq_level] = r.cpu_seconds_all
    rounds = len(next(iter(base.values())))
    if rounds < 4:
        raise SystemExit(f"{args.study}: {rounds} rounds; halves of at least two rounds need four or more")
    halves = [a for a in itertools.combinations(range(rounds), rounds // 2) if 0 in a]

    def estimate(est, key, idx):
        clip = key[0]
        return statistics.mean(
            est([v[i] for i in idx], [base[(clip, cq)][i] for i in idx]) for cq, v in points[key].items()
        )

    print(f"{args.study}: {rounds} rounds, {len(halves)} splits into halves, {len(points)} clip-points")
    for name, est in ESTIMATORS.items():
        diffs = []
        for key in points:
            for a in halves:
                b = [i for i in range(rounds) if i not in a]
                diffs.append(estimate(est, key, a) - estimate(est, key, b))
        rms = (sum(d * d for d in diffs) / len(diffs)) ** 0.5
        over = sum(abs(d) > 0.03 for d in diffs) / len(diffs)
        print(
            f"{name:26s} halves differ by {rms * 100:5.2f} pts RMS, at most {max(map(abs, diffs)) * 100:5.2f}; "
            f"{over * 100:4.1f}% by more than 3"
        )
    print("\nfrom all rounds:", " | ".join(ESTIMATORS))
    for key in sorted(points):
        values = " ".join(f"{estimate(e, key, range(rounds)) * 100:6.1f}" for e in ESTIMATORS.values())
        print(f"{key[0][:24]:24s} {key[1]:22s} {values}")
    simulated = defaultdict(list)  # the study's simulated savings, per clip-point
    for r in mine:
        if r.simulated_time_saving is not None:
            simulated[(r.clip, r.label)].append(r.simulated_time_saving)
    if simulated:
        print("\nthe simulation's error against each estimator (within ±3 points, largest):")
        for name, est in ESTIMATORS.items():
            errors = [statistics.mean(v) - estimate(est, key, range(rounds)) for key, v in simulated.items()]
            within = sum(abs(e) <= 0.03 for e in errors)
            print(f"{name:26s} {within} of {len(errors)}, largest {max(map(abs, errors)) * 100:.1f}")
    spread = [statistics.pstdev(v) / statistics.mean(v) for v in base.values()]
    print(
        f"\nbaselines' CPU time over rounds: coefficient of variation median {statistics.median(spread) * 100:.1f}%, "
        f"largest {max(spread) * 100:.1f}%"
    )


if __name__ == "__main__":
    main()
