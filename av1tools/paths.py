"""Where av1tools keeps what it builds and caches."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

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


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """A hidden, pid-tagged temp path to write ``path``'s content to; it replaces ``path``
    only when the block ends without an error, so ``path`` is never seen half-written."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
