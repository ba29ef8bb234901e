"""Independent jobs (one encode, one shard) on this machine or on a Dask cluster.

The same job function runs inline (one worker), on a local process pool (``workers`` > 1),
or on a ``dask.distributed`` scheduler (``scheduler="tcp://host:port"``): the toolkit
brings no engine of its own. A job that raises is retried once; a second failure is
reported in its outcome, not raised, so one bad item never loses the others' results.
Jobs must be picklable and their functions importable by module path (workers import
av1tools themselves).
"""

from __future__ import annotations

import bisect
import concurrent.futures as cf
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

J = TypeVar("J")
R = TypeVar("R")
ATTEMPTS = 2  # a job runs at most twice (once more when a worker beside it died: _run_pool)


@dataclass(frozen=True)
class Outcome(Generic[J, R]):
    job: J
    result: R | None
    error: str = ""  # one line, when the job failed twice
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return not self.error


OnDone = Callable[[Outcome], None]


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return (lines[0] if lines else type(e).__name__)[:300]


def run_jobs(
    fn: Callable[[J], R],
    jobs: Sequence[J],
    workers: int = 1,
    scheduler: str | None = None,
    on_done: OnDone | None = None,
) -> list[Outcome]:
    """Run ``fn`` on every job; outcomes in the jobs' order. ``on_done`` sees each outcome
    as it completes (progress)."""
    if not jobs:
        return []
    if scheduler:
        return _run_dask(fn, jobs, scheduler, on_done)
    if workers <= 1 or len(jobs) == 1:
        return [_inline(fn, job, on_done) for job in jobs]
    return _run_pool(fn, jobs, min(workers, len(jobs)), on_done)


def _inline(fn, job, on_done: OnDone | None) -> Outcome:
    error = ""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            outcome = Outcome(job, fn(job), attempts=attempt)
            break
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # noqa: BLE001 - reported in the outcome
            error = _one_line(e)
    else:
        outcome = Outcome(job, None, error, ATTEMPTS)
    if on_done:
        on_done(outcome)
    return outcome


def _worker_init() -> None:
    # A terminated worker unwinds like an interrupted one: its finally blocks remove temp
    # files and stop the encoder it started.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt()


def _in_worker(fn, job):
    """Runs ``fn(job)`` in a pool's worker. A stopped worker leaves once its job has unwound:
    the pool would otherwise catch the interrupt and hand the worker the next queued job."""
    try:
        return fn(job)
    except KeyboardInterrupt:
        os._exit(128 + signal.SIGTERM)


def _stop(pool: cf.ProcessPoolExecutor) -> None:
    """Cancel what has not started and terminate what runs (each worker cleans up)."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(timeout=30)


def _run_pool(fn, jobs, workers: int, on_done: OnDone | None) -> list[Outcome]:
    # spawn: workers import av1tools afresh (a forked copy of a process holding threads or
    # torch state is unsafe).
    context = multiprocessing.get_context("spawn")
    outcomes: dict[int, Outcome] = {}
    attempts = {i: 0 for i in range(len(jobs))}
    pending = list(range(len(jobs)))
    running: dict[cf.Future, tuple[int, cf.ProcessPoolExecutor]] = {}
    shared: cf.ProcessPoolExecutor | None = None
    # Once a worker of the shared pool dies (killed, out of memory), which job killed it is
    # unknown and every job in that pool fails with it: from then on each job runs in a pool
    # of its own (``workers`` at a time), where a death is its own job's.
    alone = False

    def new_pool(n: int) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=n, mp_context=context, initializer=_worker_init)

    try:
        while pending or running:
            while pending and (not alone or len(running) < workers):
                i = pending[0]
                if alone:
                    pool = new_pool(1)
                else:
                    shared = shared or new_pool(workers)
                    pool = shared
                try:
                    future = pool.submit(_in_worker, fn, jobs[i])
                except cf.process.BrokenProcessPool:
                    if pool is not shared:
                        raise
                    alone = True  # it broke before its futures said so
                    continue
                pending.pop(0)
                attempts[i] += 1
                running[future] = (i, pool)
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in done:
                i, pool = running.pop(future)
                if pool is not shared:
                    pool.shutdown(wait=True)
                try:
                    outcome = Outcome(jobs[i], future.result(), attempts=attempts[i])
                except cf.process.BrokenProcessPool:
                    outcome, error = None, "a worker process died"
                    if pool is shared:  # perhaps another job's death: rerun alone, never lost
                        alone = True
                        attempts[i] = min(attempts[i], ATTEMPTS - 1)
                except Exception as e:  # noqa: BLE001
                    outcome, error = None, _one_line(e)
                if outcome is None:
                    if attempts[i] < ATTEMPTS:
                        # back in the jobs' order: a broken pool's futures complete as a set,
                        # in no order, and reruns would otherwise start in whatever order
                        bisect.insort(pending, i)
                        continue
                    outcome = Outcome(jobs[i], None, error, attempts[i])
                outcomes[i] = outcome
                if on_done:
                    on_done(outcome)
    except BaseException:
        pools = {id(p): p for _, p in running.values()} | ({id(shared): shared} if shared else {})
        for pool in pools.values():
            _stop(pool)
        raise
    if shared is not None:
        shared.shutdown(wait=True)
    return [outcomes[i] for i in range(len(jobs))]


def _run_dask(fn, jobs, scheduler: str, on_done: OnDone | None) -> list[Outcome]:
    from distributed import Client, as_completed

    with Client(scheduler, timeout="30s") as client:
        # retries=1: the scheduler reruns a failed task once; a task on a worker that
        # dies is rescheduled by the scheduler itself.
        futures = {client.submit(fn, job, pure=False, retries=ATTEMPTS - 1): i for i, job in enumerate(jobs)}
        outcomes: dict[int, Outcome] = {}
        for future in as_completed(futures):
            i = futures[future]
            try:
                outcome = Outcome(jobs[i], future.result())
            except Exception as e:  # noqa: BLE001
                outcome = Outcome(jobs[i], None, _one_line(e), ATTEMPTS)
            outcomes[i] = outcome
            if on_done:
                on_done(outcome)
    return [outcomes[i] for i in range(len(jobs))]
