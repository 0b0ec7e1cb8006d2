"""`check-data`: a preflight of a real-data run, before hours of preprocessing find the gaps.

Counts, per dataset, method and split, the videos the official lists name (split files, DFDC
metadata, test lists) against those present and non-empty, by name and size only (nothing is
decoded), with the listing code of the workflow (`pipeline.datasets.list_dataset`). A whole folder
or list file that is absent is flagged above the table, e.g.
`MISSING: ffpp/FaceShifter: folder manipulated_sequences/FaceShifter/c23/videos absent`.
DeeperForensics' real class, the FF++ test originals, is counted under `ffpp`.

    python -m pipeline check-data --params '{"datasets": config["datasets"]}' [--out results/check_data.md] [--strict]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.datasets import SPLITS, Listing, dataset_cards, list_dataset
from pipeline.io import atomic_path

PROG = "pipeline check-data"
COLUMNS = ("dataset", "method", "split", "listed", "present", "missing", "empty")
MAX_PROBLEMS = 10  # other listing problems shown per dataset (the manifests' problems.csv has them all)


@dataclass(frozen=True)
class Row:
    """Videos of one dataset, method and split: listed = present + missing + empty."""

    dataset: str
    method: str
    split: str
    present: int
    missing: int
    empty: int

    @property
    def listed(self) -> int:
        return self.present + self.missing + self.empty


@dataclass
class Report:
    """The table rows, the flags shown above them (MISSING / PROBLEM lines) and their counts."""

    rows: list[Row] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    n_gaps: int = 0
    n_problems: int = 0

    def n(self, column: str) -> int:
        return sum(getattr(row, column) for row in self.rows)

    @property
    def complete(self) -> bool:
        return not (self.n_gaps or self.n_problems or self.n("missing") or self.n("empty"))


def enabled_datasets(datasets: dict) -> list[str]:
    """The configured datasets the workflow uses, in the workflow's order."""
    return [name for name in dataset_cards() if name in datasets and datasets[name].get("enabled", True)]


def size_of(path: Path) -> int | None:
    """The file's size, or None when it is gone (removed since it was listed)."""
    try:
        return path.stat().st_size
    except OSError:
        return None


def count_rows(name: str, listing: Listing) -> list[Row]:
    """One row per (method, split) of the listing: present, absent and zero-byte videos."""
    counts: Counter = Counter()
    for video in listing.videos:
        size = size_of(video.path)
        counts[video.method, video.split, "missing" if size is None else "empty" if size == 0 else "present"] += 1
    for absent in listing.absent:
        counts[absent.method, absent.split, "missing"] += 1
    keys = sorted({(m, s) for m, s, _ in counts}, key=lambda k: (SPLITS.index(k[1]), k[0] != "real", k[0]))
    return [Row(name, m, s, counts[m, s, "present"], counts[m, s, "missing"], counts[m, s, "empty"]) for m, s in keys]


def flag_lines(name: str, listing: Listing) -> tuple[list[str], int]:
    """MISSING lines for whole folders and list files, then the other listing problems; and their count."""
    lines = []
    for gap in listing.gaps:
        methods = {a.method for a in listing.absent if a.video.startswith(gap.path + "/")}
        where = f"{name}/{methods.pop()}" if len(methods) == 1 else name
        lines.append(f"MISSING: {where}: {gap.kind} {gap.path} {gap.reason}")
    accounted = {a.video for a in listing.absent} | {g.path for g in listing.gaps}
    others = [p for p in listing.problems if p.video not in accounted]
    lines += [f"PROBLEM: {name}: {p.video}: {p.reason}" for p in others[:MAX_PROBLEMS]]
    if len(others) > MAX_PROBLEMS:
        lines.append(f"PROBLEM: {name}: ... and {len(others) - MAX_PROBLEMS} more listing problems")
    return lines, len(others)


def check(datasets: dict) -> Report:
    """The report over every enabled dataset; a dataset whose root is absent is one MISSING line.

    Raises ValueError for a configuration the listers reject.
    """
    report = Report()
    for name in enabled_datasets(datasets):
        if not datasets[name].get("root"):
            raise ValueError(f"datasets.{name} has no root")
        root = Path(datasets[name]["root"])
        if not root.is_dir():
            report.flags.append(f"MISSING: {name}: root {root} absent")
            report.n_gaps += 1
            continue
        try:
            listing = list_dataset(name, datasets)
        except ValueError as err:  # a bad setting, e.g. DFDC parts in two splits
            raise ValueError(f"{name}: {err}") from None
        report.rows += count_rows(name, listing)
        lines, n_problems = flag_lines(name, listing)
        report.flags += lines
        report.n_gaps += len(listing.gaps)
        report.n_problems += n_problems
    return report


def summary(report: Report) -> str:
    return (f"{report.n('present'):,} of {report.n('listed'):,} listed videos present; "
            f"{report.n('missing'):,} missing, {report.n('empty'):,} empty (zero bytes); "
            f"{report.n_gaps} folders or list files absent; {report.n_problems} other listing problems.")


def render(report: Report) -> str:
    """The Markdown report: flags, one table, a summary line."""
    cells = [tuple(str(getattr(row, c)) for c in COLUMNS) for row in report.rows]
    table = ["| " + " | ".join(COLUMNS) + " |", "|---|---|---|---:|---:|---:|---:|"]
    table += ["| " + " | ".join(row) + " |" for row in cells]
    parts = ["# Data check", "\n".join(report.flags), "\n".join(table), summary(report)]
    return "\n\n".join(p for p in parts if p) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", required=True, help='JSON {"datasets": config["datasets"]}')
    parser.add_argument("--out", type=Path, default=Path("results/check_data.md"),
                        help="where the Markdown report is written too (default: %(default)s)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when anything is missing, empty or unlistable (the workflow: preprocess.strict)")


def fail(message: str, status: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


def read_datasets(params: str) -> dict:
    """`config["datasets"]` from the `--params` JSON."""
    try:
        datasets = json.loads(params).get("datasets")
    except (ValueError, AttributeError) as err:
        raise ValueError(f"--params is not a JSON object: {err}") from None
    if not isinstance(datasets, dict):
        raise ValueError('--params has no "datasets" object')
    return datasets


def run(args: argparse.Namespace) -> int:
    try:
        report = check(read_datasets(args.params))
    except ValueError as err:
        return fail(str(err), 2)
    text = render(report)
    print(text, end="")
    try:
        with atomic_path(args.out) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as err:
        return fail(f"cannot write {args.out}: {err.strerror or err}", 2)
    if args.strict and not report.complete:
        return fail(f"{summary(report)} See {args.out}.", 1)
    return 0
