"""`pipeline.gpu.claim_gpu`: concurrent jobs get distinct GPUs; no-op without GPUs or under a scheduler.

GPU counts are faked (`n_gpus=`), and each claim runs in its own process, as Snakemake jobs do.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A child process: claims a GPU, prints the index and CUDA_VISIBLE_DEVICES, then holds the lock
# until the file `release` appears (so the parent controls how long claims overlap).
CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from pipeline.gpu import claim_gpu
    lock_dir, n, release, wait = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4])
    index = claim_gpu(lock_dir, n_gpus=n, wait_s=wait, poll_s=0.05)
    print(index, os.environ.get("CUDA_VISIBLE_DEVICES") or "-", flush=True)
    while not release.exists():
        time.sleep(0.02)
    """
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "JOB_ID",
                        "SGE_TASK_ID", "STDD_GPUS", "STDD_GPU_JOBS_PER_DEVICE")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def _start(tmp: Path, n: int, wait: float = 0.0, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp / "locks"), str(n), str(tmp / "release"), str(wait)],
        stdout=subprocess.PIPE, text=True, env=_env(**env),
    )


def _claims(procs: list[subprocess.Popen]) -> list[tuple[str, str]]:
    """(returned index, CUDA_VISIBLE_DEVICES) of each started child, read while they hold their locks."""
    return [tuple(p.stdout.readline().split()) for p in procs]  # type: ignore[union-attr,misc]


def _finish(tmp: Path, procs: list[subprocess.Popen]) -> None:
    (tmp / "release").touch()
    for p in procs:
        assert p.wait(timeout=30) == 0


def test_concurrent_jobs_get_distinct_gpus(tmp_path):
    procs = []
    try:
        for _ in range(3):
            procs.append(_start(tmp_path, n=3))
            time.sleep(0.05)
        claims = _claims(procs)
    finally:
        _finish(tmp_path, procs)
    assert sorted(c[0] for c in claims) == ["0", "1", "2"], claims
    assert all(index == visible for index, visible in claims), claims
    assert sorted(p.name for p in (tmp_path / "locks").iterdir()) == ["gpu0.lock", "gpu1.lock", "gpu2.lock"]


def test_a_gpu_is_free_again_when_its_job_exits(tmp_path):
    first = _start(tmp_path, n=1)
    (index, _), = _claims([first])
    assert index == "0"
    first.kill()  # a crash: the kernel releases the flock, no stale lock file matters
    first.wait(timeout=10)
    second = _start(tmp_path, n=1, wait=0.0)
    try:
        assert _claims([second]) == [("0", "0")]
    finally:
        _finish(tmp_path, [second])


def test_waits_for_a_busy_pool_then_gets_the_freed_gpu(tmp_path):
    holder = _start(tmp_path, n=1)
    try:
        assert _claims([holder])[0][0] == "0"
        waiter = _start(tmp_path, n=1, wait=20.0)
        time.sleep(0.5)
        assert waiter.poll() is None  # still waiting for GPU 0
        (tmp_path / "release").touch()  # the holder exits
        assert _claims([waiter]) == [("0", "0")]
        assert waiter.wait(timeout=30) == 0
    finally:
        _finish(tmp_path, [holder])


def test_shares_a_gpu_instead_of_failing_when_the_wait_runs_out(tmp_path):
    holder = _start(tmp_path, n=1)
    procs = [holder]
    try:
        _claims([holder])
        procs.append(_start(tmp_path, n=1, wait=0.1))
        assert _claims(procs[1:]) == [("0", "0")]
    finally:
        _finish(tmp_path, procs)


@pytest.mark.parametrize(
    ("n", "env", "expected"),
    [
        (0, {}, ("None", "-")),  # no GPU: CPU run, nothing exported
        (4, {"CUDA_VISIBLE_DEVICES": "2"}, ("None", "2")),  # SLURM --gpus=1 / a user's pin: untouched
        (4, {"CUDA_VISIBLE_DEVICES": ""}, ("None", "-")),  # GPUs hidden: untouched ("" prints as -)
        (4, {"SLURM_JOB_ID": "17"}, ("None", "-")),  # a batch job given no GPU
        (4, {"CUDA_VISIBLE_DEVICES": "5,7"}, ("5", "5")),  # a subset: choose within it
    ],
)
def test_no_op_and_subset_cases(tmp_path, n, env, expected):
    proc = _start(tmp_path, n=n, **env)
    try:
        (claim,) = _claims([proc])
    finally:
        _finish(tmp_path, [proc])
    assert claim == expected


def test_subset_members_are_locked_separately(tmp_path):
    procs = []
    try:
        for _ in range(2):
            procs.append(_start(tmp_path, n=8, CUDA_VISIBLE_DEVICES="5,7"))
            time.sleep(0.05)
        claims = _claims(procs)
    finally:
        _finish(tmp_path, procs)
    assert sorted(claims) == [("5", "5"), ("7", "7")]


