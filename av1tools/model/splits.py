"""Train/validation splits by group, shared by both model families: a group (a sequence at
every setting, or one picture at every resolution) is never on both sides."""

from __future__ import annotations

from collections.abc import Sequence

from av1tools.extract.manifest import stable_fraction


class SplitError(ValueError):
    """A train/validation split that leaves one side empty."""


def a_few(names: Sequence[str], shown: int = 6) -> str:
    """Names for a log line: the first few, and how many there are when that is not all."""
    return ", ".join(names[:shown]) + (f", ... ({len(names)} in all)" if len(names) > shown else "")


def held_out_groups(
    groups: Sequence[str],
    sequences: dict[str, set[str]],
    val_fraction: float,
    val_sequences: Sequence[str] | None,
    seed: int,
    splits: dict[str, str],
) -> tuple[list[str], str]:
    """The validation groups, and what chose them: named (``val_sequences``, groups or
    sequences), else the manifests' assignment, else each group's hash (its side never moves
    as data is added; at least one group is held out)."""
    groups = sorted(set(groups))
    if val_sequences:
        names = set(val_sequences)
        known = set(groups) | {s for seqs in sequences.values() for s in seqs}
        unknown = names - known
        if unknown:
            raise SplitError(f"validation sequences not in the data: {', '.join(sorted(unknown))}")
        return sorted(g for g in groups if g in names or sequences.get(g, set()) & names), "--val-seq"
    if splits and all(g in splits for g in groups):
        return sorted(g for g in groups if splits[g] == "val"), "manifest"
    held = [g for g in groups if stable_fraction(f"{seed}:{g}") < val_fraction]
    return held or [min(groups, key=lambda g: stable_fraction(f"{seed}:{g}"))], "hash"
