"""Where av1tools keeps what it builds and caches."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_root() -> Path:
    """$AV1TOOLS_CACHE, else $XDG_CACHE_HOME/av1tools, else ~/.cache/av1tools (the libaom
    build script uses the same rule)."""
    env = os.environ.get("AV1TOOLS_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "av1tools"


def cache_dir(*parts: str) -> Path:
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
