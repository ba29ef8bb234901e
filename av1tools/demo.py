"""The main job on the embedded clips, end to end (it grows as the toolkit does)."""

from __future__ import annotations

from pathlib import Path

from av1tools.extract.aom import AomTools, EncodeSettings
from av1tools.extract.dataset import format_summary, read_summary
from av1tools.extract.pipeline import Progress, extract

DEMO_QPS = (23, 31, 39, 47)
QUICK_QPS = (31, 47)
TRAIN_SAMPLES = ("carphone", "astronaut-pan", "coffee-pan")


def run_demo(tools: AomTools, out: Path, quick: bool = False,
             progress: Progress | None = None) -> str:
    """Extract datasets from the embedded clips; returns a printable summary."""
    qps = list(QUICK_QPS if quick else DEMO_QPS)
    frames = 4 if quick else 30
    base = EncodeSettings(cq_level=qps[0], cpu_used=3, mode="intra", frames=frames)
    results = []
    for seq in TRAIN_SAMPLES[:1] if quick else TRAIN_SAMPLES:
        results += extract(tools, seq, out / "data", qps, base, progress=progress)
    summaries = [format_summary(read_summary(r.dataset)) for r in results]
    return "\n\n".join(summaries) + f"\n\ndatasets written to {out / 'data'}"
