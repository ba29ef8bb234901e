"""What av1tools can find on this machine, and what fixes what is missing."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
from dataclasses import dataclass

from av1tools.extract.aom import AOM_DIR_ENV, AomError, encoder_build, find_tools
from av1tools.paths import CacheError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _simd(config_header) -> str:
    if config_header is None:
        return "unknown (not our build)"
    text = config_header.read_text()
    flags = [f for f in ("SSE2", "SSE4_1", "AVX2") if re.search(rf"#define HAVE_{f} 1", text)]
    return ", ".join(flags) if flags else "none"


def libaom_checks(aom_dir: str | None = None) -> list[Check]:
    try:
        tools = find_tools(aom_dir)
    except CacheError as e:  # not "not built": the build could not be looked for
        return [Check("libaom", False, str(e), "point AV1TOOLS_CACHE (or XDG_CACHE_HOME) at a directory, or unset it")]
    except AomError as e:
        return [Check("libaom", False, str(e), f"make libaom   (or export {AOM_DIR_ENV}=/path/to/your/aom/build)")]
    inspect_ok = subprocess.run([str(tools.inspect), "--help"], capture_output=True).returncode in (0, 1)
    build = encoder_build(tools)
    return [
        Check("libaom", True, f"{tools.root} (from {tools.source})"),
        Check("aomenc", True, f"{tools.aomenc}, {build.label}" + (f", build {build.key}" if build.key else "")),
        Check(
            "guided patch",
            build.guided,
            "honours partition maps (eval-encode's oracle and model runs)"
            if build.guided
            else "absent: extract works, eval-encode can only run baseline and presets",
            "use av1tools' build (make libaom), or apply third_party/libaom/patches to yours",
        ),
        Check("inspect", inspect_ok, f"{tools.inspect}", "rebuild with -DCONFIG_INSPECTION=1"),
        Check("SIMD", True, _simd(tools.config_header)),
    ]


def python_checks() -> list[Check]:
    checks = []
    for dist in ("torch", "torchvision", "h5py", "av", "scikit-image", "numpy"):
        try:
            checks.append(Check(dist, True, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            checks.append(Check(dist, False, "not installed", "make setup"))
    try:
        import av

        dav1d = "libdav1d" in av.codecs_available
        checks.append(
            Check(
                "dav1d (PyAV)", dav1d, "AV1 decoder for independent checks", "pip install av (wheels bundle libdav1d)"
            )
        )
    except ImportError:
        pass
    try:
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu only"
        checks.append(
            Check(
                "torch device",
                True,
                f"{device}; CPU kernels {torch.backends.cpu.get_cpu_capability()} "
                "(results are reproducible per machine, not across CPU kinds)",
            )
        )
    except ImportError:
        pass
    return checks


def run_checks(aom_dir: str | None = None) -> list[Check]:
    return libaom_checks(aom_dir) + python_checks()
