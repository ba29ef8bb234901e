"""Finding and running the libaom tools (aomenc, aomdec, inspect)."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from av1tools.paths import REPO_ROOT

AOM_DIR_ENV = "AV1TOOLS_AOM_DIR"
BUILD_SCRIPT = REPO_ROOT / "third_party" / "libaom" / "build.sh"
TOOL_NAMES = ("aomenc", "aomdec", "inspect")
MODES = ("intra", "inter")


class AomError(RuntimeError):
    """libaom tools missing, or an encoder/decoder run that failed."""


@dataclass(frozen=True)
class AomTools:
    root: Path  # the directory the binaries were found in
    aomenc: Path
    aomdec: Path
    inspect: Path
    source: str  # "env", "option" or "cache"

    @property
    def config_header(self) -> Path | None:
        """aom_config.h of our own builds (the cache keeps it beside bin/)."""
        path = self.root.parent / "aom_config.h"
        return path if path.is_file() else None


def _tools_in(directory: Path, source: str) -> AomTools:
    bin_dir = directory / "bin" if (directory / "bin" / "aomenc").exists() else directory
    found = {name: bin_dir / name for name in TOOL_NAMES}
    missing = [n for n, p in found.items() if not (p.is_file() and os.access(p, os.X_OK))]
    if missing:
        hint = " (inspect needs -DCONFIG_INSPECTION=1)" if "inspect" in missing else ""
        raise AomError(f"{directory}: missing {', '.join(missing)}{hint}")
    return AomTools(bin_dir, found["aomenc"], found["aomdec"], found["inspect"], source)


def cached_build_dir() -> Path | None:
    """The cache directory of our pinned build, if it has been built (never builds)."""
    if not BUILD_SCRIPT.is_file():
        return None
    result = subprocess.run(["bash", str(BUILD_SCRIPT), "--check"], capture_output=True, text=True)
    return Path(result.stdout.strip()) if result.returncode == 0 else None


def find_tools(aom_dir: str | os.PathLike | None = None) -> AomTools:
    """The libaom tools to use: an explicit directory, else $AV1TOOLS_AOM_DIR, else our
    cached build. Raises AomError with the command that fixes it."""
    if aom_dir:
        return _tools_in(Path(aom_dir), "option")
    if os.environ.get(AOM_DIR_ENV):
        return _tools_in(Path(os.environ[AOM_DIR_ENV]), "env")
    built = cached_build_dir()
    if built is None:
        raise AomError("libaom is not built: run 'make libaom' "
                       f"(or {BUILD_SCRIPT}), or set {AOM_DIR_ENV} to your own build")
    return _tools_in(built, "cache")


def encoder_version(tools: AomTools) -> str:
    """The version aomenc reports, e.g. '3.6.0'."""
    out = subprocess.run([str(tools.aomenc), "--help"], capture_output=True, text=True)
    match = re.search(r"AV1 Encoder\s+(\S+)", out.stdout + out.stderr)
    return match.group(1).lstrip("v") if match else "unknown"


@dataclass(frozen=True)
class EncodeSettings:
    cq_level: int
    cpu_used: int = 3
    mode: str = "intra"  # "intra": libaom's all-intra usage; "inter": good-quality, one pass
    sb_size: int = 64
    frames: int | None = None
    threads: int = 1
    extra: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.sb_size not in (64, 128):
            raise ValueError(f"sb_size must be 64 or 128, not {self.sb_size}")
        if not 0 <= self.cq_level <= 63:
            raise ValueError(f"cq_level must be within 0..63, not {self.cq_level}")
        if not 0 <= self.cpu_used <= 9:
            raise ValueError(f"cpu_used must be within 0..9, not {self.cpu_used}")

    def tag(self) -> str:
        frames = f"_f{self.frames}" if self.frames else ""
        return f"{self.mode}_cpu{self.cpu_used}_sb{self.sb_size}_q{self.cq_level}{frames}"

    def aomenc_args(self, src: Path, out: Path, bit_depth: int) -> list[str]:
        usage = ["--allintra"] if self.mode == "intra" else ["--good", "--passes=1"]
        args = usage + [
            "--end-usage=q", f"--cq-level={self.cq_level}", f"--cpu-used={self.cpu_used}",
            f"--sb-size={self.sb_size}", f"--threads={self.threads}",
            f"--bit-depth={bit_depth}", f"--input-bit-depth={bit_depth}",
            "--ivf", "-o", str(out),
        ]
        if self.frames:
            args.append(f"--limit={self.frames}")
        return args + list(self.extra) + [str(src)]


@dataclass(frozen=True)
class EncodeResult:
    command: list[str]
    wall_seconds: float
    cpu_seconds: float  # the encoder process's user + system time
    frames: int


_PROGRESS = re.compile(rb"frame\s+(\d+)/(\d+)")


def run_encoder(tools: AomTools, settings: EncodeSettings, src: Path, out: Path,
                bit_depth: int, on_frame: Callable[[int], None] | None = None) -> EncodeResult:
    """Run aomenc; ``on_frame(n)`` is called as the encoder reports n frames done."""
    cmd = [str(tools.aomenc)] + settings.aomenc_args(src, out, bit_depth)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    tail = b""
    done = 0
    while chunk := proc.stderr.read1(4096):  # aomenc redraws "frame IN/OUT" with \r
        tail = (tail + chunk)[-4000:]
        frames = [int(m.group(2)) for m in _PROGRESS.finditer(chunk)]
        if frames and frames[-1] != done:
            done = frames[-1]
            if on_frame:
                on_frame(done)
    code = proc.wait()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        last = tail.decode(errors="replace").replace("\r", "\n").strip().splitlines()
        raise AomError(f"aomenc failed (exit {code}): {last[-1] if last else 'no output'}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return EncodeResult(cmd, wall, cpu, done)


def run_inspect(tools: AomTools, ivf: Path) -> bytes:
    """inspect's JSON (block sizes and delta-q layers) for every decoded frame."""
    cmd = [str(tools.inspect), str(ivf), "-bs", "-dq"]
    result = subprocess.run(cmd, capture_output=True)
    if result.returncode != 0:
        err = result.stderr.decode(errors="replace").strip().splitlines()
        raise AomError(f"inspect failed on {ivf}: {err[-1] if err else result.returncode}")
    return result.stdout
