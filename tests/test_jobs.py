"""av1tools.jobs: the same job function inline, on a local spawn pool and on a real
dask.distributed cluster; retries, a failure reported not raised, a killed worker's job
resubmitted, and extraction whose shards do not depend on where they ran."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from jobs_helpers import attempts_of, flaky, pid_of, square, tiny_clip

from av1tools.jobs import ATTEMPTS, run_jobs

EXTRACT = ["extract", "--cq-level", "40", "--cq-level", "50", "--cpu-used", "6", "-q"]


def _job(tmp_path, kind, value):
    return (kind, value, str(tmp_path / "marks" / f"{kind}-{value}"))


@pytest.mark.parametrize("workers", [1, 2])
def test_outcomes_in_the_jobs_order(workers):
    jobs = list(range(7, 0, -1))
    seen = []
    outcomes = run_jobs(square, jobs, workers=workers, on_done=seen.append)
    assert [o.job for o in outcomes] == jobs
    assert [o.result for o in outcomes] == [j * j for j in jobs]
    assert all(o.ok and o.attempts == 1 and o.error == "" for o in outcomes)
    assert sorted(o.job for o in seen) == sorted(jobs)  # on_done saw each exactly once


def test_a_pool_runs_jobs_in_other_processes():
    outcomes = run_jobs(pid_of, list(range(4)), workers=2)
    pids = {o.result[1] for o in outcomes}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert [o.result[0] for o in outcomes] == list(range(4))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_job_failing_once_is_retried_and_ok(tmp_path, workers):
    jobs = [_job(tmp_path, "ok", 2), _job(tmp_path, "once", 3), _job(tmp_path, "ok", 4)]
    outcomes = run_jobs(flaky, jobs, workers=workers)
    assert [o.job for o in outcomes] == jobs
    assert [o.result for o in outcomes] == [4, 9, 16]
    assert all(o.ok for o in outcomes)
    assert [o.attempts for o in outcomes] == [1, 2, 1]
    assert len(attempts_of(jobs[1][2])) == 2 and len(attempts_of(jobs[0][2])) == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_a_job_always_failing_is_reported_and_the_others_succeed(tmp_path, workers):
    jobs = [_job(tmp_path, "ok", 2), _job(tmp_path, "always", 5), _job(tmp_path, "ok", 3)]
    done = []
    outcomes = run_jobs(flaky, jobs, workers=workers, on_done=done.append)  # never raises
    good, bad, other = outcomes
    assert good.ok and good.result == 4 and other.ok and other.result == 9
    assert not bad.ok and bad.result is None and bad.job == jobs[1]
    assert bad.error == "job 5 always fails"  # the first line only
    assert bad.attempts == ATTEMPTS == 2 and len(attempts_of(jobs[1][2])) == 2
    assert len(done) == 3 and [o for o in done if not o.ok] == [bad]


def test_a_killed_worker_is_replaced_and_its_job_resubmitted(tmp_path):
    jobs = [_job(tmp_path, "ok", 2), _job(tmp_path, "kill", 6), _job(tmp_path, "ok", 3), _job(tmp_path, "ok", 4)]
    outcomes = run_jobs(flaky, jobs, workers=2)
    assert [o.job for o in outcomes] == jobs
    assert [o.error for o in outcomes] == ["", "", "", ""]
    assert [o.result for o in outcomes] == [4, 36, 9, 16]
    killed = outcomes[1]
    assert killed.attempts == 2
    first, second = attempts_of(jobs[1][2])
    assert first != second  # the second attempt ran in a fresh worker


def test_a_job_killing_every_worker_loses_nobody_elses_result(tmp_path):
    # its worker dies on every attempt (out of memory, say): the jobs that were pending or
    # running beside it in the pool that broke are rerun, and only it is reported
    jobs = [_job(tmp_path, "die", 1)] + [_job(tmp_path, "slow", i) for i in range(2, 7)]
    outcomes = run_jobs(flaky, jobs, workers=2)
    assert [o.job for o in outcomes] == jobs
    dead, *others = outcomes
    assert not dead.ok and dead.error == "a worker process died" and dead.attempts == ATTEMPTS
    assert len(attempts_of(jobs[0][2])) == ATTEMPTS
    assert [o.error for o in others] == [""] * 5 and [o.result for o in others] == [i * i for i in range(2, 7)]
    assert all(o.attempts <= ATTEMPTS for o in others)


INTERRUPTED = """
import signal, sys
# Ctrl-C as in a terminal: a job a shell started in the background inherits SIGINT ignored
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, sys.argv[1])
from jobs_helpers import flaky
from av1tools.jobs import run_jobs
if __name__ == "__main__":
    run_jobs(flaky, [("hang", i, f"{sys.argv[2]}/hang-{i}") for i in range(3)], workers=2)
