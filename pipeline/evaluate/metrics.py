"""Video-level metrics and the tidy metrics table they are written to.

The paper (§4.1 "Evaluation") scores a detector by the accuracy of each class separately - the real
class and every fake method (it calls this a class's "precision") - then summarises the fake methods
by their mean and the detector by `overall = (real + fake) / 2`, as if the test set were balanced.
We add threshold-free video-level AUC, equal error rate and log-loss under class `all`, and a bootstrap
95 % confidence interval (`ci_low`, `ci_high`) of every accuracy and of the AUC over the test videos.
Each row also names the training `seed` of the evaluated model.
"""
from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import log_loss, roc_auc_score, roc_curve

TIDY_COLUMNS = ["model", "dataset", "condition", "testset", "seed", "class", "metric", "value", "ci_low", "ci_high",
                "pretrained", "arithmetic"]
RUN_COLUMNS = ["model", "dataset", "condition", "testset"]  # an experiment; its runs differ by `seed`
TEXT_COLUMNS = [*RUN_COLUMNS, "class", "metric"]
INTERVAL_COLUMNS = ["ci_low", "ci_high"]
OPTIONAL_COLUMNS = ("testset", "seed", *INTERVAL_COLUMNS, "pretrained", "arithmetic")
REAL, FAKE, OVERALL, ALL = "real", "fake", "overall", "all"
SUMMARY_CLASSES = frozenset({REAL, FAKE, OVERALL, ALL})
CI_PERCENTILES = (2.5, 97.5)  # a 95 % percentile interval
Interval = tuple[float, float]


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


@dataclass(frozen=True)
class Bootstrap:
    """`evaluate.bootstrap`: how many resamples of the test videos the 95 % intervals use, and their seed."""

    resamples: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.resamples < 1:
            raise ValueError(f"bootstrap resamples must be at least 1, got {self.resamples}")


def bootstrap_intervals(predictions: pd.DataFrame, threshold: float = 0.5,
                        params: Bootstrap = Bootstrap()) -> dict[tuple[str, str], Interval]:
    """Percentile 95 % intervals of every accuracy (each class, `fake`, `overall`) and of the AUC.

    Stratified bootstrap: each resample draws, with replacement, as many videos of every class (`real`,
    then each fake method, sorted) as the test set holds, so every resample keeps the test set's make-up
    (and both labels for the AUC). With `rng = np.random.default_rng(params.seed)`, class `k` with `n_k`
    videos draws `rng.integers(0, n_k, size=(params.resamples, n_k))`, in that class order. The metrics
    of each resample are those of `video_metrics`; an interval is NaN where its metric is.
    """
    labels = predictions["label"].to_numpy(dtype=int)
    probabilities = predictions["probability"].to_numpy(dtype=float)
    methods = predictions["method"].to_numpy(dtype=object)
    correct = (probabilities >= threshold).astype(int) == labels
    classes = [REAL] + sorted({str(m) for m in methods[labels == 1]})
    rng = np.random.default_rng(params.seed)
    draws = {}
    for name in classes:
        members = np.flatnonzero((labels == 0) if name == REAL else (labels == 1) & (methods == name))
        if len(members):
            draws[name] = members[rng.integers(0, len(members), size=(params.resamples, len(members)))]
    nan = np.full(params.resamples, math.nan)
    accuracy = {name: correct[d].mean(axis=1) for name, d in draws.items()}
    fakes = [accuracy[name] for name in classes[1:]]
    accuracy.setdefault(REAL, nan)
    accuracy[FAKE] = np.mean(fakes, axis=0) if fakes else nan
    accuracy[OVERALL] = (accuracy[REAL] + accuracy[FAKE]) / 2
    out = {(name, "accuracy"): percentile_interval(values) for name, values in accuracy.items()}
    sample = np.concatenate(list(draws.values()), axis=1) if draws else np.zeros((params.resamples, 0), int)
    out[(ALL, "auc")] = percentile_interval(resampled_auc(labels[sample], probabilities[sample]))
    return out


