"""`tables`: every table of the paper (and a few beyond it) from one tidy metrics CSV."""
from __future__ import annotations

import argparse

from pipeline.tables.crossdata import table2, table_celebdf, table_dfdc
from pipeline.tables.generalization import table1, table3, table_b6
from pipeline.tables.lookup import Metrics
from pipeline.tables.perturbation import table4
from pipeline.tables.render import Table, write_tables


def build_tables(metrics: Metrics) -> list[Table]:
    return [table1(metrics), table_b6(metrics), table2(metrics), table3(metrics), table4(metrics),
            table_celebdf(metrics), table_dfdc(metrics)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics", required=True, help="tidy metrics CSV (from `collect`, or published numbers)")
    parser.add_argument("--out", required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    tables = build_tables(Metrics(args.metrics))
    write_tables(tables, args.out)
    print(f"{len(tables)} tables -> {args.out}")
    return 0
