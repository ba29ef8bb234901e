"""From a study's encodes to its rows: per verdict, time savings (with their spread over
rounds), BD-rates, the simulation's error, the oracle's checks, the verdict against the
preset ladder, the best point per BD-rate budget, and means over a set of clips."""

from __future__ import annotations

import statistics

from av1tools.eval.bdrate import avm_bd_rate, bd_rate
from av1tools.eval.encode.measure import EncodeRun, round_savings, time_saving
from av1tools.eval.encode.result import BD_METHODS, BD_METRICS, ClipResult, Row, VerdictResult
from av1tools.eval.encode.runs import KINDS, Baseline, Oracle
from av1tools.eval.ladder import compare, ladder_points


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.mean(values) if values else None


BD = tuple[tuple[str, ...], tuple[str, ...]]  # (metrics, methods) BD-rates are computed for


def _one_bd_rate(rate_a, quality_a, rate_t, quality_t, method: str, metric: str) -> float:
    """One BD-rate; AVM's method knows the metric (its VMAF saturation filter)."""
    if method == "avm":
        from av1tools.eval.metrics import AVM_NAMES

        return avm_bd_rate(rate_a, quality_a, rate_t, quality_t, AVM_NAMES.get(metric, metric))
    return bd_rate(rate_a, quality_a, rate_t, quality_t, method)


def _bd_rates(base: dict[int, EncodeRun], mine: list[EncodeRun], notes: list[str], bd: BD) -> dict:
    """metric -> method -> BD-rate of ``mine`` against the baseline runs ``base`` (by cq-level)."""
    out: dict = {}
    rates = [base[r.cq_level].kbps for r in mine]
    metrics, methods = bd
    for metric in metrics:
        if any(metric not in r.quality for r in mine + [base[r.cq_level] for r in mine]):
            continue
        bq = [base[r.cq_level].quality[metric] for r in mine]
        mq = [r.quality[metric] for r in mine]
        out[metric] = {}
        for method in methods:
            try:
                out[metric][method] = _one_bd_rate(rates, bq, [r.kbps for r in mine], mq, method, metric)
            except ValueError as e:
                out[metric][method] = None
                notes.append(str(e))
    return out


def _per_round_means(per_item: list) -> list | None:
    """Per round, the mean over the items' savings (None unless every item has the same
    rounds)."""
    if not per_item or any(not p for p in per_item) or len({len(p) for p in per_item}) != 1:
        return None
    return [statistics.mean(p[i] for p in per_item) for i in range(len(per_item[0]))]


def _spread(rounds: list | None) -> list | None:
    return [min(rounds), max(rounds)] if rounds else None


def _row(label: str, group: list[EncodeRun], base: dict, stock: dict, bd: BD) -> Row:
    kind = KINDS[group[0].kind]
    ok = [r for r in group if r.ok and r.cq_level in base]
    row = Row(
        group[0].clip,
        label,
        kind.kind,
        group[0].verdict,
        group[0].source,
        kind.guided,
        kind.end_to_end,
        kind.on_ladder,
        cq_levels=[r.cq_level for r in ok],
        failed=[f"q{r.cq_level}: {r.error}" for r in group if not r.ok],
    )
    if not ok:
        return row
    row.time_saving_encoder = statistics.mean([time_saving(r, base[r.cq_level]) for r in ok])
    row.time_saving_end_to_end = statistics.mean(
        [time_saving(r, base[r.cq_level], r.inference_cpu_seconds) for r in ok]
    )
    # each round against the same round's baselines, the mean over cq-levels
    row.time_saving_rounds = _per_round_means([round_savings(r, base[r.cq_level]) for r in ok])
    row.time_saving_spread = _spread(row.time_saving_rounds)
    row.kbps = [r.kbps for r in ok]
    row.psnr_y = [r.quality["psnr_y"] for r in ok]
    row.ssim_y = [r.quality["ssim_y"] for r in ok]
    row.inference_share = _mean(
        [(r.inference_cpu_seconds + r.network_seconds) / base[r.cq_level].cpu_seconds for r in ok]
    )
    if stock and all(r.cq_level in stock for r in ok):
        row.time_saving_vs_stock = statistics.mean(
            [time_saving(r, stock[r.cq_level], r.inference_cpu_seconds) for r in ok]
        )
    if kind is Baseline:
        row.bd_rate = {m: dict.fromkeys(bd[1], 0.0) for m in bd[0]}
    elif len(ok) >= 4:
        row.bd_rate = _bd_rates(base, ok, row.notes, bd)
    sims = [r.simulated_time_saving for r in ok if r.simulated_time_saving is not None]
    if sims:
        row.simulated_time_saving = statistics.mean(sims)
        row.simulation_error = row.simulated_time_saving - row.time_saving_encoder
    if kind is Oracle:
        row.partition_mismatches = sum(r.partition_mismatches or 0 for r in ok)
        row.map_nodes = sum(r.map_nodes for r in ok)
        row.identical_to_baseline = sum(bool(r.identical_to_baseline) for r in ok)
    return row


