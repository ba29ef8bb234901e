"""Finding and running the libaom tools (aomenc, aomdec, inspect)."""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from av1tools.extract.inspect import FrameGrid, frame_grid, inspect_records
from av1tools.extract.ivf import CodedFrame, FrameHeaderReader, IvfError, IvfSplitter, coded_frames, set_frame_count
from av1tools.paths import REPO_ROOT, cache_root, no_space

AOM_DIR_ENV = "AV1TOOLS_AOM_DIR"
BUILD_SCRIPT = REPO_ROOT / "third_party" / "libaom" / "build.sh"
TOOL_NAMES = ("aomenc", "aomdec", "inspect")
# intra: libaom's all-intra usage. The others are its good-quality usage: inter, one pass
# with libaom's default lag and alt-refs; ra (random access), two passes in one aomenc run
# with the default group structure (lag, auto alt-ref); ld (low delay), one pass, no lag
# and so no alt-refs.
MODES = ("intra", "inter", "ra", "ld")
MODE_ARGS = {
    "intra": ("--allintra",),
    "inter": ("--good", "--passes=1"),
    "ra": ("--good", "--passes=2"),
    "ld": ("--good", "--passes=1", "--lag-in-frames=0", "--auto-alt-ref=0"),
}
# The --cpu-used values each usage really has. libaom 3.6.0 accepts 0..9 for both
# (av1_cx_iface.c: RANGE_CHECK(cpu_used, 0, realtime ? 10 : 9)), but its good-quality speed
# features stop at 6 (speed_features.c: set_good_speed_features_* have no "speed >= 7"
# step), so --good at 7, 8 or 9 codes byte for byte what 6 does; all-intra has steps to 9.
CPU_USED_RANGE = {"intra": (0, 9), "inter": (0, 6), "ra": (0, 6), "ld": (0, 6)}
SB_SIZES = (64, 128, 0)  # 0: libaom's dynamic choice (all-intra: 64 up to 480 lines, else 128)


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


def cached_build_dir(unpatched: bool = False) -> Path | None:
    """The cache directory of our pinned build (or of the reference build without our
    patches), if it has been built; never builds."""
    if not BUILD_SCRIPT.is_file():
        return None
    cache_root()  # a cache path that is a file is named as such, not reported as "not built"
    args = ["bash", str(BUILD_SCRIPT), "--check"] + (["--unpatched"] if unpatched else [])
    result = subprocess.run(args, capture_output=True, text=True)
    return Path(result.stdout.strip()) if result.returncode == 0 else None


def reference_tools() -> AomTools:
    """libaom built from the same pinned source without av1tools' patches."""
    built = cached_build_dir(unpatched=True)
    if built is None:
        raise AomError(f"the unpatched reference libaom is not built: run {BUILD_SCRIPT} --unpatched")
    return _tools_in(built, "cache")


def find_tools(aom_dir: str | os.PathLike | None = None) -> AomTools:
    """The libaom tools to use: an explicit directory, else $AV1TOOLS_AOM_DIR, else our
    cached build. Raises AomError with the command that fixes it."""
    if aom_dir:
        return _tools_in(Path(aom_dir), "option")
    if os.environ.get(AOM_DIR_ENV):
        return _tools_in(Path(os.environ[AOM_DIR_ENV]), "env")
    built = cached_build_dir()
    if built is None:
        raise AomError(
            f"libaom is not built: run 'make libaom' (or {BUILD_SCRIPT}), or set {AOM_DIR_ENV} to your own build"
        )
    return _tools_in(built, "cache")


def encoder_version(tools: AomTools) -> str:
    """The version aomenc reports, e.g. '3.6.0'."""
    out = subprocess.run([str(tools.aomenc), "--help"], capture_output=True, text=True)
    match = re.search(r"AV1 Encoder\s+(\S+)", out.stdout + out.stderr)
    return match.group(1).lstrip("v") if match else "unknown"