"""


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("after_a_death", [False, True])
def test_ctrl_c_stops_the_pool_and_its_workers(tmp_path, after_a_death):
    # three jobs on two workers: the third waits in the pool's queue, and a stopped worker
    # must not take it up
    script = INTERRUPTED
    if after_a_death:  # the pools that run then: one per job
        script = script.replace('[("hang"', '[("kill", 9, f"{sys.argv[2]}/kill")] + [("hang"')
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(Path(__file__).parent), str(tmp_path)], stderr=subprocess.PIPE, text=True
    )
    markers = [str(tmp_path / f"hang-{i}") for i in range(3)]
    workers = []
    try:
        deadline = time.monotonic() + 60
        # two of the jobs started (one may have started twice: in the pool the death broke,
        # then alone)
        while sum(bool(attempts_of(m)) for m in markers) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = [pid for m in markers for pid in attempts_of(m)]
        assert 2 <= len(workers) <= 2 + after_a_death and proc.poll() is None
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode != 0 and "KeyboardInterrupt" in err
        deadline = time.monotonic() + 5
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if _alive(pid)], "workers left running their jobs"
        assert sorted(bool(attempts_of(m)) for m in markers) == [False, True, True]  # the queued one never started
    finally:  # whatever happened: nothing left running (workers first: they hold stderr open)
        for pid in {pid for m in markers for pid in attempts_of(m)}:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.communicate()


# -- extraction on a real dask.distributed cluster ---------------------------------------


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture
def two_clips(tmp_path):
    return [tiny_clip(tmp_path / "in" / "jobs-a.y4m", 21, frames=2), tiny_clip(tmp_path / "in" / "jobs-b.y4m", 22)]


def _extract(clips, out, **kw):
    from av1tools.extract.aom import EncodeSettings
    from av1tools.extract.pipeline import ExtractConfig, extract

    config = ExtractConfig(tuple(map(str, clips)), out, (40, 50), EncodeSettings(cpu_used=6), **kw)
    result = extract(config)
    assert not result.failed, result.failed
    return result


def _partitions(dataset):
    from av1tools.extract.dataset import open_dataset

    with open_dataset(dataset) as ds:
        return {size: ds.column(size, "partition") for size in ds.node_sizes}


def _assert_same_shards(one, other):
    names = sorted(p.name for p in one.iterdir() if p.suffix in (".h5", ".ivf"))
    assert len(names) == 8 and names == sorted(p.name for p in other.iterdir() if p.suffix in (".h5", ".ivf"))
    for name in names:
        if name.endswith(".ivf"):
            assert (one / name).read_bytes() == (other / name).read_bytes(), name
        else:
            a, b = _partitions(one / name), _partitions(other / name)
            assert a.keys() == b.keys() and a, name
            for size in a:
                np.testing.assert_array_equal(a[size], b[size], err_msg=f"{name} {size}")


def _shard_tasks(cluster):
    """Keys of the extract_shard tasks the scheduler has seen."""
    return {str(entry[0]) for entry in cluster.scheduler.transition_log if "extract_shard" in str(entry[0])}


def test_extract_on_a_dask_cluster_matches_inline(tmp_path, aom_tools, cluster, two_clips):
    inline = _extract(two_clips, tmp_path / "inline", jobs=1)
    before = _shard_tasks(cluster)
    remote = _extract(two_clips, tmp_path / "dask", scheduler=cluster.scheduler_address)
    ran = _shard_tasks(cluster) - before
    assert len(ran) == 4  # every shard ran as a task on the cluster
    assert [s.status for s in inline.shards] == [s.status for s in remote.shards] == ["written"] * 4
    assert [s.dataset.name for s in inline.shards] == [s.dataset.name for s in remote.shards]
    _assert_same_shards(tmp_path / "inline", tmp_path / "dask")

    counter = cluster.scheduler.transition_counter
    again = _extract(two_clips, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert [s.status for s in again.shards] == ["kept"] * 4
    assert cluster.scheduler.transition_counter == counter  # nothing submitted
    assert _shard_tasks(cluster) - before == ran


def test_cli_extract_with_a_scheduler(cli, tmp_path, aom_tools, cluster, two_clips):
    seqs = [a for clip in two_clips for a in ("--seq", clip)]
    code, _, err = cli(EXTRACT + seqs + ["--out", tmp_path / "inline", "--jobs", "1"])
    assert code == 0, err
    before = _shard_tasks(cluster)
    code, text, err = cli(
        EXTRACT + seqs + ["--out", tmp_path / "dask", "--scheduler", cluster.scheduler_address, "--json"]
    )
    assert code == 0, err
    assert [s["status"] for s in json.loads(text)["shards"]] == ["written"] * 4
    assert len(_shard_tasks(cluster) - before) == 4
    _assert_same_shards(tmp_path / "inline", tmp_path / "dask")

    counter = cluster.scheduler.transition_counter
    code, text, err = cli(
        EXTRACT + seqs + ["--out", tmp_path / "dask", "--scheduler", cluster.scheduler_address, "--json"]
    )
    assert code == 0, err
    assert [s["status"] for s in json.loads(text)["shards"]] == ["kept"] * 4
    assert cluster.scheduler.transition_counter == counter


def test_run_jobs_on_a_dask_cluster(tmp_path, cluster):
    jobs = [_job(tmp_path, "ok", 2), _job(tmp_path, "once", 3), _job(tmp_path, "always", 5), _job(tmp_path, "kill", 6)]
    done = []
    outcomes = run_jobs(flaky, jobs, scheduler=cluster.scheduler_address, on_done=done.append)
    assert [o.job for o in outcomes] == jobs and len(done) == 4
    assert [o.result for o in outcomes] == [4, 9, None, 36]
    assert [o.ok for o in outcomes] == [True, True, False, True]
    assert outcomes[2].error == "job 5 always fails" and outcomes[2].attempts == ATTEMPTS
    runs = [len(attempts_of(j[2])) for j in jobs]  # results held by the killed worker are recomputed
    assert runs[0] >= 1 and runs[1] >= 2 and runs[2] == ATTEMPTS and runs[3] >= 2
