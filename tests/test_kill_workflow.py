"""SIGKILL the whole `snakemake` process tree mid-preprocessing and mid-training, then rerun as a user would.

A private copy of the workflow runs the tiny DFDC demo up to one EfficientNet-B3 training job. The run is
killed (the process group: Snakemake and the jobs it started, as a cluster kill or OOM killer does)
first once some shards are detected but not all are cropped, then once training has finished its first
epoch. After each kill: every file under a final name is complete; the rerun refuses to start on the
stale lock and names `--unlock`; after `snakemake --unlock` it completes, training resumes after epoch 1.
Finally everything except the demo data is deleted and rerun uninterrupted: all outputs are identical.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import h5py
import pytest

from helpers_workflow import PrivateWorkflow
from test_kill_resume import h5_contents, kill_when
from test_train import metrics

pytestmark = pytest.mark.slow

SHARDS = 4
OVERRIDES = {
    "demo": {"identities": 6, "seconds": 2, "dfdc_parts": 3, "dfdc_videos_per_part": 3, "celebdf_videos": 2,
             "overrides": {"train": {"epochs": 3, "steps_per_epoch": 3}}},  # these win over `train`
    "models": ["efficientnet_b3"],
    "conditions": {"all": []},
    "datasets": {"dfdc": {"parts": {"train": [0], "val": [1], "test": [2]}, "shards": SHARDS}},
}
MODEL = "train/dfdc/all/efficientnet_b3/seed0"


class KilledWorkflow(PrivateWorkflow):
    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp, OVERRIDES, ("dfdc",))
        self.target = str(self.results / MODEL / "model.pt")

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return self.snakemake("--cores", "2", *args, self.target, lock=True)

    def kill_when(self, ready: Callable[[], bool]) -> None:
        """Start the run, SIGKILL Snakemake and its jobs once `ready()` holds."""
        kill_when(self.command("--cores", "2", self.target, lock=True), ready, timeout=600, cwd=self.dir, env=None)

    def unlock_after_kill(self) -> None:
        """What docs/paper-scale.md tells a user to do after a kill: the plain rerun names --unlock; unlock."""
        refused = self.run()
        assert refused.returncode != 0 and "--unlock" in refused.stdout + refused.stderr, refused.stderr[-2000:]
        unlocked = self.snakemake("--unlock", self.target, lock=True)
        assert unlocked.returncode == 0, unlocked.stderr[-2000:]

    def files(self, folder: str, pattern: str) -> list[Path]:
        return sorted((self.results / folder).glob(pattern))


def assert_complete(results: Path) -> None:
    """Every HDF5 and JSON file under a final (non-hidden) name opens and parses."""
    for path in results.rglob("*"):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix == ".h5":
            with h5py.File(path) as h5:
                h5.visit(lambda name: None)
        elif path.suffix == ".json":
            json.loads(path.read_text())


def snapshot(results: Path) -> dict[str, object]:
    """Contents of the preprocessing, manifest and training outputs (not logs, benchmarks, plots)."""
    out: dict[str, object] = {}
    for path in sorted(results.rglob("*")):
        rel = path.relative_to(results).as_posix()
        if not path.is_file() or rel.startswith(("demo_data/", "logs/", "benchmarks/", "state/")):
            continue
        if path.suffix == ".h5":
            out[rel] = h5_contents(path)
        elif path.name == "metrics.csv":
            out[rel] = metrics(path.parent)  # without the wall-clock column
        elif path.suffix in (".csv", ".json"):
            out[rel] = path.read_text()
    return out


def test_killed_workflow_reruns_to_identical_outputs(tmp_path):
    wf = KilledWorkflow(tmp_path)

    def mid_preprocessing() -> bool:
        return bool(wf.files("preprocess/dfdc/detections", "shard*.h5")) and \
            len(wf.files("preprocess/dfdc/crops", "shard*.h5")) < SHARDS

    wf.kill_when(mid_preprocessing)
    assert len(wf.files("preprocess/dfdc/crops", "shard*.h5")) < SHARDS
    assert_complete(wf.results)
    wf.unlock_after_kill()

    state = wf.results / "state" / MODEL / "last.pt"
    wf.kill_when(state.exists)  # the rerun finishes preprocessing, then training's first epoch
    assert not (wf.results / MODEL / "model.pt").exists()
    assert_complete(wf.results)

    wf.unlock_after_kill()
    done = wf.run()
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    log = (wf.results / "logs/train_model/dfdc/all/efficientnet_b3/seed0.log").read_text()
    assert "resuming after epoch 1 " in log, log[-2000:]
    resumed = snapshot(wf.results)
    assert [row["epoch"] for row in resumed[f"{MODEL}/metrics.csv"]] == ["1", "2", "3"]

    for name in os.listdir(wf.results):
        if name != "demo_data":
            shutil.rmtree(wf.results / name) if (wf.results / name).is_dir() else (wf.results / name).unlink()
    done = wf.run()
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    assert snapshot(wf.results) == resumed
