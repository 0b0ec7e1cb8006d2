"""`robustness`: FF++-trained models under the DeeperForensics-1.0 perturbations at five severities.

    sweep    one model x one perturbation: level 0 (clean) and each level, per-video predictions and
             tidy-style metrics (pipeline/robustness/sweep.py)
    report   all sweeps: the per-level AUC CSV, the model x perturbation table (.md/.csv/.tex, AUC
             averaged over levels) and the figure of AUC against severity
"""
from __future__ import annotations

import argparse
import errno
import os

from pipeline.gpu import add_gpu_argument, claim_device
from pipeline.distortions import PERTURBATIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog, parser.formatter_class = __doc__.split("\n\n", 1)[1], argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sweep = sub.add_parser("sweep", help="one model under one perturbation, level 0 and each level")
    sweep.add_argument("--checkpoint", required=True, help="trained model (model.pt), FF++ `all`")
    sweep.add_argument("--manifest", required=True, help="FF++ test manifest CSV")
    sweep.add_argument("--detections", required=True, nargs="+", help="detections HDF5 files of the FF++ shards")
    sweep.add_argument("--root", required=True, help="FF++ root (video ids are paths relative to it)")
    sweep.add_argument("--perturbation", required=True, choices=list(PERTURBATIONS))
    sweep.add_argument("--out-metrics", required=True, help="CSV model,perturbation,level,parameter,class,metric,value")
    sweep.add_argument("--out-predictions", required=True, help="per-video predictions CSV, with perturbation, level")
    sweep.add_argument("--params", default="{}", help="JSON, keys of pipeline.robustness.sweep.SweepParams")
    report = sub.add_parser("report", help="the per-level CSV, the table and the figure of all sweeps")
    report.add_argument("--out-levels", required=True, help="per-level AUC CSV")
    report.add_argument("--out-table", required=True, help="table path without suffix: writes .md, .csv, .tex")
    report.add_argument("--out-figure", required=True, help="PNG figure")
    report.add_argument("metrics", nargs="+", help="metrics CSVs of `robustness sweep`")
    add_gpu_argument(sweep)


def require_files(paths: list[str]) -> None:
    """`FileNotFoundError` naming the first of `paths` that is not a file (before any work starts)."""
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)


def run_sweep(args: argparse.Namespace) -> int:
    import torch

    from pipeline.evaluate.cli import read_test_manifest
    from pipeline.evaluate.cliutils import parse_params, write_csv
    from pipeline.evaluate.inference import load_model
    from pipeline.robustness.sweep import SweepParams, sweep

    params = parse_params(SweepParams, args.params)
    manifest = read_test_manifest(args.manifest)
    require_files(args.detections)
    claim_device(args)
    model, ckpt = load_model(args.checkpoint)
    predictions, metrics = sweep(model, ckpt["model"], args.perturbation, manifest, args.detections, args.root,
                                 params, threads=torch.get_num_threads())
    write_csv(predictions, args.out_predictions)
    write_csv(metrics, args.out_metrics)
    auc = metrics[metrics["metric"] == "auc"].set_index("level")["value"]
    print(f"{ckpt['model']} under {args.perturbation}: AUC by level "
          + ", ".join(f"{level}: {value:.3f}" for level, value in auc.items()))
    return 0


def run_report(args: argparse.Namespace) -> int:
    from pipeline.robustness.report import write_report

    require_files(args.metrics)
    levels = write_report(args.metrics, args.out_levels, args.out_table, args.out_figure)
    print(f"{len(levels)} model x perturbation x level rows -> {args.out_levels}, {args.out_table}.md, "
          f"{args.out_figure}")
    return 0


def run(args: argparse.Namespace) -> int:
    return run_sweep(args) if args.action == "sweep" else run_report(args)
