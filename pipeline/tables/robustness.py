"""Robustness to the DeeperForensics-1.0 perturbations (beyond the paper): AUC per model and perturbation."""
from __future__ import annotations

import pandas as pd

from pipeline.distortions import PERTURBATIONS
from pipeline.tables.names import model_name, model_order
from pipeline.tables.render import Table, frame_from_rows

LEVEL_COLUMNS = ["model", "perturbation", "level", "parameter", "auc", "videos"]  # the per-level CSV
CLEAN, MEAN = "clean", "mean"


def robustness_table(levels: pd.DataFrame) -> Table:
    """Video-level AUC (%) of each model on the FF++ test videos: clean (level 0), each perturbation averaged
    over its severity levels, and the mean over the perturbations. `levels` has `LEVEL_COLUMNS`."""
    names = [p for p in PERTURBATIONS if p in set(levels["perturbation"])]
    perturbed = levels[levels["level"] > 0]
    rows = {}
    for model in model_order(set(levels["model"])):
        clean = levels[(levels["model"] == model) & (levels["level"] == 0)]["auc"].mean()
        mine = perturbed[perturbed["model"] == model].groupby("perturbation")["auc"].mean()
        cells = {PERTURBATIONS[p].label: 100.0 * mine.get(p, float("nan")) for p in names}
        rows[model_name(model)] = {CLEAN: 100.0 * clean, **cells, MEAN: pd.Series(cells).mean()}
    columns = [CLEAN, *(PERTURBATIONS[p].label for p in names), MEAN]
    used = sorted(set(perturbed["level"]))
    videos = sorted(set(levels["videos"]))
    note = (f"Perturbations of DeeperForensics-1.0 (Jiang et al., CVPR 2020), averaged over levels "
            f"{', '.join(map(str, used))}; clean: level 0 on the same videos "
            f"({' or '.join(map(str, videos))} FF++ test videos).")
    return Table("table_robustness",
                 "Video-level AUC (%) on FF++ test videos under DeeperForensics-1.0 perturbations, models trained "
                 "on all FF++ methods (not in the paper).", frame_from_rows(rows, "model", columns), [note])
