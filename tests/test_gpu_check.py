"""`bench/gpu_check.sh --dry-run`: the prepared GPU check runs end to end on the CPU and writes its table."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
from pipeline.models.card import catalogue

MODELS = tuple(catalogue())  # every registered detector gets a training-step row

pytestmark = pytest.mark.slow  # 13 detectors in one process, the loader, the grid planned


def test_dry_run_writes_the_table(tmp_path):
    env = {**os.environ, "BENCH_OUT": str(tmp_path), "PY": sys.executable, "OMP_NUM_THREADS": "2"}
    result = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--dry-run"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=540, check=False)  # the script's budget: 480 s
    assert result.returncode == 0, result.stderr[-3000:]
    lines = (tmp_path / "gpu_check.md").read_text().splitlines()
    assert lines[0].startswith("# GPU check (dry run: CPU, tiny sizes, 1 step): cpu")
    table = [line for line in lines if line.startswith("| ")]
    header, rows = table[0], table[1:]
    assert header.startswith("| part | model | input | batch | bf16 | s/step | clips/s | peak GPU MiB |")
    assert all(row.count("|") == header.count("|") for row in rows)
    trained = {row.split(" | ")[1]: row.split(" | ") for row in rows if row.startswith("| train step |")}
    assert set(trained) == set(MODELS)
    assert all(cells[7] == "–" and int(cells[10]) >= 1 for cells in trained.values())  # no GPU memory on CPU
    grid = [row for row in rows if row.startswith("| demo grid, ")]
    assert [row.split(" | ")[0] for row in grid] == ["| demo grid, 1 job(s) per GPU", "| demo grid, 4 job(s) per GPU"]
    assert "planned only (dry run): " in grid[0] and not any(line.startswith("- ") for line in lines), lines
