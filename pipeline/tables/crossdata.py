"""Models tested on other data sets: Table 2 (DeeperForensics), and beyond the paper Celeb-DF, DFDC and the
cross-dataset AUC matrix of every `all` model on every test set."""
from __future__ import annotations

from pipeline.datasets import dataset_cards
from pipeline.tables.lookup import Metrics
from pipeline.tables.names import CELEBDF, DEEPERFORENSICS, DFDC, FFPP, TESTSET_NAMES, model_name, model_order
from pipeline.tables.render import Table, frame_from_rows

ALL = "all"


def table2(metrics: Metrics) -> Table:
    """FF++ all-methods models on DeeperForensics end-to-end fakes: accuracy of the (single) fake class."""
    rows = {model_name(m): {"DeeperForensics": metrics.percent(m, FFPP, ALL, DEEPERFORENSICS, "fake")}
            for m in metrics.models(FFPP, DEEPERFORENSICS, [ALL])}
    return Table(
        "table2",
        "Table 2. Accuracy (%) on DeeperForensics-1.0 end-to-end fakes of the models trained on all FF++ methods.",
        frame_from_rows(rows, "model", ["DeeperForensics"]), [metrics.runs_note(FFPP, DEEPERFORENSICS, [ALL])])


def summary_table(metrics: Metrics, name: str, caption: str, dataset: str, testset: str) -> Table:
    """Real, fake and overall accuracy (%), AUC (%) and log-loss of the `all` models of `dataset` on `testset`."""
    rows = {}
    for m in metrics.models(dataset, testset, [ALL]):
        rows[model_name(m)] = {
            "Real": metrics.percent(m, dataset, ALL, testset, "real"),
            "Fake": metrics.percent(m, dataset, ALL, testset, "fake"),
            "overall": metrics.percent(m, dataset, ALL, testset, "overall"),
            "AUC": 100.0 * metrics.get(m, dataset, ALL, testset, "all", "auc"),
            "log-loss": metrics.get(m, dataset, ALL, testset, "all", "logloss"),
        }
    columns = ["Real", "Fake", "overall", "AUC", "log-loss"]
    return Table(name, caption, frame_from_rows(rows, "model", columns),
                 [metrics.runs_note(dataset, testset, [ALL])])


def table_celebdf(metrics: Metrics) -> Table:
    return summary_table(metrics, "table_celebdf",
                         "Celeb-DF (v2) test set, models trained on all FF++ methods: accuracy (%), video-level "
                         "AUC (%) and log-loss (not in the paper).", FFPP, CELEBDF)


def table_dfdc(metrics: Metrics) -> Table:
    return summary_table(metrics, "table_dfdc",
                         "DFDC test split, models trained on the DFDC train split: accuracy (%), video-level "
                         "AUC (%) and log-loss (not in the paper).", DFDC, DFDC)


CROSS_TRAINING = tuple(name for name, card in dataset_cards().items() if card.trains)
CROSS_TESTSETS = tuple(dataset_cards())


def table_cross(metrics: Metrics) -> Table:
    """Video-level AUC (%) of every `all` model (rows: model x training set) on every test set (columns)."""
    trained = {(m, d) for d in CROSS_TRAINING for m in metrics.models(d, CROSS_TESTSETS, [ALL])}
    rows = {}
    for model in model_order({m for m, _ in trained}):
        for dataset in (d for d in CROSS_TRAINING if (model, d) in trained):
            rows[(model_name(model), TESTSET_NAMES[dataset])] = {
                TESTSET_NAMES[t]: 100.0 * metrics.get(model, dataset, ALL, t, "all", "auc") for t in CROSS_TESTSETS}
    return Table(
        "table_cross",
        "Cross-dataset matrix: video-level AUC (%) of the models trained on all methods of a training set (FF++, "
        "DFDC), on every test set (training sets: their test splits; DFD: FF++'s DeepFakeDetection and actors "
        "videos; not in the paper).",
        frame_from_rows(rows, ["model", "trained on"], [TESTSET_NAMES[t] for t in CROSS_TESTSETS]),
        [metrics.runs_note(CROSS_TRAINING, CROSS_TESTSETS, [ALL])])
