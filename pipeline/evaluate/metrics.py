"""Video-level metrics and the tidy metrics table they are written to.

The paper (§4.1 "Evaluation") scores a detector by the accuracy of each class separately - the real
class and every fake method (it calls this a class's "precision") - then summarises the fake methods
by their mean and the detector by `overall = (real + fake) / 2`, as if the test set were balanced.
We add threshold-free video-level AUC, equal error rate and log-loss under class `all`.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score, roc_curve

TIDY_COLUMNS = ["model", "dataset", "condition", "testset", "class", "metric", "value", "pretrained"]
RUN_COLUMNS = ["model", "dataset", "condition", "testset"]
REAL, FAKE, OVERALL, ALL = "real", "fake", "overall", "all"
SUMMARY_CLASSES = frozenset({REAL, FAKE, OVERALL, ALL})


def class_accuracy(labels: np.ndarray, probabilities: np.ndarray, methods: np.ndarray,
                   threshold: float = 0.5) -> dict[str, float]:
    """Accuracy of every class (`real` and each fake method) at `threshold` (p >= threshold means fake)."""
    labels, methods = np.asarray(labels, dtype=int), np.asarray(methods, dtype=object)
    correct = (np.asarray(probabilities, dtype=float) >= threshold).astype(int) == labels
    classes = [REAL] + sorted({str(m) for m in methods[labels == 1]})
    out = {}
    for name in classes:
        mask = (labels == 0) if name == REAL else (labels == 1) & (methods == name)
        out[name] = float(correct[mask].mean()) if mask.any() else math.nan
    return out


def summarize_accuracy(real: float, methods: Mapping[str, float]) -> dict[str, float]:
    """`fake` = mean accuracy over the fake methods, `overall` = (real + fake) / 2 (NaN where a side is missing).

    A data set whose only fake method is called `fake` (DFDC) gets its own accuracy back as `fake`.
    """
    values = [v for v in methods.values() if not math.isnan(v)]
    fake = float(np.mean(values)) if values else math.nan
    return {FAKE: fake, OVERALL: (real + fake) / 2}


def equal_error_rate(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The error rate where the false-positive and false-negative rates are equal (ROC interpolated linearly)."""
    fpr, tpr, _ = roc_curve(labels, probabilities, drop_intermediate=False)
    fnr = 1.0 - tpr
    i = int(np.argmax(fnr <= fpr))  # fpr rises and fnr falls along the curve; first point past the crossing
    if i == 0:
        return float(fpr[0])
    d0, d1 = fnr[i - 1] - fpr[i - 1], fnr[i] - fpr[i]
    t = d0 / (d0 - d1) if d0 != d1 else 0.0
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def ranking_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """AUC, EER and log-loss over all videos; NaN when the set does not hold both classes."""
    labels, probabilities = np.asarray(labels, dtype=int), np.asarray(probabilities, dtype=float)
    if len(np.unique(labels)) < 2:
        return {"auc": math.nan, "eer": math.nan, "logloss": math.nan}
    return {
        "auc": float(roc_auc_score(labels, probabilities)),
        "eer": equal_error_rate(labels, probabilities),
        "logloss": float(log_loss(labels, probabilities, labels=[0, 1])),
    }


def video_metrics(predictions: pd.DataFrame, threshold: float = 0.5) -> dict[tuple[str, str], float]:
    """All metrics of one prediction table (`label, method, probability`) as `{(class, metric): value}`."""
    acc = class_accuracy(predictions["label"].to_numpy(), predictions["probability"].to_numpy(),
                         predictions["method"].to_numpy(), threshold)
    acc.update(summarize_accuracy(acc[REAL], {k: v for k, v in acc.items() if k != REAL}))
    out = {(name, "accuracy"): value for name, value in acc.items()}
    ranking = ranking_metrics(predictions["label"].to_numpy(), predictions["probability"].to_numpy())
    out.update({(ALL, name): value for name, value in ranking.items()})
    return out


def tidy(values: Mapping[tuple[str, str], float], *, model: str, dataset: str, condition: str, testset: str,
         pretrained: bool | None) -> pd.DataFrame:
    """`{(class, metric): value}` of one run -> rows of the tidy metrics table."""
    rows = [{"model": model, "dataset": dataset, "condition": condition, "testset": testset, "class": c,
             "metric": m, "value": v, "pretrained": pretrained} for (c, m), v in values.items()]
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


PERCENT_METRICS = ("accuracy", "auc", "eer")  # bounded by 1; tables print them in per cent


