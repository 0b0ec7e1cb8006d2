"""Table 4: log-loss per class of DFDC-trained video models under frame flips and shuffling (§4.4)."""
from __future__ import annotations

from pipeline.evaluate.flips import ALTERATIONS, TESTSET
from pipeline.tables.lookup import Metrics
from pipeline.tables.names import DFDC, model_name
from pipeline.tables.render import Table, frame_from_rows

ALL = "all"
HEADERS = {"original": "original", "flip1": "flip 1", "flip3": "flip 3", "flip5": "flip 5",
           "flip_every2": "flip every 2nd", "shuffle": "shuffle"}


def table4(metrics: Metrics) -> Table:
    rows = {}
    for m in metrics.models(DFDC, TESTSET, [ALL]):
        for cls in ("real", "fake"):
            rows[(model_name(m), cls)] = {HEADERS[p]: metrics.get(m, DFDC, ALL, TESTSET, cls, f"logloss:{p}")
                                          for p in ALTERATIONS}
    return Table(
        "table4",
        "Table 4. Log-loss per class on DFDC test clips (the first `evaluate.perturbation.clip_len` frames; the "
        "paper: 16): original, horizontal flips of 1, 3 and 5 "
        "random frames, of every second frame, and shuffled frame order.",
        frame_from_rows(rows, ["model", "class"], [HEADERS[p] for p in ALTERATIONS]),
        [metrics.runs_note(DFDC, TESTSET, [ALL])])
