"""`families`: which detector families generalise? In-domain AUC against mean left-out accuracy (Table 1).

One point per detector: x = its video-level AUC on the FF++ test set when trained on all methods, y = the mean
over the five leave-one-out runs of the left-out method's accuracy (Table 1, right), coloured by the family its
card declares (image, sequence, 3D CNN, video transformer). Detectors with a high x but a low y learn the
methods they saw and little else. Built from the tidy metrics alone (means over seeds).

    python -m pipeline families --metrics results/metrics.csv --out results/figures/families.png
"""
from __future__ import annotations

import argparse
import math

import pandas as pd

from pipeline.io import atomic_path
from pipeline.models.card import FAMILIES
from pipeline.tables.lookup import Metrics
from pipeline.tables.names import FFPP, LEAVE_ONE_OUT, cards, model_name, use_plugins

ALL = "all"
COLORS = dict(zip(FAMILIES, ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")))


def family_points(metrics: Metrics) -> pd.DataFrame:
    """Per detector with an FF++ `all` run: family, in-domain AUC (%) and mean left-out accuracy (%)."""
    known = cards()
    rows = []
    for model in metrics.models(FFPP, FFPP, [ALL]):
        left_out = [metrics.percent(model, FFPP, c, FFPP, method) for c, method in LEAVE_ONE_OUT.items()]
        left_out = [v for v in left_out if not math.isnan(v)]
        rows.append({"model": model, "name": model_name(model),
                     "family": known[model].family if model in known else "other",
                     "auc": 100.0 * metrics.get(model, FFPP, ALL, FFPP, "all", "auc"),
                     "left_out": sum(left_out) / len(left_out) if left_out else math.nan})
    return pd.DataFrame(rows, columns=["model", "name", "family", "auc", "left_out"])


def plot_families(points: pd.DataFrame, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
    for family in [*FAMILIES, "other"]:
        group = points[points["family"] == family]
        if len(group):
            ax.scatter(group["auc"], group["left_out"], s=60, color=COLORS.get(family, "grey"), label=family,
                       edgecolor="black", linewidth=0.5)
    for _, row in points.iterrows():
        ax.annotate(row["name"], (row["auc"], row["left_out"]), textcoords="offset points", xytext=(5, 4),
                    fontsize=8)
    ax.set(xlabel="in-domain video-level AUC (%), trained on all FF++ methods",
           ylabel="accuracy (%) on the method left out, mean of 5",
           title="Generalisation to unseen manipulations, by detector family")
    ax.grid(alpha=0.3)
    if len(points):
        ax.legend(title="family", frameon=False, loc="best")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics", required=True, help="tidy metrics CSV (from `collect`)")
    parser.add_argument("--out", required=True, help="PNG; the points also go to the same name with .csv")
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                        help="a detector plugin whose family and name the figure uses too (repeatable)")


def run(args: argparse.Namespace) -> int:
    use_plugins(args.plugin)
    points = family_points(Metrics(args.metrics))
    plot_families(points, args.out)
    with atomic_path(str(args.out).removesuffix(".png") + ".csv") as tmp:
        points.to_csv(tmp, index=False)
    print(f"{len(points)} detectors -> {args.out}")
    return 0