@dataclass(frozen=True)
class EncoderBuild:
    """What an aomenc is: its version and whether it carries av1tools' guided-partition patch
    (found by asking it, not assumed); ``key`` is our build's cache key when it is one of
    ours. The label (version and patch state) identifies the encoder in datasets: without
    its environment variables the patched encoder codes exactly what the unpatched one does,
    so instrumentation changes to the patch (a new key) do not make old shards stale."""

    version: str
    guided: bool
    key: str = ""

    @property
    def label(self) -> str:
        return f"libaom {self.version} " + (
            "+ av1tools guided-partition patch" if self.guided else "(no av1tools patch)"
        )

    def to_dict(self) -> dict:
        return {"version": self.version, "guided": self.guided, "key": self.key, "label": self.label}


@functools.lru_cache(maxsize=8)
def _build_of(aomenc: Path, mtime_ns: int) -> EncoderBuild:
    tools = _tools_in(aomenc.parent, "probe")
    key = ""
    build_ok = tools.root.parent / "BUILD_OK"
    if build_ok.is_file():
        key = dict(line.split("=", 1) for line in build_ok.read_text().split() if "=" in line).get("key", "")
    return EncoderBuild(encoder_version(tools), _honours_guide(tools), key)


def encoder_build(tools: AomTools) -> EncoderBuild:
    """The build identity of ``tools.aomenc`` (probed once per binary)."""
    return _build_of(tools.aomenc, tools.aomenc.stat().st_mtime_ns)


def _honours_guide(tools: AomTools) -> bool:
    """Encode one 16x16 frame with the counters' file set: only av1tools' patch writes it."""
    with tempfile.TemporaryDirectory(prefix="av1tools-probe-") as tmp:
        src, stats = Path(tmp) / "probe.y4m", Path(tmp) / "probe.stats"
        src.write_bytes(b"YUV4MPEG2 W16 H16 F30:1 Ip C420jpeg\nFRAME\n" + bytes(range(256)) + bytes(128))
        env = dict(os.environ, AV1TOOLS_PARTITION_STATS=str(stats))
        env.pop("AV1TOOLS_PARTITION_MAP", None)
        cmd = [
            str(tools.aomenc),
            "--allintra",
            "--cpu-used=9",
            "--limit=1",
            "--ivf",
            "-o",
            str(Path(tmp) / "probe.ivf"),
            str(src),
        ]
        done = subprocess.run(cmd, capture_output=True, env=env)
        if done.returncode != 0:
            raise AomError(
                f"{tools.aomenc}: cannot encode a test frame: "
                f"{done.stderr.decode(errors='replace').strip().splitlines()[-1:]}"
            )
        return stats.is_file() and stats.stat().st_size > 0


def check_cpu_used(mode: str, cpu_used: int) -> None:
    """Refuse (ValueError, one line) a --cpu-used that ``mode``'s libaom usage does not really
    have: the one rule for extract, eval-encode's presets and every other encode."""
    if mode not in CPU_USED_RANGE:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    low, high = CPU_USED_RANGE[mode]
    if not low <= cpu_used <= high:
        usage = "all-intra" if mode == "intra" else "good-quality"
        same = f"; libaom codes {high + 1}..9 exactly as {high}" if high < cpu_used <= 9 else ""
        raise ValueError(
            f"cpu-used {cpu_used} is outside {low}..{high}, the speeds of {mode} mode (libaom's {usage} usage){same}"
        )


@dataclass(frozen=True)
class EncodeSettings:
    """One encode's settings; their defaults are av1tools' defaults everywhere."""

    cq_level: int = 32
    cpu_used: int = 3
    mode: str = "intra"  # MODES: intra (all-intra usage), inter, ra, ld (good quality)
    sb_size: int = 64
    frames: int | None = None
    threads: int = 1
    extra: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.sb_size not in SB_SIZES:
            raise ValueError(f"sb_size must be 64, 128 or 0 (libaom's dynamic choice), not {self.sb_size}")
        if not 0 <= self.cq_level <= 63:
            raise ValueError(f"cq_level must be within 0..63, not {self.cq_level}")
        check_cpu_used(self.mode, self.cpu_used)

    def tag(self) -> str:
        frames = f"_f{self.frames}" if self.frames else ""
        return f"{self.mode}_cpu{self.cpu_used}_sb{self.sb_size or 'dyn'}_q{self.cq_level}{frames}"

    def aomenc_args(self, src: Path, out: Path, bit_depth: int) -> list[str]:
        args = list(MODE_ARGS[self.mode]) + [
            "--end-usage=q",
            f"--cq-level={self.cq_level}",
            f"--cpu-used={self.cpu_used}",
            f"--sb-size={self.sb_size or 'dynamic'}",
            f"--threads={self.threads}",
            f"--bit-depth={bit_depth}",
            f"--input-bit-depth={bit_depth}",
            "--ivf",
            "-o",
            str(out),
        ]
        if self.frames:
            args.append(f"--limit={self.frames}")
        return args + list(self.extra) + [str(src)]


