"""Look-ups into a tidy metrics table, with missing entries as NaN instead of errors."""
from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd

from pipeline.evaluate.metrics import AUTO_UNIT, INTERVAL_COLUMNS, RUN_COLUMNS, complete_accuracy, read_tidy
from pipeline.tables.names import model_name, model_order

FIELDS = ("value", *INTERVAL_COLUMNS)  # what a look-up returns: the value or a bound of its 95 % interval


class Metrics:
    """A tidy metrics table indexed by (model, dataset, condition, testset, class, metric) and seed.

    Built from a CSV path or a frame through `read_tidy`: a missing `testset` column defaults to `dataset`,
    a missing `seed` to 0, values in per cent (the file's `unit` column, else `unit`) become fractions, and a
    file without the needed columns, with a number outside its metric's range or with two numbers for one
    key raises `ValueError` naming it and the culprit.

    A look-up returns the `value` (or, in a `select`ed view, a bound of its interval) of one seed, or with
    no seed selected the mean over the seeds that have it. Models, rows and notes do not depend on the seed.
    """

    def __init__(self, df: pd.DataFrame | str, unit: str = AUTO_UNIT):
        self.df = complete_accuracy(read_tidy(df, unit))
        self.seed: int | None = None
        self.field = "value"
        keys = zip(*(self.df[c] for c in [*RUN_COLUMNS, "class", "metric"]), strict=True)
        self._values: dict[tuple, dict[int, tuple[float, ...]]] = {}
        for key, seed, *values in zip(keys, self.df["seed"], *(self.df[f] for f in FIELDS), strict=True):
            self._values.setdefault(key, {})[int(seed)] = tuple(values)  # one row per key (`read_tidy`)

    @property
    def seeds(self) -> list[int]:
        """The training seeds in the table, ascending."""
        return sorted({int(s) for s in self.df["seed"]})

    def select(self, seed: int | None, field: str = "value") -> Metrics:
        """A view whose look-ups return `field` (`value`, `ci_low` or `ci_high`) of `seed` (None: the mean
        over seeds)."""
        if field not in FIELDS:
            raise ValueError(f"unknown field {field!r}; expected one of {', '.join(FIELDS)}")
        view = copy.copy(self)
        view.seed, view.field = seed, field
        return view

    def get(self, model: str, dataset: str, condition: str, testset: str, cls: str,
            metric: str = "accuracy") -> float:
        per_seed = self._values.get((model, dataset, condition, testset, cls, metric), {})
        col = FIELDS.index(self.field)
        if self.seed is not None:
            return float(per_seed[self.seed][col]) if self.seed in per_seed else math.nan
        known = [v[col] for v in per_seed.values() if not math.isnan(v[col])]
        return float(np.mean(known)) if known else math.nan

    def percent(self, model: str, dataset: str, condition: str, testset: str, cls: str) -> float:
        """An accuracy in percent, as the paper prints it."""
        return 100.0 * self.get(model, dataset, condition, testset, cls, "accuracy")

    def rows(self, dataset: str | tuple[str, ...], testset: str | tuple[str, ...],
             conditions: list[str] | None = None) -> pd.DataFrame:
        """Rows of one or several training sets and test sets (and conditions)."""
        sel = self.df["dataset"].isin(_names(dataset)) & self.df["testset"].isin(_names(testset))
        if conditions is not None:
            sel &= self.df["condition"].isin(conditions)
        return self.df[sel]

    def models(self, dataset: str | tuple[str, ...], testset: str | tuple[str, ...],
               conditions: list[str] | None = None) -> list[str]:
        """Models with any entry for these training sets, test sets and conditions, in the paper's order."""
        return model_order(set(self.rows(dataset, testset, conditions)["model"]))

    def runs_note(self, dataset: str | tuple[str, ...], testset: str | tuple[str, ...],
                  conditions: list[str] | None = None) -> str:
        """Footnote on how the table's runs were made: which models did not start from pretrained weights,
        and the arithmetic they computed in (named per kind when the runs mixed bf16 and float32)."""
        rows = self.rows(dataset, testset, conditions)
        scratch, unknown = [], []
        for model in model_order(set(rows["model"])):
            flags = list(rows.loc[rows["model"] == model, "pretrained"])
            if any(f is False for f in flags):
                scratch.append(model_name(model))
            elif all(f is None for f in flags):
                unknown.append(model_name(model))
        parts = []
        if scratch:
            parts.append(f"Trained from random initialisation (pretrained=false): {', '.join(scratch)}.")
        if unknown:
            parts.append(f"Initialisation not recorded: {', '.join(unknown)}.")
        if not parts and len(rows):
            parts.append("All models started from pretrained weights (pretrained=true).")
        kinds = {a: model_order(set(rows.loc[rows["arithmetic"] == a, "model"]))
                 for a in sorted(set(rows["arithmetic"]) - {""})}
        if len(kinds) == 1:
            parts.append(f"Arithmetic: {next(iter(kinds))}.")
        elif kinds:
            parts.append("Runs mixed arithmetic: " + "; ".join(
                f"{a} ({', '.join(map(model_name, models))})" for a, models in kinds.items()) + ".")
        return " ".join(parts) or "No results yet."


def _names(name: str | tuple[str, ...]) -> tuple[str, ...]:
    return (name,) if isinstance(name, str) else name
