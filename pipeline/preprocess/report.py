"""`report`: merge the per-shard problem CSVs of a dataset into one sorted report."""
from __future__ import annotations

import argparse
import logging

from pipeline.preprocess.problems import count_by_kind, merge_reports, write_problems
from pipeline.preprocess.stage import guarded

log = logging.getLogger("pipeline.preprocess")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="merged report CSV")
    parser.add_argument("reports", nargs="*", help="per-shard report CSVs (video,stage,reason)")


def run(args: argparse.Namespace) -> int:
    def main() -> None:
        problems = merge_reports(args.reports)
        write_problems(args.out, problems)
        log.info("%d problems in %d reports", len(problems), len(args.reports))
        for (stage, kind), n in sorted(count_by_kind(problems).items()):
            log.info("  %s / %s: %d", stage, kind, n)

    return guarded(main)
