"""Tables over training seeds: every table is built once per seed, and each cell is then summarised.

A cell's value is the mean over the seeds that have it, and its `std` the sample standard deviation
(n − 1) where at least two seeds have it. Derived cells (drops, group averages) are computed within each
seed first, so their spread is that of the derived number. A cell's bootstrap 95 % interval (over test
videos, `pipeline.evaluate.metrics.bootstrap_intervals`) is the mean over seeds of each seed's bounds:
the test-set uncertainty of one run, beside the seed-to-seed spread of `std`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from pipeline.tables.lookup import Metrics
from pipeline.tables.render import Table

Builder = Callable[[Metrics], Table]


def build_over_seeds(build: Builder, metrics: Metrics) -> Table:
    """`build` for every seed of `metrics` (once, on the whole table, when it has none), summarised cell by cell."""
    seeds = metrics.seeds or [None]
    runs = [build(metrics.select(seed)) for seed in seeds]
    lows = [build(metrics.select(seed, "ci_low")) for seed in seeds]
    highs = [build(metrics.select(seed, "ci_high")) for seed in seeds]
    first = runs[0]
    index = _union_index([t.frame.index for t in runs])
    values = _stack(runs, index)
    mean, std = _mean(values), _std(values)
    derived = [first.frame.columns.get_loc(c) for c in first.derived]
    low, high = (_mean(_stack(bounds, index)) for bounds in (lows, highs))
    low[:, derived] = high[:, derived] = np.nan  # bounds of a difference or average are no interval of it
    notes = list(first.notes)
    if len(seeds) > 1:
        notes.append(f"Mean ± std over the training seeds {', '.join(map(str, seeds))} (sample std, n − 1, where "
                     "two or more seeds have the cell); the CSV's 95 % intervals are means of each seed's bounds.")
    has_intervals = not (np.isnan(low).all() and np.isnan(high).all())
    return replace(first, frame=_frame(mean, index, first), notes=notes,
                   std=_frame(std, index, first) if len(seeds) > 1 else None,
                   ci_low=_frame(low, index, first) if has_intervals else None,
                   ci_high=_frame(high, index, first) if has_intervals else None)


def _union_index(indexes: list[pd.Index]) -> pd.Index:
    """The row labels of every seed's table, in order of first appearance."""
    labels = list(dict.fromkeys(label for index in indexes for label in index))
    names = list(indexes[0].names)
    if len(names) > 1:
        return pd.MultiIndex.from_tuples(labels, names=names) if labels else indexes[0][:0]
    return pd.Index(labels, name=names[0], dtype=object)


def _stack(tables: list[Table], index: pd.Index) -> np.ndarray:
    """(seeds, rows, columns) of cell values; NaN where a seed's table lacks the row or the cell."""
    return np.stack([t.frame.reindex(index).to_numpy(dtype=float) for t in tables])


def _mean(values: np.ndarray) -> np.ndarray:
    n = (~np.isnan(values)).sum(axis=0)
    total = np.nansum(values, axis=0)
    return np.divide(total, n, out=np.full(total.shape, np.nan), where=n > 0)


def _std(values: np.ndarray) -> np.ndarray:
    """Sample standard deviation over seeds; NaN where fewer than two seeds have the cell."""
    n = (~np.isnan(values)).sum(axis=0)
    squares = np.nansum((values - _mean(values)) ** 2, axis=0)
    return np.sqrt(np.divide(squares, n - 1, out=np.full(squares.shape, np.nan), where=n > 1))


def _frame(values: np.ndarray, index: pd.Index, like: Table) -> pd.DataFrame:
    return pd.DataFrame(values, index=index, columns=like.frame.columns, dtype=float)
