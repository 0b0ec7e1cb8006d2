"""`robustness report`: the sweep's per-level AUC table (CSV), the model x perturbation table and the figure."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from pipeline.evaluate.cliutils import write_csv
from pipeline.evaluate.metrics import ALL, read_csv
from pipeline.figures.robustness import plot_robustness
from pipeline.io import atomic_path
from pipeline.robustness.sweep import METRIC_COLUMNS
from pipeline.tables.render import to_csv, to_latex, to_markdown
from pipeline.tables.robustness import LEVEL_COLUMNS, robustness_table


def read_levels(paths: list[str]) -> pd.DataFrame:
    """AUC and video count per model, perturbation and level (`LEVEL_COLUMNS`) from sweep metric files."""
    frames = []
    for path in paths:
        df = read_csv(path, "a robustness metrics CSV")
        missing = [c for c in METRIC_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{path}: lacks column(s) {', '.join(missing)} (a sweep's metrics file has "
                             f"{', '.join(METRIC_COLUMNS)})")
        frames.append(df[df["class"] == ALL])
    rows = pd.concat(frames, ignore_index=True)
    keys = ["model", "perturbation", "level", "parameter"]  # parameter: NaN at level 0, which merge matches

    def metric(name: str) -> pd.DataFrame:
        return rows.loc[rows["metric"] == name, [*keys, "value"]].rename(columns={"value": name})

    levels = metric("auc").merge(metric("videos"), on=keys, how="left").astype({"level": int, "videos": int})
    return levels[LEVEL_COLUMNS].sort_values(["model", "perturbation", "level"]).reset_index(drop=True)


def write_report(paths: list[str], levels_csv: str | os.PathLike, table_prefix: str | os.PathLike,
                 figure: str | os.PathLike) -> pd.DataFrame:
    """Write the per-level CSV, `<table_prefix>.md/.csv/.tex` and the figure; returns the per-level table."""
    levels = read_levels(paths)
    table = robustness_table(levels)
    for suffix, render in ((".md", to_markdown), (".csv", to_csv), (".tex", to_latex)):
        with atomic_path(Path(f"{table_prefix}{suffix}")) as tmp:
            tmp.write_text(render(table), encoding="utf-8")
    write_csv(levels, levels_csv)
    plot_robustness(levels, figure)
    return levels
