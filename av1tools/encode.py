"""``av1tools encode``: a faster AV1 encode a user can run. The patched aomenc runs the
superblock model itself (no Python in the loop: ``av1tools.native``) and prunes its own
partition search with it; the output is a standard AV1 bitstream (IVF, or WebM/Matroska
through PyAV), decodable by any AV1 decoder."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from av1tools.encoder import MapEntry
from av1tools.eval.config import FEATURES
from av1tools.extract.aom import EncodeSettings, find_tools
from av1tools.extract.sequences import open_sequence
from av1tools.model.config import OperatingPoint
from av1tools.paths import atomic_output, cache_dir, file_sha256

CONTAINERS = {".ivf": None, ".webm": "webm", ".mkv": "matroska"}


class EncodeError(ValueError):
    """An encode that cannot be run as asked (named before any work)."""


@dataclass(frozen=True)
class EncodeConfig:
    """One ``encode`` run; the defaults are the CLI's."""

    source: str  # a y4m, any video PyAV decodes, a still image, a sample or catalogue name
    out: Path  # .ivf, .webm or .mkv
    model: str = "default"  # a superblock run directory, or "default" (the shipped model)
    point: OperatingPoint = field(default_factory=lambda: OperatingPoint(coverage=0.8))
    cq_level: int = 32
    cpu_used: int = 3
    mode: str = "intra"
    frames: int | None = None
    threads: int = 1
    # "exact": the two speed features that carry one block's search into another off
    # (AV1TOOLS_EXACT_GUIDE), as eval-encode's --guided-features measures them
    guided_features: str = "stock"
    aom_dir: str | None = None

    def __post_init__(self) -> None:
        if self.guided_features not in FEATURES:
            raise EncodeError(f"guided features must be one of {FEATURES}, not {self.guided_features!r}")


@dataclass(frozen=True)
class EncodeOutcome:
    out: Path
    frames: int
    bytes: int
    cpu_seconds: float  # the encoder's, the network's included
    wall_seconds: float
    network_seconds: float  # the model's own time inside the encoder
    guided_nodes: int  # nodes the model restricted
    unguided_nodes: int  # nodes it left to libaom's normal search (it was unsure)
    point: str

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def exported_model(model: str, mode: str = "intra") -> Path:
    """The model ``model`` names ("default": the one shipped for ``mode``), exported once
    (cached by its checkpoint's checksum) in the format the encoder reads; a model the
    encoder cannot run is refused by name."""
    from av1tools.model.families import FAMILIES, family_of, run_directory
    from av1tools.model.superblock.checkpoint import load_superblock
    from av1tools.model.superblock.export import VERSION, ExportError, export_superblock

    run_dir = run_directory(model, mode)
    family = family_of(run_dir)
    if family is not FAMILIES["superblock"]:
        raise EncodeError(f"{run_dir}: a {family.name} model; the encoder runs superblock models only")
    checkpoint = run_dir / family.checkpoint
    path = cache_dir("exported") / f"{file_sha256(checkpoint)[:16]}-calibrated-v{VERSION}.av1tnet"
    if not path.exists():
        net, extra = load_superblock(run_dir)
        try:
            export_superblock(net, OperatingPoint(coverage=0.8), path, extra.get("temperatures"))
        except ExportError as e:
            raise EncodeError(f"{run_dir}: {e}") from None
    return path


def encode(config: EncodeConfig) -> EncodeOutcome:
    """Encode ``config.source`` into ``config.out`` with the model guiding libaom's search."""
    from av1tools.native import point_spec, run_native, supports_native

    suffix = config.out.suffix.lower()
    if suffix not in CONTAINERS:
        raise EncodeError(f"{config.out}: the output must end in {', '.join(CONTAINERS)}")
    tools = find_tools(config.aom_dir)
    if not supports_native(tools):
        raise EncodeError(f"{tools.aomenc}: this encoder does not run models (av1tools' patched libaom does)")
    model = exported_model(config.model)  # the all-intra model in every mode: the C path has no reference inputs
    ref, reader = open_sequence(config.source)
    with reader:
        frames = min(config.frames or len(reader), len(reader))
    settings = EncodeSettings(
        cq_level=config.cq_level, cpu_used=config.cpu_used, mode=config.mode, frames=frames, threads=config.threads
    )
    config.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="av1tools-encode-") as tmp:
        ivf, dump = Path(tmp) / "out.ivf", Path(tmp) / "sets.map"
        done = run_native(
            settings, ref.path, ivf, model, config.point, tools, dump=dump, exact=config.guided_features == "exact"
        )
        with atomic_output(config.out) as tmp_out:
            if CONTAINERS[suffix] is None:
                os.replace(ivf, tmp_out)
            else:
                remux(ivf, tmp_out, CONTAINERS[suffix])
    sets: list[MapEntry] = done.dump or []
    return EncodeOutcome(
        config.out,
        frames,
        config.out.stat().st_size,
        done.encode.cpu_seconds,
        done.encode.wall_seconds,
        done.network_cpu_seconds,
        sum(e.guided for e in sets),
        sum(not e.guided for e in sets),
        point_spec(config.point),
    )


def remux(ivf: Path, out: Path, container: str) -> None:
    """The IVF's AV1 packets into a WebM or Matroska file, unchanged (no re-encoding)."""
    os.environ.setdefault("SVT_LOG", "0")  # the stream borrows SVT-AV1's codec id: keep it quiet
    import av

    with av.open(str(ivf)) as inp, av.open(str(out), "w", format=container) as dst:
        src = inp.streams.video[0]
        stream = dst.add_stream("libsvtav1", rate=src.average_rate or 30)
        stream.width, stream.height = src.codec_context.width, src.codec_context.height
        stream.time_base = src.time_base
        stream.codec_context.extradata = src.codec_context.extradata
        for packet in inp.demux(src):
            if packet.dts is None:  # the demuxer's flush packet
                continue
            packet.stream = stream
            dst.mux(packet)