def baselines(runs: list[EncodeRun], clip: str, verdict: str) -> dict[int, EncodeRun]:
    """The measured baseline of each cq-level of one clip under one verdict."""
    return {r.cq_level: r for r in runs if r.clip == clip and r.verdict == verdict and r.kind == Baseline.kind and r.ok}


def clip_rows(runs: list[EncodeRun], clip: str, verdict: str, bd: BD = (BD_METRICS, BD_METHODS)) -> list[Row]:
    """One row per run label of one clip under ``verdict``."""
    mine = [r for r in runs if r.clip == clip and r.verdict == verdict]
    base, stock = baselines(runs, clip, verdict), baselines(runs, clip, "stock")
    labels = dict.fromkeys(r.label for r in mine)
    return [_row(lb, [r for r in mine if r.label == lb], base, stock, bd) for lb in labels]


def ladder_verdicts(rows: list[Row]) -> dict:
    """Every guided row against the preset ladder of the same rows (encoder time, and end to
    end for rows charged inference)."""
    presets = [(r.time_saving_encoder, r.bd()) for r in rows if r.on_ladder and r.bd() is not None]
    if not presets:
        return {}
    ladder = ladder_points(presets)
    out: dict = {"points": ladder.tolist()}
    for r in rows:
        if not r.guided or r.bd() is None:
            continue
        out[r.label] = {"encoder": compare(r.time_saving_encoder, r.bd(), ladder, r.label).to_dict()}
        if r.end_to_end:
            out[r.label]["end_to_end"] = compare(
                r.time_saving_end_to_end, r.bd(), ladder, f"{r.label} (end to end)"
            ).to_dict()
    return out


HEURISTIC_CURVE = ("the variance heuristic", "the heuristic", "the heuristic's fastest point")


def against_heuristic(rows: list[Row]) -> dict:
    """Every model point, end to end, against the variance heuristic's own curve (its points
    end to end, with the baseline at 0%), as against the preset ladder: the baseline a
    learned model must beat. Empty without heuristic rows."""
    curve = [(r.time_saving_end_to_end, r.bd()) for r in rows if r.source == "heuristic" and r.bd() is not None]
    if not curve:
        return {}
    points = ladder_points(curve)
    out: dict = {"points": points.tolist()}
    for r in rows:
        if r.source == "model" and r.end_to_end and r.bd() is not None:
            out[r.label] = compare(r.time_saving_end_to_end, r.bd(), points, r.label, HEURISTIC_CURVE).to_dict()
    return out


