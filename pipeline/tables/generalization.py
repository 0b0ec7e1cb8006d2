"""FF++ generalization to unseen methods (§4.2): Table 1, Table B.6 and Table 3.

All numbers are accuracies in percent on the FF++ test set. `drop` of a leave-one-out run is
overall(wo_X) - overall(all) of the same model; Table 1 and the "mean drop" rows of Table B.6
average it over the leave-one-out runs present.
"""
from __future__ import annotations

import math

import numpy as np

from pipeline.tables.lookup import Metrics
from pipeline.tables.names import FFPP, GROUPS_ARCHITECTURE, GROUPS_TASK, LEAVE_ONE_OUT, METHODS, model_name
from pipeline.tables.render import Table, frame_from_rows

ALL = "all"
B6_CONDITIONS = [ALL, *LEAVE_ONE_OUT]
SHORT = list(METHODS.values())
TABLE1_COLUMNS = [*SHORT, "overall", *(f"{s} left out" for s in SHORT), "mean drop"]
B6_COLUMNS = [*SHORT, "Real", "Fake", "avg", "drop"]


def drop(metrics: Metrics, model: str, condition: str) -> float:
    """How much the overall accuracy of a leave-out run fell below the all-methods run (negative = worse)."""
    return metrics.percent(model, FFPP, condition, FFPP, "overall") - metrics.percent(model, FFPP, ALL, FFPP, "overall")


def mean_drop(metrics: Metrics, model: str) -> float:
    drops = [d for d in (drop(metrics, model, c) for c in LEAVE_ONE_OUT) if not math.isnan(d)]
    return float(np.mean(drops)) if drops else math.nan


def table1(metrics: Metrics) -> Table:
    """Left: per-method accuracy with all methods in training; right: each left-out method's accuracy."""
    conditions = [ALL, *LEAVE_ONE_OUT]
    rows = {}
    for model in metrics.models(FFPP, FFPP, conditions):
        row = {short: metrics.percent(model, FFPP, ALL, FFPP, method) for method, short in METHODS.items()}
        row["overall"] = metrics.percent(model, FFPP, ALL, FFPP, "overall")
        for condition, method in LEAVE_ONE_OUT.items():
            row[f"{METHODS[method]} left out"] = metrics.percent(model, FFPP, condition, FFPP, method)
        row["mean drop"] = mean_drop(metrics, model)
        rows[model_name(model)] = row
    return Table(
        "table1",
        "Table 1. FF++ accuracy (%): per method with all methods in training (left) and of the method "
        "left out of training (right); mean drop = mean of overall(wo_X) - overall(all).",
        frame_from_rows(rows, "model", TABLE1_COLUMNS), [metrics.runs_note(FFPP, FFPP, conditions)],
        derived=("mean drop",))


def table_b6(metrics: Metrics) -> Table:
    """Every class of every leave-one-out run, with Fake, avg (= overall) and drop, and a mean drop per model."""
    rows = {}
    for model in metrics.models(FFPP, FFPP, B6_CONDITIONS):
        name = model_name(model)
        for condition in B6_CONDITIONS:
            row = {short: metrics.percent(model, FFPP, condition, FFPP, m) for m, short in METHODS.items()}
            row["Real"] = metrics.percent(model, FFPP, condition, FFPP, "real")
            row["Fake"] = metrics.percent(model, FFPP, condition, FFPP, "fake")
            row["avg"] = metrics.percent(model, FFPP, condition, FFPP, "overall")
            row["drop"] = math.nan if condition == ALL else drop(metrics, model, condition)
            rows[(name, condition)] = row
        rows[(name, "mean drop")] = {"drop": mean_drop(metrics, model)}
    return Table(
        "table_b6",
        "Table B.6. FF++ accuracy (%) per class for the all-methods run and each run with one method left "
        "out of training and validation; avg = (Real + Fake) / 2, drop = avg - avg of the all-methods run.",
        frame_from_rows(rows, ["model", "condition"], B6_COLUMNS), [metrics.runs_note(FFPP, FFPP, B6_CONDITIONS)],
        derived=("drop",))


def table3(metrics: Metrics) -> Table:
    """Methods left out as a group: each method's accuracy from the run that left its group out, and group
    averages. Top half (architecture): F2F, FS from wo_MM, DF, NT, FShi from wo_decoder; bottom half (task):
    DF, FS, FShi from wo_swap, F2F, NT from wo_reenact."""
    halves = {"architecture": GROUPS_ARCHITECTURE, "task": GROUPS_TASK}
    conditions = [g.condition for groups in halves.values() for g in groups]
    rows = {}
    for half, groups in halves.items():
        for model in metrics.models(FFPP, FFPP, [g.condition for g in groups]):
            per_method = {m: metrics.percent(model, FFPP, g.condition, FFPP, m) for g in groups for m in g.methods}
            row = {short: per_method.get(method, math.nan) for method, short in METHODS.items()}
            for g in groups:
                values = [per_method[m] for m in g.methods if not math.isnan(per_method[m])]
                row[g.label] = float(np.mean(values)) if values else math.nan
            rows[(half, model_name(model))] = row
    averages = tuple(g.label for groups in halves.values() for g in groups)
    columns = [*SHORT, *averages]
    return Table(
        "table3",
        "Table 3. FF++ accuracy (%) of methods left out of training as a group. Architecture: F2F, FS from the "
        "run without morphable-mask methods (wo_MM), DF, NT, FShi from the run without decoder-based methods "
        "(wo_decoder). Task: DF, FS, FShi from the run without swapping methods (wo_swap), F2F, NT from the run "
        "without reenactment methods (wo_reenact). MM, learned, swap and reenact average the left-out methods.",
        frame_from_rows(rows, ["left out", "model"], columns), [metrics.runs_note(FFPP, FFPP, conditions)],
        derived=averages)
