"""Where a workflow run's time went: job seconds per rule, from the rules' benchmark TSVs.

    python bench/demo_budget.py [results/benchmarks]

Each rule's `benchmark:` file holds the wall-clock seconds (`s`) of one job. Summed per rule they
say which stages to shrink; with 2 jobs at a time the workflow's wall time is about half the total.
(Under the preload server, CPU and memory columns miss the forked command; `s` stays right.)
"""
from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path


def job_seconds(root: Path) -> dict[str, list[float]]:
    """Rule name -> the `s` column of each of its benchmark files below `root`."""
    per_rule: dict[str, list[float]] = defaultdict(list)
    for path in sorted(root.rglob("*.tsv")):
        with path.open() as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if rows:
            per_rule[path.relative_to(root).parts[0]].append(float(rows[-1]["s"]))
    return per_rule


def budget_table(per_rule: dict[str, list[float]]) -> str:
    """A Markdown table: jobs, total, mean and max seconds per rule, largest total first."""
    lines = ["| rule | jobs | total s | mean s | max s |", "|:--|--:|--:|--:|--:|"]
    for rule, secs in sorted(per_rule.items(), key=lambda kv: -sum(kv[1])):
        lines.append(f"| {rule} | {len(secs)} | {sum(secs):.0f} | {sum(secs) / len(secs):.1f} | {max(secs):.1f} |")
    total = [s for secs in per_rule.values() for s in secs]
    lines.append(f"| **all** | {len(total)} | {sum(total):.0f} | {sum(total) / max(1, len(total)):.1f} | "
                 f"{max(total, default=0):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmarks", type=Path, nargs="?", default=Path("results/benchmarks"))
    args = parser.parse_args()
    print(budget_table(job_seconds(args.benchmarks)))


if __name__ == "__main__":
    main()
