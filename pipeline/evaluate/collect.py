"""`collect`: concatenate the tidy metric files of many runs into one table."""
from __future__ import annotations

import argparse

import pandas as pd

from pipeline.evaluate.cliutils import write_csv
from pipeline.evaluate.metrics import TIDY_COLUMNS, read_tidy


def collect(paths: list[str]) -> pd.DataFrame:
    """One tidy table from many (files are checked for the tidy columns)."""
    frames = [read_tidy(p) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TIDY_COLUMNS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="combined tidy metrics CSV")
    parser.add_argument("metrics", nargs="*", help="tidy metrics CSVs of single runs")


def run(args: argparse.Namespace) -> int:
    df = collect(args.metrics)
    write_csv(df, args.out)
    print(f"{len(df)} metric rows from {len(args.metrics)} files -> {args.out}")
    return 0