# ---- N jobs per GPU ---------------------------------------------------------------------------------------------
# The pool is faked as the workflow's profile fakes it (`STDD_GPUS`); slots come from
# `STDD_GPU_JOBS_PER_DEVICE` or a command's `--gpu-jobs-per-device`, as in a Snakemake job.

CLI_CHILD = textwrap.dedent(
    """
    import argparse, os, sys, time
    from pathlib import Path
    import pipeline.gpu as gpu
    release, wait = Path(sys.argv[1]), float(sys.argv[2])
    parser = argparse.ArgumentParser()
    gpu.add_gpu_argument(parser)
    args = parser.parse_args(sys.argv[3:])
    n = int(os.environ["STDD_GPUS"])
    gpu.claim_gpu(args.gpu_lock_dir, n_gpus=n, slots=args.gpu_jobs_per_device, wait_s=wait, poll_s=0.05)
    print(os.environ.get("CUDA_VISIBLE_DEVICES") or "-", flush=True)
    while not release.exists():
        time.sleep(0.02)
    """
)


def _start_job(tmp: Path, *options: str, wait: float = 0.0, **env: str) -> subprocess.Popen:
    """A GPU job as a rule starts it: `--gpu-lock-dir` plus `options`, the pool size in $STDD_GPUS."""
    argv = [sys.executable, "-c", CLI_CHILD, str(tmp / "release"), str(wait), "--gpu-lock-dir", str(tmp / "locks"),
            *options]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=_env(**env))


def _devices(procs: list[subprocess.Popen]) -> list[str]:
    return [p.stdout.readline().strip() for p in procs]  # type: ignore[union-attr]


@pytest.mark.parametrize(("option", "env"), [((), {"STDD_GPU_JOBS_PER_DEVICE": "3"}),
                                             (("--gpu-jobs-per-device", "3"), {})])
def test_n_jobs_share_a_gpu_and_never_more(tmp_path, option, env):
    procs = [_start_job(tmp_path, *option, STDD_GPUS="2", **env) for _ in range(6)]  # a pool of 2 x 3
    waiter = None
    try:
        devices = _devices(procs)
        waiter = _start_job(tmp_path, *option, wait=20.0, STDD_GPUS="2", **env)  # a 7th job: no slot is free
        time.sleep(0.5)
        assert waiter.poll() is None
        (tmp_path / "release").touch()
        assert _devices([waiter])[0] in ("0", "1")
    finally:
        _finish(tmp_path, procs + ([waiter] if waiter else []))
    assert sorted(devices) == ["0", "0", "0", "1", "1", "1"], devices  # each job sees exactly one device
    assert sorted(p.name for p in (tmp_path / "locks").iterdir()) == [
        "gpu0.lock", "gpu0.slot1.lock", "gpu0.slot2.lock", "gpu1.lock", "gpu1.slot1.lock", "gpu1.slot2.lock"]


def test_jobs_spread_over_the_gpus_before_sharing_one(tmp_path):
    procs = []
    try:
        for _ in range(3):
            procs.append(_start_job(tmp_path, STDD_GPUS="2", STDD_GPU_JOBS_PER_DEVICE="4"))
            time.sleep(0.05)
        devices = _devices(procs)
    finally:
        _finish(tmp_path, procs)
    # slot 0 of both devices before slot 1 of either, whichever job's Python starts first
    assert sorted(devices) == ["0", "0", "1"], devices


def test_jobs_per_device_setting(monkeypatch):
    from pipeline.gpu import jobs_per_device

    monkeypatch.delenv("STDD_GPU_JOBS_PER_DEVICE", raising=False)
    assert jobs_per_device() == 1 and jobs_per_device(default=4) == 4 and jobs_per_device(2, default=4) == 2
    monkeypatch.setenv("STDD_GPU_JOBS_PER_DEVICE", "3")
    assert jobs_per_device(default=4) == 3 and jobs_per_device(2) == 2  # option > environment > default
    monkeypatch.setenv("STDD_GPU_JOBS_PER_DEVICE", "many")
    with pytest.raises(ValueError, match="STDD_GPU_JOBS_PER_DEVICE='many'"):
        jobs_per_device()
    with pytest.raises(ValueError, match="at least 1"):
        jobs_per_device(0)


@pytest.mark.parametrize(("gpus", "per_device", "pool"),
                         [("2", None, 2), ("2", "4", 8), ("3", "1", 3), ("0", "4", None)])
def test_profile_pool_is_gpus_times_jobs_per_device(monkeypatch, gpus, per_device, pool):
    """The workstation profile, evaluated as Snakemake evaluates it (YTE)."""
    import yte

    monkeypatch.setenv("STDD_GPUS", gpus)
    if per_device is None:
        monkeypatch.delenv("STDD_GPU_JOBS_PER_DEVICE", raising=False)
    else:
        monkeypatch.setenv("STDD_GPU_JOBS_PER_DEVICE", per_device)
    profile = yte.process_yaml((ROOT / "profiles" / "default" / "config.yaml").read_text())
    assert profile["resources"] == (None if pool is None else {"gpu": pool})
