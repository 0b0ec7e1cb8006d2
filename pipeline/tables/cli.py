"""`tables`: every table of the paper (and a few beyond it) from one tidy metrics CSV.

The CSV is read by `pipeline.evaluate.metrics.read_tidy`: besides what `collect` writes it takes files
without the `testset` (defaults to `dataset`), `seed` (0), interval or `pretrained` columns, and
accuracies, AUCs and EERs in per cent. Their unit is decided once for the whole file: its optional `unit`
column (`fraction` or `percent`, the same on every row), else `--unit`; `--unit auto` (the default) reads
the file as per cent when some accuracy, AUC or EER value is above 1 and none lies strictly between 0 and 1,
as fractions otherwise. A number outside its metric's range in that unit (accuracy, AUC, EER in [0, 1] or
[0, 100]; log-loss finite and >= 0; NaN is missing), so a file mixing fractions and per cent, and two
different numbers for one key (model, dataset, condition, testset, seed, class, metric) fail with one line
naming the file, the row (its CSV line) and the key; a row repeating another identically is dropped with a
warning. A file it cannot use otherwise fails with one line naming it and the column that is missing or
wrong.

Every number is the mean over the training seeds in the file, with `± std` where several seeds have it;
the CSV versions add the bootstrap 95 % intervals of accuracies and AUCs (`pipeline/tables/seeds.py`).

`--paper` (default: the shipped `pipeline/tables/paper_metrics.csv`, see `pipeline/tables/paper.py`)
adds the paper's published value and the difference beside every reproduced value; `--paper none`
leaves them out.
"""
from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from pipeline.evaluate.metrics import AUTO_UNIT, UNITS
from pipeline.tables import TABLES
from pipeline.tables.lookup import Metrics
from pipeline.tables.names import use_plugins
from pipeline.tables.paper import NO_PAPER, PAPER_METRICS, load_paper, paper_note
from pipeline.tables.render import Table, with_paper, write_tables
from pipeline.tables.seeds import build_over_seeds



def builders() -> list[Callable[[Metrics], Table]]:
    """The builder of every table of `TABLES`, in order."""
    out = []
    for target in TABLES.values():
        module, function = target.split(":")
        out.append(getattr(importlib.import_module(module), function))
    return out


def build_tables(metrics: Metrics, paper: Metrics | None = None) -> list[Table]:
    """Every table from `metrics`, over its seeds; with `paper` (the published numbers) each also shows the
    paper's value and the difference beside every value the paper has."""
    tables = [build_over_seeds(build, metrics) for build in builders()]
    if paper is None:
        return tables
    published = [build_over_seeds(build, paper) for build in builders()]
    return [with_paper(ours, theirs, paper_note(ours.name)) for ours, theirs in zip(tables, published, strict=True)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics", required=True,
                        help="tidy metrics CSV (from `collect`, or published numbers: without a testset column each "
                             "row's test set is its dataset)")
    parser.add_argument("--unit", choices=[*UNITS, AUTO_UNIT], default=AUTO_UNIT,
                        help="unit of the --metrics file's accuracy, AUC and EER values (a `unit` column in the file "
                             "decides instead; a flag other than auto must agree with it): auto (default) is per "
                             "cent when some value is above 1 and none lies strictly between 0 and 1, fraction "
                             "otherwise; a value outside [0, 1] or [0, 100] then fails naming its row")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--paper", default=str(PAPER_METRICS),
                        help="tidy metrics CSV of the paper's published numbers, shown with the difference beside "
                             f"ours (default: the shipped %(default)s); `{NO_PAPER}` leaves them out")
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                        help="a detector plugin whose names and order the tables use too (repeatable)")


def run(args: argparse.Namespace) -> int:
    use_plugins(args.plugin)
    metrics, paper = Metrics(args.metrics, args.unit), load_paper(args.paper)
    tables = build_tables(metrics, paper)
    write_tables(tables, args.out)
    print(f"{len(tables)} tables -> {args.out}" + (f" (paper values: {args.paper})" if paper is not None else ""))
    return 0
