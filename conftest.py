"""Makes the repository root importable (`import pipeline`) for the test suite, and starts the slowest
test files first: with two xdist workers (`make test`), the long end-to-end runs then overlap the many
short tests instead of running last, side by side, while the other worker idles."""
from __future__ import annotations

import pytest

# Slowest first, by their durations inside `make test` (docs/benchmarks.md, "The test suite").
SLOW_FIRST = ("test_learning.py", "test_demo_dag.py", "test_gpu_check.py", "test_shell_safety.py", "test_slurm.py",
              "test_kill_workflow.py", "test_incremental.py", "test_extending.py", "test_video_detectors.py",
              "test_kill_resume.py")


def _rank(item: pytest.Item) -> int:
    name = item.path.name
    return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: each file keeps its order
