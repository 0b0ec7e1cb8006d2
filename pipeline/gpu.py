"""Pin each GPU job of a workstation run to a GPU slot with file locks: N jobs per GPU at most.

Snakemake's resource pool (`resources: gpu=N`, see `profiles/default/config.yaml`) guarantees that at
most N GPU jobs run at once, but it does not tell a job *which* GPU to use: without help every job
would start on GPU 0. `claim_gpu` picks a GPU that no other job holds, by taking an exclusive
`fcntl.flock` on `<lock_dir>/gpu<i>.lock`, and exports `CUDA_VISIBLE_DEVICES=<i>` so that torch then
sees exactly that one device (as `cuda:0`). The lock lives as long as the process: the kernel drops it
when the process exits, however it exits (no stale locks after a crash or `kill -9`).

It is a no-op when
* the machine shows no GPU (CPU runs), or
* a scheduler already chose the device: SLURM (and other batch systems) set `CUDA_VISIBLE_DEVICES`
  to the job's allocation (`--gpus=1` -> one device), or the user pinned a single device by hand, or
* it runs inside a batch job that was given no GPU.
When `CUDA_VISIBLE_DEVICES` lists several devices (a user restricting a run to a subset, or Snakemake
run locally inside a multi-GPU allocation), the job picks one of *those*.

Small jobs (the demo's, evaluation) leave most of a GPU idle, so a GPU can hold N slots,
`STDD_GPU_JOBS_PER_DEVICE=N` (default 1; `--gpu-jobs-per-device` of a command overrides it): slot 0 of
device i is `gpu<i>.lock`, slot k > 0 `gpu<i>.slot<k>.lock`, and jobs fill slot 0 of every device before
slot 1 of any, so load spreads over the devices. `profiles/default/config.yaml` reads the same variable
and sizes Snakemake's `gpu` pool to devices x N, so the pool admits as many jobs as there are slots.
The workflow's config key `gpu_jobs_per_device` is the default under the variable
(`jobs_per_device(default=...)`), for the rules to pass on as `--gpu-jobs-per-device`.

Locks are per machine: `lock_dir` must be node-local or used by one machine only (GPU 0 of two
hosts are different GPUs; `flock` on a shared NFS folder could make them exclude each other).

Call it before anything initialises CUDA (before the first `torch.cuda` call; importing torch is fine,
CUDA initialises lazily, but calling it before `import torch` is the safe habit).
Standard library only.
"""
from __future__ import annotations

import argparse
import fcntl
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

# Environment variables that mean "a batch scheduler allocated the GPUs of this job".
SCHEDULER_VARS = ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "JOB_ID", "SGE_TASK_ID")

# Open lock files of this process: kept referenced so the locks live until the process exits.
_HELD: list[int] = []

JOBS_PER_DEVICE_VAR = "STDD_GPU_JOBS_PER_DEVICE"


def jobs_per_device(value: int | None = None, default: int = 1) -> int:
    """GPU slots per device: `value` when given (a command's option), else `$STDD_GPU_JOBS_PER_DEVICE`,
    else `default` (the workflow's `gpu_jobs_per_device`, 1 when unset)."""
    if value is None:
        text = os.environ.get(JOBS_PER_DEVICE_VAR, "").strip()
        try:
            value = int(text) if text else default
        except ValueError:
            raise ValueError(f"{JOBS_PER_DEVICE_VAR}={text!r}: expected a whole number of jobs per GPU") from None
    if value < 1:
        raise ValueError(f"GPU jobs per device must be at least 1, got {value}")
    return value


def lock_name(device: str, slot: int) -> str:
    """The lock file of one slot of a device (slot 0 keeps the one-job-per-GPU name)."""
    return f"gpu{device}.lock" if slot == 0 else f"gpu{device}.slot{slot}.lock"


