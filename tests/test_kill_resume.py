"""SIGKILL mid-job, then rerun: the same outputs as an uninterrupted run, never a half-written file.

Each command writes under a hidden temporary name (`pipeline.io.atomic_path`) and renames at the end,
so after a kill nothing exists under the final names; training resumes from `--state DIR/last.pt`.
(The in-process resume check, without a kill, is tests/test_train.py::test_resume_continues_and_matches_
uninterrupted_run.)
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from helpers_videos import write_video
from test_data import make_clip_dataset
from test_predict import PREPROCESS
from test_train import metrics, params

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def command(*argv) -> list[str]:
    return [sys.executable, "-m", "pipeline", *map(str, argv)]


def kill_when(argv: list[str], ready: Callable[[], bool], timeout: float = 60, cwd: Path = ROOT,
              env: dict | None = ENV) -> None:
    """Start `argv` in its own process group, SIGKILL the group (the command and any process it
    started) as soon as `ready()` holds, and check the command was still running then."""
    what = " ".join(map(str, argv[:4]))
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert proc.poll() is None, f"{what} finished before it could be killed"
            assert time.monotonic() < deadline, f"{what} never reached the kill point"
            time.sleep(0.02)
        assert proc.poll() is None, f"{what} finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def run_ok(argv: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def seconds_open(path: Path) -> Callable[[], float]:
    """Seconds since a temporary sibling of `path` appeared (0 while there is none)."""
    first: list[float] = []

    def elapsed() -> float:
        if not first and temporaries(path):
            first.append(time.monotonic())
        return time.monotonic() - first[0] if first else 0.0
    return elapsed


def temporaries(path: Path) -> list[Path]:
    """Hidden temporary siblings of `path` left by `atomic_path` in a killed process."""
    return list(path.parent.glob(f".{path.name}.tmp*"))


def h5_contents(path: Path) -> dict:
    """Every dataset and attribute of an HDF5 file, as comparable Python values."""
    with h5py.File(path) as h5:
        out = {"/": {k: np.asarray(v).tolist() for k, v in h5.attrs.items()}}
        def visit(name, obj):
            attrs = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}
            data = None
            if isinstance(obj, h5py.Dataset):
                data = [bytes(x) for x in obj[()]] if obj.dtype.kind == "O" else obj[()].tobytes()
            out[name] = (attrs, data)
        h5.visititems(visit)
    return out


@pytest.fixture(scope="module")
def shard(tmp_path_factory) -> Path:
    """A shard of 8 videos, sampled; returns the folder with `videos/` and `index.json`."""
    root = tmp_path_factory.mktemp("kill")
    videos = root / "videos"
    videos.mkdir()
    for i in range(8):
        write_video(videos / f"v{i}.mp4", n=75, size=(480, 360))
    run_ok(command("sample", "--root", videos, "--out", root / "index.json", "--report", root / "sample.csv",
                   *sorted(videos.iterdir())))
    return root


def detect(shard: Path, out: Path) -> list[str]:
    return command("detect", "--index", shard / "index.json", "--out", out / "d.h5", "--report", out / "detect.csv")


def crop(shard: Path, detections: Path, out: Path) -> list[str]:
    p = {k: PREPROCESS[k] for k in ("size_outlier_threshold", "margin", "jpeg_quality", "min_frames")}
    return command("crop", "--index", shard / "index.json", "--detections", detections, "--out", out / "c.h5",
                   "--summary", out / "c.csv", "--report", out / "crop.csv",
                   "--params", json.dumps({**p, "crop_size": 320}))


def kill_mid_write(argv: list[str], store: Path, outputs: list[Path], delay: float, tries: int = 6) -> None:
    """SIGKILL `argv` `delay` s after its temporary store appeared, while it is still being written.

    The kill point is a time, and a loaded machine can run the job faster or slower than the reference
    run that set it: the group is first frozen (SIGSTOP), and if the store is already under its final
    name (or the job has ended) the try is discarded and repeated with a quarter of the delay. What is checked after the kill
    never weakens; only when to kill adapts.
    """
    for _ in range(tries):
        for path in [store, *outputs, *temporaries(store)]:
            path.unlink(missing_ok=True)
        elapsed = seconds_open(store)
        proc = subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.monotonic() + 60
        try:
            while elapsed() <= delay and proc.poll() is None:
                assert time.monotonic() < deadline, f"{argv[3]} never opened {store.name}"
                time.sleep(0.002)
            mid_write = False
            if proc.poll() is None:  # not reaped yet: its group can be signalled
                os.killpg(proc.pid, signal.SIGSTOP)
                mid_write = bool(temporaries(store)) and not store.exists()
                os.killpg(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
        if mid_write:
            return
        delay /= 4
    pytest.fail(f"{argv[3]} finished writing {store.name} before every kill point tried")


def test_killed_detect_and_crop_leave_nothing_and_rerun_identically(shard, tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    durations = []  # of the shard's work, read from the summary line the commands log
    for argv in (detect(shard, full), crop(shard, full / "d.h5", full)):
        durations.append(float(run_ok(argv).stderr.strip().rsplit(", ", 1)[1].removesuffix(" s")))

    for argv, store, others, seconds in (
            (detect(shard, killed), killed / "d.h5", ["detect.csv"], durations[0]),
            (crop(shard, full / "d.h5", killed), killed / "c.h5", ["c.csv", "crop.csv"], durations[1])):
        kill_mid_write(argv, store, [killed / name for name in others], seconds / 2)  # half-way through the shard
        assert temporaries(store), "the killed job's temporary file should be left under its hidden name"
        assert not store.exists() and not any((killed / name).exists() for name in others)
        run_ok(argv)
        assert h5_contents(store) == h5_contents(full / store.name)
        for name in others:
            assert (killed / name).read_bytes() == (full / name).read_bytes()


def test_killed_training_resumes_after_its_last_epoch(tmp_path):
    manifests = make_clip_dataset(tmp_path / "clips")
    p = params(epochs=3, steps_per_epoch=6, val_steps=2, image_size=32)
    p["hparams"]["batch_size"] = 2

    def train(out: str) -> list[str]:
        return command("train", "--model", "efficientnet_b3", "--dataset", "ffpp", "--condition", "all",
                       "--manifests", manifests, "--out", tmp_path / out, "--state", tmp_path / f"{out}_state",
                       "--params", json.dumps(p))

    run_ok(train("full"))
    kill_when(train("out"), lambda: (tmp_path / "out_state" / "last.pt").exists(), timeout=120)
    assert not (tmp_path / "out").exists()  # no model.pt / metrics.csv before the run ends
    result = run_ok(train("out"))
    assert "resuming after epoch 1 " in result.stderr and "epoch 1/3" not in result.stderr
    assert [r["epoch"] for r in metrics(tmp_path / "out")] == ["1", "2", "3"]
    assert metrics(tmp_path / "out") == metrics(tmp_path / "full")