@dataclass(frozen=True)
class EncodeResult:
    command: list[str]
    wall_seconds: float
    cpu_seconds: float  # the encoder process's own user + system time
    frames: int


_PROGRESS = re.compile(rb"frame\s+(\d+)/(\d+)")


def _wait_with_rusage(proc: subprocess.Popen) -> float:
    """Reap ``proc``; returns its own CPU seconds (user + system)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


class _EncoderStatus:
    """Follows aomenc's stderr: it redraws "frame IN/OUT" with \\r; keeps the tail for errors."""

    def __init__(self, stream, on_frame: Callable[[int], None] | None):
        self.tail = b""
        self.done = 0
        self.thread = threading.Thread(target=self._follow, args=(stream, on_frame), daemon=True)
        self.thread.start()

    def _follow(self, stream, on_frame) -> None:
        while chunk := stream.read1(4096):
            self.tail = (self.tail + chunk)[-4000:]
            frames = [int(m.group(2)) for m in _PROGRESS.finditer(chunk)]
            if frames and frames[-1] != self.done:
                self.done = frames[-1]
                if on_frame:
                    on_frame(self.done)

    def last_line(self) -> str:
        self.thread.join()
        lines = self.tail.decode(errors="replace").replace("\r", "\n").strip().splitlines()
        return lines[-1] if lines else "no output"


def run_encoder(
    tools: AomTools,
    settings: EncodeSettings,
    src: Path,
    out: Path,
    bit_depth: int,
    on_frame: Callable[[int], None] | None = None,
    env: dict[str, str] | None = None,
) -> EncodeResult:
    """Run aomenc into ``out``; ``on_frame(n)`` is called as the encoder reports n frames
    done; ``env`` replaces the environment (the guided encoder reads its files from it)."""
    cmd = [str(tools.aomenc)] + settings.aomenc_args(src, out, bit_depth)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    status = _EncoderStatus(proc.stderr, on_frame)
    cpu = _wait_with_rusage(proc)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise AomError(f"aomenc failed (exit {proc.returncode}): {status.last_line()}")
    status.last_line()
    return EncodeResult(cmd, wall, cpu, status.done)


@dataclass
class StreamedEncode:
    """What ``encode_and_inspect`` leaves behind once its records are consumed."""

    command: list[str]
    result: EncodeResult | None = None