def resampled_auc(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """The ROC AUC of each row (one resample per row; all rows with the same label counts), from ranks
    (Mann-Whitney U, ties count half): what `roc_auc_score` gives, for all resamples at once."""
    if labels.size == 0:
        return np.full(len(labels), math.nan)
    n_fake = int(labels[0].sum())
    n_real = labels.shape[1] - n_fake
    if n_fake == 0 or n_real == 0:
        return np.full(len(labels), math.nan)
    ranks = rankdata(probabilities, axis=1)
    return ((ranks * labels).sum(axis=1) - n_fake * (n_fake + 1) / 2) / (n_fake * n_real)


def percentile_interval(values: np.ndarray) -> Interval:
    """The 2.5th and 97.5th percentiles of the finite `values` (NaN, NaN when there are none)."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return math.nan, math.nan
    low, high = np.percentile(finite, CI_PERCENTILES)
    return float(low), float(high)


def arithmetic_of(checkpoint: Mapping, inference: str) -> str:
    """How a run computed: "bf16" or "float32" when training (as its checkpoint records) and inference agree,
    else "<training> training, <inference> inference"; training's is "unknown" in older checkpoints."""
    training = checkpoint.get("runtime", {}).get("autocast", "unknown")
    return inference if training == inference else f"{training} training, {inference} inference"


def training_seed(checkpoint: Mapping) -> int:
    """The `seed` column of an evaluated model: its training seed, as `train` records it in the checkpoint
    (`config.train.seed`; 0 when not recorded)."""
    return int(checkpoint.get("config", {}).get("train", {}).get("seed", 0))


def tidy(values: Mapping[tuple[str, str], float], *, model: str, dataset: str, condition: str, testset: str,
         seed: int, pretrained: bool | None, intervals: Mapping[tuple[str, str], Interval] | None = None,
         arithmetic: str = "") -> pd.DataFrame:
    """`{(class, metric): value}` of one run (and the intervals of some of them) -> rows of the tidy table.

    `arithmetic` says how the run computed (`arithmetic_of`): the tables' footnotes name runs that differ."""
    intervals = intervals or {}
    rows = [{"model": model, "dataset": dataset, "condition": condition, "testset": testset, "seed": seed,
             "class": c, "metric": m, "value": v, "ci_low": intervals.get((c, m), (math.nan, math.nan))[0],
             "ci_high": intervals.get((c, m), (math.nan, math.nan))[1], "pretrained": pretrained,
             "arithmetic": arithmetic} for (c, m), v in values.items()]
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


PERCENT_METRICS = ("accuracy", "auc", "eer")  # bounded by 1; tables print them in per cent
UNITS = {"fraction": "fractions", "percent": "per cent"}  # of a tidy file's PERCENT_METRICS values
AUTO_UNIT = "auto"  # the unit decided from the values (`read_tidy`)
KEY_COLUMNS = [*RUN_COLUMNS, "seed", "class", "metric"]  # what one number of the tidy table is of


def read_csv(path: str | os.PathLike, what: str) -> pd.DataFrame:
    """A CSV file as a DataFrame; `ValueError` naming the file (and saying it should be `what`) when it is
    empty or not a readable CSV. A missing file stays `FileNotFoundError`."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{os.fspath(path)}: empty file, not {what}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{os.fspath(path)}: not a readable CSV ({' '.join(str(exc).split())})") from None


def read_tidy(path_or_frame: str | os.PathLike | pd.DataFrame, unit: str = AUTO_UNIT) -> pd.DataFrame:
    """Read a tidy metrics table (a CSV path or a frame) into the `TIDY_COLUMNS` layout, values as fractions.

    Accepted beside what `evaluate` and `collect` write (e.g. numbers typed in from a paper):
    - no `testset` column: each row's test set is its training `dataset` (tested where it was trained);
    - no `seed` column: every row is one run, of seed 0 (the default `train.seeds`);
    - no `ci_low` / `ci_high` columns: no intervals (NaN);
    - no `pretrained` column: not recorded (None); any spelling of true/false (`True`, `1`, `yes`, ...);
    - accuracy, AUC and EER in per cent. The unit of these values (and their intervals) is decided once
      for the whole file: by its optional `unit` column (`fraction` or `percent`, the same on every row),
      else by `unit` (`fraction`, `percent`, or `auto`: per cent when some of these values is above 1 and
      none lies strictly between 0 and 1, fractions otherwise). Per-cent values are divided by 100.

    Then every number must lie in its metric's range in that unit - accuracy, AUC and EER in [0, 1] or
    [0, 100], log-loss (`logloss`, `logloss:<variant>`) finite and >= 0; NaN is "missing" - so a file
    mixing fractions and per cent is refused rather than rescaled. Rows with the same key (`KEY_COLUMNS`)
    must agree: identical ones are dropped with a one-line warning on stderr, others are an error.

    A file that cannot be used raises `ValueError` naming it and the column, row (its CSV line) and key
    that are wrong.
    """
    where = "metrics table" if isinstance(path_or_frame, pd.DataFrame) else os.fspath(path_or_frame)
    df = path_or_frame.copy() if isinstance(path_or_frame, pd.DataFrame) else read_csv(where, "a tidy metrics CSV")
    if "testset" not in df.columns and "dataset" in df.columns:
        df["testset"] = df["dataset"]
    missing = [c for c in TIDY_COLUMNS if c not in df.columns and c not in OPTIONAL_COLUMNS]
    if missing:
        raise ValueError(f"{where}: lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)} (a tidy "
                         f"metrics table has {', '.join(TIDY_COLUMNS)}; {', '.join(OPTIONAL_COLUMNS)} may be "
                         "left out)")
    defaults = {"seed": 0, "ci_low": math.nan, "ci_high": math.nan, "pretrained": None, "arithmetic": ""}
    for col, default in defaults.items():
        if col not in df.columns:
            df[col] = default
    df["arithmetic"] = df["arithmetic"].fillna("").astype(str)
    for col in TEXT_COLUMNS:
        df[col] = df[col].astype(str)
    for col in ("value", *INTERVAL_COLUMNS):
        df[col] = _numeric_values(df[col], where, col)
    df["seed"] = _seeds(df["seed"], where)
    df["pretrained"] = df["pretrained"].map(_as_bool).astype(object)
    unit, why = _file_unit(df, unit, where)
    _check_ranges(df, unit, why, where)
    if unit == "percent":
        bounded = df["metric"].isin(PERCENT_METRICS)
        for col in ("value", *INTERVAL_COLUMNS):
            df.loc[bounded, col] = df.loc[bounded, col] / 100
    return _drop_repeats(df, where)[TIDY_COLUMNS].reset_index(drop=True)


def _row_name(index: object, where: str) -> str:
    """A row as the user finds it: the file line (header = line 1), or the frame's index."""
    if where != "metrics table" and isinstance(index, int | np.integer):
        return f"line {int(index) + 2}"
    return f"row {index}"


def _numeric_values(column: pd.Series, where: str, name: str = "value") -> pd.Series:
    """Column `name` as floats; empty cells and NaN are NaN, any other text is an error."""
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() & column.notna() & (column.astype(str).str.strip().str.lower() != "nan")
    if bad.any():
        first, n = bad.idxmax(), int(bad.sum())
        raise ValueError(f"{where}: column {name}: {n} {'entry is' if n == 1 else 'entries are'} not a number "
                         f"(first at {_row_name(first, where)}: {column[first]!r})")
    return values.astype(float)


def _seeds(column: pd.Series, where: str) -> pd.Series:
    """The `seed` column as integers; an empty, fractional or non-numeric seed is an error."""
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() | (values != values.round())
    if bad.any():
        first = bad.idxmax()
        raise ValueError(f"{where}: column seed, {_row_name(first, where)}: {column[first]!r} is not an integer")
    return values.astype(int)


def _file_unit(df: pd.DataFrame, unit: str, where: str) -> tuple[str, str]:
    """The unit of the file's `PERCENT_METRICS` values (`fraction` or `percent`) and why: its `unit`
    column, else `unit`, else (`auto`) the rule of `read_tidy`."""
    if unit not in (*UNITS, AUTO_UNIT):
        raise ValueError(f"unknown unit {unit!r}; expected one of {', '.join((*UNITS, AUTO_UNIT))}")
    if "unit" in df.columns and len(df):
        given = df["unit"].fillna("").astype(str).str.strip()
        bad = ~given.isin(list(UNITS))
        if bad.any():
            first = bad.idxmax()
            raise ValueError(f"{where}: column unit, {_row_name(first, where)}: {given[first]!r} is not "
                             f"{' or '.join(UNITS)}")
        other = given != given.iloc[0]
        if other.any():
            first = other.idxmax()
            raise ValueError(f"{where}: column unit, {_row_name(first, where)}: {given[first]} differs from "
                             f"{given.iloc[0]} above (one unit for the whole file)")
        if unit not in (AUTO_UNIT, given.iloc[0]):
            raise ValueError(f"{where}: its unit column says {given.iloc[0]}, but {unit} was asked for")
        return given.iloc[0], "from its unit column"
    if unit != AUTO_UNIT:
        return unit, "as asked"
    values = df.loc[df["metric"].isin(PERCENT_METRICS), "value"].dropna()
    if not (values > 1).any():
        return "fraction", "as no value is above 1"
    between = values[(values > 0) & (values < 1)]
    if len(between):
        return "fraction", (f"as {_row_name(between.index[0], where)} holds {between.iloc[0]:g}, between 0 and 1; a "
                            "file in per cent says so in a unit column or with --unit percent")
    return "percent", "as values are above 1 and none between 0 and 1"


def _check_ranges(df: pd.DataFrame, unit: str, why: str, where: str) -> None:
    """Refuse the first number (value or interval bound) outside its metric's range in the file's `unit`
    (`why` it is the file's unit goes into the message)."""
    top = 100.0 if unit == "percent" else 1.0
    bounded = df["metric"].isin(PERCENT_METRICS)
    logloss = (df["metric"] == "logloss") | df["metric"].str.startswith("logloss:")
    bad = {col: df[col].notna() & ((bounded & ~df[col].between(0, top))
                                   | (logloss & ~(np.isfinite(df[col]) & (df[col] >= 0))))
           for col in ("value", *INTERVAL_COLUMNS)}
    any_bad = bad["value"] | bad["ci_low"] | bad["ci_high"]
    if not any_bad.any():
        return
    first = any_bad.idxmax()  # the first such row of the file
    col = next(c for c, b in bad.items() if b[first])
    metric = df.at[first, "metric"]
    what = (f"is outside [0, {top:g}] (the file's unit: {UNITS[unit]}, {why})" if bounded[first]
            else "is not a finite number >= 0")
    raise ValueError(f"{where}: column {col}, {_row_name(first, where)} ({_key_text(df.loc[first])}): "
                     f"{metric} {df.at[first, col]:g} {what}")


def _drop_repeats(df: pd.DataFrame, where: str) -> pd.DataFrame:
    """`df` with one row per key (`KEY_COLUMNS`): a later row of a key is dropped when its numbers and
    `pretrained` equal the first one's (with one warning line for the file), and is an error otherwise."""
    repeated = df.duplicated(KEY_COLUMNS, keep=False)
    if not repeated.any():
        return df
    first_of: dict[tuple, object] = {}
    dropped = []
    for index, row in df[repeated].iterrows():
        first = first_of.setdefault(tuple(row[KEY_COLUMNS]), index)
        if first == index:
            continue
        for col in ("value", *INTERVAL_COLUMNS, "pretrained"):
            a, b = df.at[first, col], row[col]
            if not (a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))):
                raise ValueError(f"{where}: {_row_name(index, where)} repeats {_row_name(first, where)} "
                                 f"({_key_text(row)}) with another {col}: {b} against {a} (one number per key: "
                                 "remove one of the rows)")
        dropped.append((index, first))
    (index, first), n = dropped[0], len(dropped)
    print(f"warning: {where}: {n} row{'s' if n > 1 else ''} repeating an earlier identical row dropped (first: "
          f"{_row_name(index, where)} = {_row_name(first, where)}, {_key_text(df.loc[index])})", file=sys.stderr)
    return df.drop(index=[i for i, _ in dropped])