def read_csv(path: str | os.PathLike, what: str) -> pd.DataFrame:
    """A CSV file as a DataFrame; `ValueError` naming the file (and saying it should be `what`) when it is
    empty or not a readable CSV. A missing file stays `FileNotFoundError`."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{os.fspath(path)}: empty file, not {what}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{os.fspath(path)}: not a readable CSV ({' '.join(str(exc).split())})") from None


def read_tidy(path_or_frame: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a tidy metrics table (a CSV path or a frame) into the `TIDY_COLUMNS` layout.

    Accepted beside what `evaluate` and `collect` write (e.g. numbers typed in from a paper):
    - no `testset` column: each row's test set is its training `dataset` (tested where it was trained);
    - no `pretrained` column: not recorded (None); any spelling of true/false (`True`, `1`, `yes`, ...);
    - per-cent values: a fraction never exceeds 1, so when any `accuracy` value of the file is above 1
      every `accuracy` value of the file is read as per cent and divided by 100 (0 and 1.43 included).
      `auc` and `eer` are decided the same way, each on its own values; other metrics (log-loss) are kept.

    A file that cannot be used raises `ValueError` naming it and the column that is missing or wrong
    (a non-numeric `value`, a per-cent value above 100, a negative accuracy).
    """
    where = "metrics table" if isinstance(path_or_frame, pd.DataFrame) else os.fspath(path_or_frame)
    df = path_or_frame.copy() if isinstance(path_or_frame, pd.DataFrame) else read_csv(where, "a tidy metrics CSV")
    if "testset" not in df.columns and "dataset" in df.columns:
        df["testset"] = df["dataset"]
    missing = [c for c in TIDY_COLUMNS if c not in df.columns and c not in ("testset", "pretrained")]
    if missing:
        raise ValueError(f"{where}: lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)} (a tidy "
                         f"metrics table has {', '.join(TIDY_COLUMNS)}; testset and pretrained may be left out)")
    if "pretrained" not in df.columns:
        df["pretrained"] = None
    for col in TIDY_COLUMNS[:6]:
        df[col] = df[col].astype(str)
    df["value"] = _numeric_values(df["value"], where)
    df["pretrained"] = df["pretrained"].map(_as_bool).astype(object)
    for metric in PERCENT_METRICS:
        df.loc[df["metric"] == metric, "value"] = _as_fraction(df.loc[df["metric"] == metric, "value"], metric, where)
    return df[TIDY_COLUMNS].reset_index(drop=True)


def _row_name(index: object, where: str) -> str:
    """A row as the user finds it: the file line (header = line 1), or the frame's index."""
    if where != "metrics table" and isinstance(index, int | np.integer):
        return f"line {int(index) + 2}"
    return f"row {index}"


def _numeric_values(column: pd.Series, where: str) -> pd.Series:
    """The `value` column as floats; empty cells and NaN are NaN, any other text is an error."""
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() & column.notna() & (column.astype(str).str.strip().str.lower() != "nan")
    if bad.any():
        first, n = bad.idxmax(), int(bad.sum())
        raise ValueError(f"{where}: column value: {n} {'entry is' if n == 1 else 'entries are'} not a number "
                         f"(first at {_row_name(first, where)}: {column[first]!r})")
    return values.astype(float)


def _as_fraction(values: pd.Series, metric: str, where: str) -> pd.Series:
    """`values` of a bounded metric as fractions: all divided by 100 when any of them is above 1."""
    known = values.dropna()
    if (known < 0).any():
        first = known.index[(known < 0).argmax()]
        raise ValueError(f"{where}: column value, {_row_name(first, where)}: {metric} {known[first]:g} is negative")
    if not (known > 1).any():
        return values
    if (known > 100).any():
        first = known.index[(known > 100).argmax()]
        raise ValueError(f"{where}: column value, {_row_name(first, where)}: {metric} {known[first]:g} is above 100 "
                         f"(values above 1 make the file's {metric} per cent)")
    return values / 100.0


def complete_accuracy(df: pd.DataFrame) -> pd.DataFrame:
    """Add the `fake` and `overall` accuracy rows a run lacks, from its per-class accuracies.

    Lets tables be built from per-class numbers alone (e.g. those published in the paper).
    """
    acc = df[df["metric"] == "accuracy"]
    extra = []
    for key, run in acc.groupby(RUN_COLUMNS, sort=False):
        per_class = dict(zip(run["class"], run["value"], strict=True))
        have = set(per_class)
        real = per_class.get(REAL, math.nan)
        derived = summarize_accuracy(real, {k: v for k, v in per_class.items() if k not in SUMMARY_CLASSES})
        if FAKE in have:
            derived[OVERALL] = (real + per_class[FAKE]) / 2
        pretrained = _combined_pretrained(run["pretrained"])
        for name in (FAKE, OVERALL):
            if name not in have:
                extra.append({**dict(zip(RUN_COLUMNS, key, strict=True)), "class": name, "metric": "accuracy",
                              "value": derived[name], "pretrained": pretrained})
    if not extra:
        return df
    return pd.concat([df, pd.DataFrame(extra, columns=TIDY_COLUMNS)], ignore_index=True)


def _combined_pretrained(values: pd.Series) -> bool | None:
    known = [v for v in values if v is not None]
    return None if not known else all(known)


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    text = str(value).strip().lower()
    if text in {"true", "1", "1.0", "yes"}:
        return True
    if text in {"false", "0", "0.0", "no"}:
        return False
    return None