def encode_and_inspect(
    tools: AomTools,
    settings: EncodeSettings,
    src: Path,
    out: Path,
    bit_depth: int,
    on_frame: Callable[[int], None] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[StreamedEncode, Iterator[tuple[dict, CodedFrame]]]:
    """Encode ``src`` into ``out`` while ``inspect`` decodes the same bytes as they come.

    aomenc writes its IVF to a pipe; a thread copies it to ``out`` and on to inspect's
    stdin, noting each temporal unit's frames first. The returned iterator yields
    (inspect record, coded frame) pairs in decode order while the encoder still runs, so
    the work on each frame overlaps the encode (one core each). ``StreamedEncode.result``
    is set when the iterator is exhausted. ``env`` replaces the encoder's environment.
    """
    cmd = [str(tools.aomenc)] + settings.aomenc_args(src, Path("-"), bit_depth)
    recorded = StreamedEncode([str(out) if a == "-" else a for a in cmd])
    return recorded, _stream(tools, cmd, out, on_frame, recorded, env)


def _stream(
    tools: AomTools, cmd: list[str], out: Path, on_frame, recorded: StreamedEncode, env: dict[str, str] | None
) -> Iterator[tuple[dict, CodedFrame]]:
    start = time.perf_counter()
    enc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    insp_log = tempfile.TemporaryFile()  # a file, not a pipe: nobody need drain it
    insp = subprocess.Popen(
        [str(tools.inspect), "-", "-bs", "-dq"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=insp_log
    )
    status = _EncoderStatus(enc.stderr, on_frame)
    frames: list[CodedFrame] = []
    tee_error: list[BaseException] = []
    copied = [0, False]  # bytes aomenc wrote; whether we stopped it (its exit status is then ours)

    def tee() -> None:
        splitter, headers = IvfSplitter(), FrameHeaderReader()
        units, ended = 0, False
        try:
            with open(out, "wb") as f:
                while chunk := enc.stdout.read1(1 << 16):
                    copied[0] += len(chunk)
                    f.write(chunk)
                    for pts, unit in splitter.feed(chunk):
                        frames.extend(headers.coded_frames(pts, unit))  # before inspect sees it
                        units += 1
                    insp.stdin.write(chunk)
            ended = True
            splitter.finish()
            set_frame_count(out, units)
        except BaseException as e:  # reported by the consumer, never lost in the thread
            tee_error.append(e)
            if not ended:
                # nobody reads its output any more: it would block on the pipe forever. A
                # plain signal, not Popen.kill(), which reaps the process and takes wait4's
                # rusage away. (At the end of its output there is nothing to unblock.)
                copied[1] = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(enc.pid, signal.SIGKILL)
        finally:
            try:
                insp.stdin.close()
            except BrokenPipeError:
                pass

    copier = threading.Thread(target=tee, daemon=True)
    copier.start()
    try:
        count = 0
        for record in inspect_records(insp.stdout):
            if count >= len(frames):
                raise AomError(f"inspect printed frame {count} before the bitstream held it")
            yield record, frames[count]
            count += 1
        cpu = _wait_with_rusage(enc)
        wall = time.perf_counter() - start
        copier.join()
        insp.wait()
        insp_log.seek(0)
        insp_err = insp_log.read().decode(errors="replace").strip().splitlines()
        if tee_error and (copied[1] or isinstance(tee_error[0], OSError)):  # we stopped the encoder
            raise AomError(_copy_failure(out, tee_error[0], copied[0]))
        if enc.returncode != 0:
            raise AomError(f"aomenc failed (exit {enc.returncode}): {status.last_line()}")
        if tee_error:
            raise AomError(_copy_failure(out, tee_error[0], copied[0]))
        if insp.returncode != 0:
            raise AomError(f"inspect failed: {insp_err[-1] if insp_err else insp.returncode}")
        if count != len(frames):
            raise AomError(f"inspect printed {count} frames, the bitstream codes {len(frames)}")
        status.last_line()
        recorded.result = EncodeResult(recorded.command, wall, cpu, status.done)
    finally:
        for p in (enc, insp):
            if p.returncode is None and p.poll() is None:
                p.kill()
                p.wait()
        insp_log.close()


def _copy_failure(out: Path, e: BaseException, written: int) -> str:
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return str(no_space(out.parent, "writing the bitstream"))
    if isinstance(e, OSError) and e.strerror:
        return f"{out.parent}: {e.strerror} (writing the bitstream)"
    if isinstance(e, IvfError) and not written:
        return "aomenc exited without error but wrote no bitstream"
    if isinstance(e, IvfError):
        return f"aomenc's output is not a readable IVF bitstream ({e}, after {written} bytes)"
    return f"reading aomenc's output failed: {e}"


def inspect_bitstream(tools: AomTools, ivf: Path) -> list[FrameGrid]:
    """Every coded frame's block-size grid, from ``inspect`` run on a finished bitstream."""
    result = subprocess.run([str(tools.inspect), str(ivf), "-bs", "-dq"], capture_output=True)
    if result.returncode != 0:
        err = result.stderr.decode(errors="replace").strip().splitlines()
        raise AomError(f"inspect failed on {ivf}: {err[-1] if err else result.returncode}")
    records = list(inspect_records(io.BufferedReader(io.BytesIO(result.stdout))))
    structure = coded_frames(ivf)
    if len(records) != len(structure):
        raise AomError(f"{ivf}: inspect printed {len(records)} frames, the bitstream codes {len(structure)}")
    return [frame_grid(r, c, i) for i, (r, c) in enumerate(zip(records, structure))]
