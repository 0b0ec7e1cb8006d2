"""Look-ups into a tidy metrics table, with missing entries as NaN instead of errors."""
from __future__ import annotations

import math

import pandas as pd

from pipeline.evaluate.metrics import RUN_COLUMNS, complete_accuracy, read_tidy
from pipeline.tables.names import model_name, model_order


class Metrics:
    """A tidy metrics table indexed by (model, dataset, condition, testset, class, metric).

    Built from a CSV path or a frame through `read_tidy`: a missing `testset` column defaults to `dataset`,
    per-cent accuracies become fractions, and a file without the needed columns raises `ValueError`
    naming it and them.
    """

    def __init__(self, df: pd.DataFrame | str):
        self.df = complete_accuracy(read_tidy(df))
        keys = zip(*(self.df[c] for c in [*RUN_COLUMNS, "class", "metric"]), strict=True)
        self._values = dict(zip(keys, self.df["value"], strict=True))  # a repeated entry: the last one wins

    def get(self, model: str, dataset: str, condition: str, testset: str, cls: str,
            metric: str = "accuracy") -> float:
        return float(self._values.get((model, dataset, condition, testset, cls, metric), math.nan))

    def percent(self, model: str, dataset: str, condition: str, testset: str, cls: str) -> float:
        """An accuracy in percent, as the paper prints it."""
        return 100.0 * self.get(model, dataset, condition, testset, cls, "accuracy")

    def rows(self, dataset: str, testset: str, conditions: list[str] | None = None) -> pd.DataFrame:
        sel = (self.df["dataset"] == dataset) & (self.df["testset"] == testset)
        if conditions is not None:
            sel &= self.df["condition"].isin(conditions)
        return self.df[sel]

    def models(self, dataset: str, testset: str, conditions: list[str] | None = None) -> list[str]:
        """Models with any entry for this training set, test set and conditions, in the paper's order."""
        return model_order(set(self.rows(dataset, testset, conditions)["model"]))

    def pretrained_note(self, dataset: str, testset: str, conditions: list[str] | None = None) -> str:
        """Footnote saying which of the table's models did not start from pretrained weights."""
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
        return " ".join(parts) or "No results yet."
