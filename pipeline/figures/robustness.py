"""The robustness figure: video-level AUC against severity, one panel per perturbation, one line per model."""
from __future__ import annotations

import math
import os

import pandas as pd

from pipeline.io import atomic_path
from pipeline.distortions import PERTURBATIONS
from pipeline.tables.names import model_name, model_order


def level_label(level: int, parameter: float) -> str:
    """A tick label: the level and, below it, DeeperForensics' parameter (`clean` for level 0)."""
    return "0\nclean" if level == 0 or math.isnan(parameter) else f"{level}\n{parameter:g}"


def plot_robustness(levels: pd.DataFrame, path: str | os.PathLike) -> None:
    """AUC (per-level table, columns `model, perturbation, level, parameter, auc`) as a PNG grid of panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [p for p in PERTURBATIONS if p in set(levels["perturbation"])]
    models = model_order(set(levels["model"]))
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.9 * rows), dpi=100, squeeze=False, sharey=True)
    for ax, name in zip(axes.flat, names, strict=False):
        panel = levels[levels["perturbation"] == name].sort_values("level")
        for model in models:
            line = panel[panel["model"] == model]
            ax.plot(line["level"], line["auc"], marker="o", label=model_name(model))
        ticks = panel.drop_duplicates("level")
        ax.set_xticks(ticks["level"], [level_label(int(k), float(p)) for k, p in zip(ticks["level"],
                                                                                       ticks["parameter"])])
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set(title=PERTURBATIONS[name].label, ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("video-level AUC")
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower right" if len(names) % cols else "upper right", frameon=False)
    fig.suptitle("FF++ test videos under DeeperForensics-1.0 perturbations (severity: level, parameter)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