def best_points(rows: list[Row], ladder: dict, budgets: tuple[float, ...]) -> dict:
    """Per predictor, per BD-rate budget: the point that saves the most end to end within it,
    and its verdict against the ladder (None where no point fits the budget). A point that
    saves nothing is no operating point: a permissive set can make the encoder slower than
    the baseline (it overrides libaom's pruning) at a lower BD-rate, and must not be named a
    budget's best."""
    out = {}
    for source in dict.fromkeys(r.source for r in rows if r.end_to_end):
        points = [r for r in rows if r.source == source and r.bd() is not None]
        out[source] = {}
        for budget in budgets:
            fits = [r for r in points if r.bd() <= budget and (r.time_saving_end_to_end or 0) > 0]
            best = max(fits, key=lambda r: r.time_saving_end_to_end, default=None)
            out[source][f"{budget:g}"] = best and {
                "label": best.label,
                "time_saving_end_to_end": best.time_saving_end_to_end,
                "time_saving_vs_stock": best.time_saving_vs_stock,
                "bd_rate": best.bd(),
                "vs_ladder": ladder.get(best.label, {}).get("end_to_end", {}).get("difference"),
            }
    return out


MEANS = (
    "time_saving_encoder",
    "time_saving_end_to_end",
    "time_saving_vs_stock",
    "simulated_time_saving",
    "simulation_error",
    "inference_share",
)


def set_rows(per_clip: dict[str, list[Row]]) -> list[Row]:
    """Means over the clips of each label (the set's summary)."""
    labels = dict.fromkeys(r.label for rows in per_clip.values() for r in rows)
    out = []
    for label in labels:
        rows = [r for rows in per_clip.values() for r in rows if r.label == label]
        first = rows[0]
        row = Row(
            "all",
            label,
            first.kind,
            first.verdict,
            first.source,
            first.guided,
            first.end_to_end,
            first.on_ladder,
            clips=len(rows),
        )
        for key in MEANS:
            setattr(row, key, _mean([getattr(r, key) for r in rows]))
        row.time_saving_rounds = _per_round_means([r.time_saving_rounds for r in rows])  # over the clips
        row.time_saving_spread = _spread(row.time_saving_rounds)
        metrics = dict.fromkeys(m for r in rows for m in r.bd_rate)
        row.bd_rate = {
            m: {
                k: _mean([r.bd(m, k) for r in rows])
                for k in dict.fromkeys(k for r in rows for k in r.bd_rate.get(m, {}))
            }
            for m in metrics
        }
        row.failed = [f"{r.clip} {f}" for r in rows for f in r.failed]
        out.append(row)
    return out


def verdict_result(
    runs: list[EncodeRun], clips: list[str], verdict: str, budgets: tuple[float, ...], bd: BD = (BD_METRICS, BD_METHODS)
) -> VerdictResult:
    """One verdict's rows per clip and over the set, its ladder verdicts and best points."""
    per_clip = {c: clip_rows(runs, c, verdict, bd) for c in clips}
    summary = set_rows(per_clip) if len(clips) > 1 else per_clip[clips[0]]
    ladder = ladder_verdicts(summary)
    return VerdictResult(
        verdict,
        {c: ClipResult(rows, ladder_verdicts(rows)) for c, rows in per_clip.items()},
        summary,
        ladder,
        best_points(summary, ladder, budgets),
        against_heuristic(summary),
    )


def instrument(runs: list[EncodeRun], clip: str) -> dict:
    """What the exact switch costs the baseline (against stock libaom) and whether the oracle
    reproduced its baseline, per clip."""
    mine = [r for r in runs if r.clip == clip and r.ok]
    base, stock = baselines(runs, clip, "exact"), baselines(runs, clip, "stock")
    oracle = {r.cq_level: r for r in mine if r.kind == Oracle.kind}
    out: dict = {
        "oracle_identical": sum(bool(r.identical_to_baseline) for r in oracle.values()),
        "oracle_runs": len(oracle),
        "oracle_mismatched_nodes": sum(r.partition_mismatches or 0 for r in oracle.values()),
    }
    common = sorted(set(base) & set(stock))
    if common:
        out["baseline_cpu_vs_stock"] = statistics.mean(base[q].cpu_seconds / stock[q].cpu_seconds - 1 for q in common)
        if len(common) >= 4:
            try:
                out["baseline_bd_rate_vs_stock"] = bd_rate(
                    [stock[q].kbps for q in common],
                    [stock[q].quality["psnr_y"] for q in common],
                    [base[q].kbps for q in common],
                    [base[q].quality["psnr_y"] for q in common],
                )
            except ValueError:
                pass
    return out
