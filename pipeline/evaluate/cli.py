"""`evaluate`: score a test set with a trained model; write per-video predictions and tidy metrics."""
from __future__ import annotations

import argparse
from dataclasses import asdict

import pandas as pd

from pipeline.evaluate.cliutils import parse_params, write_csv
from pipeline.gpu import add_gpu_argument, claim_device
from pipeline.evaluate.inference import InferenceParams, load_model, placement_of, predict_manifest
from pipeline.evaluate.metrics import (Bootstrap, arithmetic_of, bootstrap_intervals, read_csv, tidy, training_seed,
                                      video_metrics)


def run_description(ckpt: dict, args: argparse.Namespace, model) -> dict:
    """The tidy-table identity of a run: model, training dataset, condition and seed, test set, pretraining,
    and the arithmetic of its training and of this inference."""
    return {"model": ckpt["model"], "dataset": args.dataset, "condition": args.condition,
            "testset": args.testset, "seed": training_seed(ckpt), "pretrained": bool(ckpt.get("pretrained", False)),
            "arithmetic": arithmetic_of(ckpt, placement_of(model).arithmetic)}


MANIFEST_COLUMNS = ("video_id", "label", "method", "store", "key")  # what inference reads of a test manifest


def read_test_manifest(path: str) -> pd.DataFrame:
    """A test manifest; `ValueError` naming the file when it is not a CSV with the columns inference reads."""
    manifest = read_csv(path, "a manifest CSV")
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise ValueError(f"{path}: manifest lacks column(s) {', '.join(missing)}")
    return manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="trained model (model.pt)")
    parser.add_argument("--manifest", required=True, help="test manifest CSV")
    parser.add_argument("--testset", required=True,
                        help="name of the test set (ffpp, dfdc, deeperforensics, celebdf, dfd)")
    parser.add_argument("--dataset", required=True, help="dataset the model was trained on")
    parser.add_argument("--condition", required=True, help="training condition (all, wo_DF, ...)")
    parser.add_argument("--out-predictions", required=True, help="per-video predictions CSV")
    parser.add_argument("--out-metrics", required=True, help="tidy metrics CSV")
    parser.add_argument("--params", default="{}", help=f"JSON, keys of {asdict(InferenceParams())}")
    parser.add_argument("--bootstrap", default="{}",
                        help=f"JSON, keys of {asdict(Bootstrap())}: resamples of the test videos for the 95%% "
                             "intervals of accuracy and AUC")
    add_gpu_argument(parser)


def run(args: argparse.Namespace) -> int:
    params = parse_params(InferenceParams, args.params)
    bootstrap = parse_params(Bootstrap, args.bootstrap)
    manifest = read_test_manifest(args.manifest)  # before the model is built: a bad manifest fails at once
    claim_device(args)
    model, ckpt = load_model(args.checkpoint)
    predictions = predict_manifest(model, manifest, params)
    intervals = bootstrap_intervals(predictions, params.threshold, bootstrap)
    metrics = tidy(video_metrics(predictions, params.threshold), intervals=intervals,
                   **run_description(ckpt, args, model))
    write_csv(predictions, args.out_predictions)
    write_csv(metrics, args.out_metrics)
    overall = metrics.loc[(metrics["class"] == "overall") & (metrics["metric"] == "accuracy"), "value"]
    print(f"{ckpt['model']} {args.dataset}/{args.condition} on {args.testset}: {len(predictions)} videos, "
          f"overall accuracy {overall.iloc[0]:.4f}")
    return 0
