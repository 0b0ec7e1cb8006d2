"""Problem reports: one `video,stage,reason` CSV line per bad input, so one bad video never stops a shard.

With `strict` the first problem raises `StrictError` instead, which fails the job with that message.
"""
from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from pathlib import Path

from pipeline.io import atomic_path

COLUMNS = ("video", "stage", "reason")


class StageError(RuntimeError):
    """Ends a stage with a one-line message and a non-zero exit status (bad setup, strict mode)."""


class StrictError(StageError):
    """A problem with one video while `strict: true`."""


@dataclass(frozen=True, order=True)
class Problem:
    video: str
    stage: str
    reason: str


class ProblemReport:
    """Collects the problems of one stage on one shard."""

    def __init__(self, stage: str, strict: bool = False):
        self.stage = stage
        self.strict = strict
        self.problems: list[Problem] = []

    def add(self, video: str, reason: str) -> None:
        reason = " ".join(reason.split())  # one line, whatever the exception text held
        if self.strict:
            raise StrictError(f"{self.stage}: {video}: {reason}")
        self.problems.append(Problem(video, self.stage, reason))

    def write(self, path: str | os.PathLike) -> None:
        write_problems(path, self.problems)


def write_problems(path: str | os.PathLike, problems: Iterable[Problem]) -> None:
    """Write a report CSV atomically (header only when there is no problem)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(astuple(p) for p in problems)


def read_problems(path: str | os.PathLike) -> list[Problem]:
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise StageError(f"{path}: expected columns {','.join(COLUMNS)}, got {reader.fieldnames}")
        return [Problem(row["video"], row["stage"], row["reason"]) for row in reader]


def count_by_kind(problems: Iterable[Problem]) -> Counter[tuple[str, str]]:
    """Counts per (stage, reason kind); the kind is the reason up to its first ':' so that per-file
    details (frame counts, exception text) do not split one kind into many."""
    return Counter((p.stage, p.reason.split(":", 1)[0]) for p in problems)


def merge_reports(paths: Iterable[str | os.PathLike]) -> list[Problem]:
    """All problems of many shard reports, sorted and without exact duplicates."""
    return sorted({p for path in paths for p in read_problems(Path(path))})