def count_gpus() -> int:
    """Number of NVIDIA GPUs the driver shows (`nvidia-smi -L`), 0 without a driver or tool."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def gpu_pool() -> int:
    """GPUs a workflow run hands out: $STDD_GPUS if set, else the devices listed in CUDA_VISIBLE_DEVICES if
    set, else the GPUs `nvidia-smi -L` shows. The workstation profile sizes Snakemake's `gpu` pool by the
    same rule (`profiles/default/config.yaml`, tested to agree), and the rules lock GPUs when it is > 0."""
    forced = os.environ.get("STDD_GPUS", "").strip()
    if forced:
        try:
            return int(forced)
        except ValueError:
            raise ValueError(f"STDD_GPUS={forced!r}: expected a whole number of GPUs") from None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip()])
    return count_gpus()


def _candidates(n_gpus: int | None) -> list[str] | None:
    """Device names to choose from, or None when this process must not choose (the no-op cases).

    * `CUDA_VISIBLE_DEVICES` set to one device (a SLURM `--gpus=1` job, a user's pin) or to "" -> None.
    * `CUDA_VISIBLE_DEVICES` listing several devices (a multi-GPU allocation running Snakemake locally,
      or a user restricting the run to a subset) -> choose among those.
    * unset inside a batch job -> None (the scheduler gave this job no GPU).
    * unset on a workstation -> every GPU `nvidia-smi` shows (or `n_gpus`).
    """
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        devices = [d.strip() for d in env.split(",") if d.strip()]
        return devices if len(devices) > 1 else None
    if any(os.environ.get(v) for v in SCHEDULER_VARS):
        return None
    n = count_gpus() if n_gpus is None else n_gpus
    return [str(i) for i in range(n)] if n > 0 else None


def claim_gpu(
    lock_dir: str | os.PathLike[str],
    *,
    n_gpus: int | None = None,
    slots: int | None = None,
    wait_s: float = 60.0,
    poll_s: float = 0.5,
) -> int | None:
    """Lock a free slot of a GPU for this process and export `CUDA_VISIBLE_DEVICES`; return the GPU's index.

    `lock_dir` holds one lock file per GPU (e.g. `<results>/.gpu_locks`; every concurrent job of a
    machine must use the same folder, so prefer one folder per machine when several results folders
    share GPUs). `n_gpus` overrides the `nvidia-smi` count (tests); `slots` is the number of jobs a GPU
    takes (`jobs_per_device`). When every slot is locked (e.g. by a second Snakemake run on the same
    machine), it polls for up to `wait_s` seconds, then shares the GPU picked by the process id rather
    than failing (logged as a warning).

    Returns the physical GPU index chosen (the position in `CUDA_VISIBLE_DEVICES` when that listed a
    subset), or None when nothing was done (no GPU, or the device was already pinned).
    """
    devices = _candidates(n_gpus)
    if devices is None:
        return None
    slots = jobs_per_device(slots)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if getattr(torch.cuda, "is_initialized", lambda: False)():
            log.warning("claim_gpu: CUDA is already initialised; CUDA_VISIBLE_DEVICES=%s comes too late",
                        ",".join(devices))
    folder = Path(lock_dir)
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        for slot in range(slots):
            for position, device in enumerate(devices):
                lock = folder / lock_name(device, slot)
                if _try_lock(lock):
                    os.environ["CUDA_VISIBLE_DEVICES"] = device
                    log.info("claim_gpu: using GPU %s (lock %s)", device, lock)
                    return _index(device, position)
        if time.monotonic() >= deadline:
            break
        time.sleep(poll_s)
    position = os.getpid() % len(devices)
    device = devices[position]
    log.warning("claim_gpu: all %d slots of %d GPUs are locked by other jobs; sharing GPU %s", slots * len(devices),
                len(devices), device)
    os.environ["CUDA_VISIBLE_DEVICES"] = device
    return _index(device, position)


def _try_lock(path: Path) -> bool:
    """Take an exclusive `flock` on `path` for the rest of this process, if no other process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _HELD.append(fd)  # released by the kernel when the process exits
    return True


def _index(device: str, position: int) -> int:
    """The device as an int when it is a plain index, else its position (UUID-style names)."""
    return int(device) if device.isdigit() else position


def release_gpus() -> None:
    """Drop every GPU lock this process holds (normally unnecessary: process exit releases them)."""
    while _HELD:
        fd = _HELD.pop()
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def add_gpu_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gpu-lock-dir", default=None,
                        help="pin this job to a GPU slot no other job holds (file locks here, see pipeline/gpu.py)")
    parser.add_argument("--gpu-jobs-per-device", type=int, default=None, metavar="N",
                        help=f"jobs one GPU takes at once (default: ${JOBS_PER_DEVICE_VAR}, else 1)")


def claim_device(args: argparse.Namespace) -> None:
    """Take a free GPU before CUDA starts when the rule asks for it; otherwise leave the device alone."""
    if args.gpu_lock_dir:
        claim_gpu(args.gpu_lock_dir, slots=args.gpu_jobs_per_device)
