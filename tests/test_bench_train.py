"""`bench/bench_train.py`: each model in a process of its own (as on a GPU machine) or all in one (quick checks);
both write the same table, the first with each model's peak resident memory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--models", "xception", "tall", "--sizes", "32", "--steps", "1", "--batch-size", "2", "--clip-len", "4",
        "--device", "cpu", "--threads", "1"]


@pytest.mark.parametrize("in_process", [False, True])
def test_every_model_gets_a_row(tmp_path, in_process):
    env = {**os.environ, "BENCH_OUT": str(tmp_path), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(ROOT / "bench" / "bench_train.py"), *ARGS, *(["--in-process"] if in_process else [])]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((tmp_path / "train.json").read_text())["results"]
    assert [(r["model"], r["input_size"], r["clip_len"]) for r in rows] == [("xception", 32, 1), ("tall", 32, 4)]
    assert all(r["seconds_per_step"] > 0 and r["batch_size"] == 2 and r["peak_mib"] is None for r in rows)
    assert all((r["peak_rss_mib"] is None) == in_process for r in rows)
    if not in_process:
        assert all(r["peak_rss_mib"] > 100 for r in rows), rows  # torch alone takes more
    table = (tmp_path / "train.md").read_text().splitlines()
    assert len([line for line in table if line.startswith("| xception |") or line.startswith("| tall |")]) == 2
