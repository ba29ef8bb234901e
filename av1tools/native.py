"""The superblock model inside the patched encoder: no Python in the loop.

av1tools' libaom patch reads a model exported by ``av1tools.model.superblock.export`` from
``AV1TOOLS_MODEL`` and runs it at every superblock it searches (docs/guided.md, "The model
inside the encoder"). This module runs such an encode and reads back what the encoder
reports: the network's own CPU time and runs (from the ``AV1TOOLS_PARTITION_STATS`` line of
every frame) and, optionally, the allowed set it used at every node (``AV1TOOLS_MODEL_DUMP``).
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from av1tools.encoder import (
    DUMP_ENV,
    MAP_ENV,
    MAP_HEADER,
    MODEL_ENV,
    POINT_ENV,
    STATS_ENV,
    FrameCounters,
    MapEntry,
    encoder_env,
    read_stats,
)
from av1tools.extract.aom import AomTools, EncodeResult, EncodeSettings, find_tools, run_encoder
from av1tools.extract.y4m import Y4MReader
from av1tools.model.config import COVERAGE_SIZES, OperatingPoint
from av1tools.partition import MI_SIZE


@functools.lru_cache(maxsize=8)
def _probe(aomenc: Path, mtime_ns: int) -> bool:
    with tempfile.TemporaryDirectory(prefix="av1tools-probe-") as tmp:
        src, model = Path(tmp) / "probe.y4m", Path(tmp) / "not-a-model"
        src.write_bytes(b"YUV4MPEG2 W16 H16 F30:1 Ip C420jpeg\nFRAME\n" + bytes(384))
        model.write_bytes(b"not a model")
        env = dict(os.environ, **{MODEL_ENV: str(model)})
        for name in (MAP_ENV, STATS_ENV, POINT_ENV, DUMP_ENV):
            env.pop(name, None)
        cmd = [str(aomenc), "--allintra", "--cpu-used=9", "--sb-size=64", "--limit=1", "--ivf", "-o"]
        done = subprocess.run(cmd + [str(Path(tmp) / "probe.ivf"), str(src)], capture_output=True, env=env)
        return done.returncode != 0 and MODEL_ENV.encode() in done.stderr


def supports_native(tools: AomTools) -> bool:
    """Whether ``tools.aomenc`` runs models itself (asked, not assumed: an encoder with an
    older av1tools patch ignores AV1TOOLS_MODEL, this one refuses a file that is not one)."""
    return _probe(tools.aomenc, tools.aomenc.stat().st_mtime_ns)


def point_spec(point: OperatingPoint) -> str:
    """``point`` as AV1TOOLS_MODEL_POINT spells it: "top_k K", "threshold T",
    "coverage P M" or, with a coverage by node size, "coverage P M P64 P32 P16 P8" (floats
    in Python's shortest round-trip form: the encoder's strtod reads back the same double)."""
    if point.threshold is not None:
        return f"threshold {float(point.threshold)!r}"
    if point.coverage is not None:
        sizes = "".join(f" {float(point.coverage_at(s))!r}" for s in COVERAGE_SIZES) if point.size_coverage else ""
        return f"coverage {float(point.coverage)!r} {point.max_types}{sizes}"
    return f"top_k {point.top_k or 1}"


def native_env(
    model: Path,
    point: OperatingPoint | None = None,
    stats: Path | None = None,
    dump: Path | None = None,
    exact: bool = True,
) -> dict[str, str]:
    """The environment of a native encode: the model (and its point, dump), no decision file
    (the encoder refuses a map and a model together), the counters and the exact switch."""
    env = encoder_env(None, stats, exact)
    env[MODEL_ENV] = str(model)
    if point is not None:
        env[POINT_ENV] = point_spec(point)
    if dump is not None:
        env[DUMP_ENV] = str(dump)
    return env


@dataclass(frozen=True)
class NativeEncode:
    encode: EncodeResult  # the aomenc process's CPU and wall time (network included)
    counters: list[FrameCounters]  # one per coded frame, network_ns / network_calls set
    dump: list[MapEntry] | None  # the sets the encoder used, when asked for

    @property
    def network_cpu_seconds(self) -> float:
        return sum(c.network_ns for c in self.counters) / 1e9

    @property
    def network_calls(self) -> int:
        return sum(c.network_calls for c in self.counters)

    @property
    def network_share(self) -> float:
        """The network's part of the encoder's CPU time."""
        return self.network_cpu_seconds / self.encode.cpu_seconds if self.encode.cpu_seconds else 0.0


def read_dump(path: Path) -> list[MapEntry]:
    """An AV1TOOLS_MODEL_DUMP file: one line per node the encoder asked about, in the
    decision-file format (it is one); mask 0 marks a node left to the normal search."""
    lines = Path(path).read_text().splitlines()
    if not lines or lines[0] + "\n" != MAP_HEADER:
        raise ValueError(f"{path}: not an av1tools model dump")
    out = []
    for line in lines[1:]:
        pts, hidden, mi_row, mi_col, size, mask = (int(v) for v in line.split())
        out.append(MapEntry(pts, mi_col * MI_SIZE, mi_row * MI_SIZE, size, mask, bool(hidden), guided=mask != 0))
    return out


def run_native(
    settings: EncodeSettings,
    source: Path,
    out: Path,
    model: Path,
    point: OperatingPoint | None = None,
    tools: AomTools | None = None,
    dump: Path | None = None,
    exact: bool = True,
    stats: Path | None = None,
) -> NativeEncode:
    """Encode ``source`` into ``out`` with the model exported at ``model`` guiding the
    partition search (``point`` overrides the operating point stored in the file;
    ``exact``: AV1TOOLS_EXACT_GUIDE, as eval-encode sets it on every run). The counters
    come from ``stats`` (a temporary file when None); ``dump`` also records every set used."""
    if settings.sb_size != 64:
        raise ValueError("the model guides 64x64 superblocks only (sb_size 64)")
    tools = tools or find_tools()
    with Y4MReader(source) as reader:
        bit_depth = reader.bit_depth
    with tempfile.TemporaryDirectory(prefix="av1tools-native-") as tmp:
        stats_path = Path(stats) if stats is not None else Path(tmp) / "native.stats"
        stats_path.unlink(missing_ok=True)
        env = native_env(model, point, stats_path, dump, exact)
        result = run_encoder(tools, settings, source, out, bit_depth, env=env)
        counters = read_stats(stats_path)
    return NativeEncode(result, counters, read_dump(dump) if dump is not None else None)