def _key_text(row: pd.Series) -> str:
    return " ".join(f"{c}={row[c]}" for c in KEY_COLUMNS)


def complete_accuracy(df: pd.DataFrame) -> pd.DataFrame:
    """Add the `fake` and `overall` accuracy rows a run (experiment and seed) lacks, from its per-class
    accuracies (without intervals).

    Lets tables be built from per-class numbers alone (e.g. those published in the paper).
    """
    acc = df[df["metric"] == "accuracy"]
    extra = []
    keys = [*RUN_COLUMNS, "seed"]
    for key, run in acc.groupby(keys, sort=False):
        per_class = dict(zip(run["class"], run["value"], strict=True))
        have = set(per_class)
        real = per_class.get(REAL, math.nan)
        derived = summarize_accuracy(real, {k: v for k, v in per_class.items() if k not in SUMMARY_CLASSES})
        if FAKE in have:
            derived[OVERALL] = (real + per_class[FAKE]) / 2
        pretrained = _combined_pretrained(run["pretrained"])
        for name in (FAKE, OVERALL):
            if name not in have:
                extra.append({**dict(zip(keys, key, strict=True)), "class": name, "metric": "accuracy",
                              "value": derived[name], "ci_low": math.nan, "ci_high": math.nan,
                              "pretrained": pretrained, "arithmetic": run["arithmetic"].iloc[0]})
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
