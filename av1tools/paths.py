"""Where av1tools keeps what it builds and caches, and how it writes files safely."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"
# .<name>.<host>.<pid>.<ns>.tmp: hidden, never mistaken for a finished file, never shared by
# two writers, and its writer can be told dead or alive (on this host) from the name.
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.\d+\.tmp$")


class OutputError(OSError):
    """A file that could not be written (a full disk, no permission); the message names it."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def no_space(directory: Path, what: str) -> OutputError:
    return OutputError(errno.ENOSPC, f"{directory}: no space left on device ({what})")


class CacheError(ValueError):
    """A cache location that cannot be a directory; the message names it and its setting."""


def not_a_directory(path: str | os.PathLike) -> Path | None:
    """The part of ``path`` (itself or its nearest existing ancestor) that exists but is not
    a directory, so ``path`` cannot be, or be created as, a directory; None when it can."""
    for p in [Path(path), *Path(path).parents]:
        if p.is_dir():
            return None
        if os.path.lexists(p):
            return p
    return None


def cache_root() -> Path:
    """$AV1TOOLS_CACHE, else $XDG_CACHE_HOME/av1tools, else ~/.cache/av1tools (the libaom
    build script uses the same rule). A CacheError names a setting that points at a file."""
    env = os.environ.get("AV1TOOLS_CACHE")
    if env:
        root, setting = Path(env), "AV1TOOLS_CACHE"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = Path(xdg or Path.home() / ".cache") / "av1tools"
        setting = "XDG_CACHE_HOME" if xdg else "the default ~/.cache/av1tools"
    blocker = not_a_directory(root)
    if blocker == root:
        raise CacheError(f"{root}: the av1tools cache ({setting}) is not a directory")
    if blocker is not None:
        raise CacheError(f"{root}: the av1tools cache ({setting}) cannot be created: {blocker} is not a directory")
    return root


def cache_dir(*parts: str) -> Path:
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def temp_path(final: Path) -> Path:
    """A hidden temp path beside ``final`` that names its writer (host, pid)."""
    return final.with_name(f".{final.name}.{_HOST}.{os.getpid()}.{time.monotonic_ns()}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's live process
        return True
    return True


def remove_stale_temps(directory: Path) -> list[Path]:
    """Delete the temp files of writers on this host that died (SIGKILL, power loss) before
    renaming them; another host's or a live writer's temps are left alone."""
    removed = []
    try:
        entries = list(Path(directory).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m and m["host"] == _HOST and not _alive(int(m["pid"])):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """A temp path to write ``path``'s content to; it replaces ``path`` only when the block
    ends without an error, so ``path`` is never seen half-written."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def output_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Create ``path`` (and its parents) for a job's outputs; if the job fails, remove the
    directories it created that are still empty, so a failure leaves no empty shell."""
    path = Path(path)
    created = []
    for d in reversed([path, *path.parents]):
        if not d.exists():
            created.append(d)
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        for d in reversed(created):
            try:
                d.rmdir()
            except OSError:  # not empty: something worth keeping is there
                break
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
