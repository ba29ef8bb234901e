"""Helpers of the jobs, manifest and sequence-set tests. The job functions are module-level
so spawn workers can import them (pytest puts tests/ on sys.path; spawned workers inherit
the parent's sys.path).

A job is a (kind, value, marker) tuple; the marker file records that an attempt ran, so a
job can fail (or die) on its first attempt only, whatever process runs it."""

import os
import signal
import time
from pathlib import Path

import numpy as np

from av1tools.extract.y4m import Y4MHeader, write_y4m


def tiny_clip(path, seed, frames=1, size=(64, 48)):
    """A small random 8-bit y4m (different seeds, different content)."""
    rng = np.random.default_rng(seed)
    w, h = size
    planes = [
        (rng.integers(0, 256, (h, w)), rng.integers(0, 256, (h // 2, w // 2)), rng.integers(0, 256, (h // 2, w // 2)))
        for _ in range(frames)
    ]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_y4m(path, Y4MHeader(w, h, 30, 8, "420jpeg"), planes)
    return path


def square(job):
    return job * job


def pid_of(job):
    return job, os.getpid()


def first_attempt_marked(marker: str) -> bool:
    """True the first time it is called for ``marker`` (in any process), then False."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def flaky(job):
    """The value squared, after what ``kind`` says: 'ok': nothing; 'once': raises on its
    first attempt; 'always': always raises (a two-line message); 'kill': SIGKILLs its own
    process on its first attempt; 'die': on every attempt; 'slow': sleeps 0.5 s; 'hang':
    sleeps 2 minutes."""
    kind, value, marker = job
    Path(marker).parent.mkdir(parents=True, exist_ok=True)
    with open(f"{marker}.attempts", "a") as f:
        f.write(f"{os.getpid()}\n")
    if kind == "once" and first_attempt_marked(marker):
        raise RuntimeError(f"first attempt of {value} fails")
    if kind == "always":
        raise ValueError(f"job {value} always fails\nsecond line of the message")
    if kind == "kill" and first_attempt_marked(marker):
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "die":  # a job that kills its worker every time (out of memory, say)
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "slow":
        time.sleep(0.5)
    if kind == "hang":  # until the pool is stopped
        time.sleep(120)
    return value * value


def attempts_of(marker: str) -> list[int]:
    """The pids of every attempt of the job with ``marker``."""
    path = Path(f"{marker}.attempts")
    return [int(x) for x in path.read_text().split()] if path.exists() else []
