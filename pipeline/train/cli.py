"""`python -m pipeline train`: train one model on one dataset and condition.

    python -m pipeline train --model r3d_18 --dataset ffpp --condition all \\
        --manifests results/manifests/ffpp/all --out results/train/ffpp/all/r3d_18 \\
        --state results/state/train/ffpp/all/r3d_18 --params '{"hparams": {...}, "train": {...}, ...}'

Writes `model.pt` (best validation loss), `metrics.csv`, `loss.png` and `meta.json` to `--out`;
resumable state lives in `--state` (Snakemake deletes `--out` before a rerun, not `--state`).
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
import sys
from pathlib import Path

from pipeline.checkpoint import git_commit, load_checkpoint
from pipeline.data.manifest import read_training_manifest
from pipeline.gpu import add_gpu_argument, claim_device
from pipeline.io import atomic_path
from pipeline.runtime import Placement, select_device
from pipeline.train.config import TrainConfig, run_fingerprint
from pipeline.train.loop import METRIC_COLUMNS, FitResult, Runtime, build_loader, fit, seed_everything
from pipeline.train.plots import plot_losses

log = logging.getLogger("pipeline.train")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="registered model name (python -m pipeline models)")
    parser.add_argument("--dataset", required=True, help="training dataset name (recorded in meta.json)")
    parser.add_argument("--condition", required=True, help="training condition (recorded in meta.json)")
    parser.add_argument("--manifests", required=True, type=Path, help="folder with train.csv and val.csv")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--state", required=True, type=Path, help="folder for resume state (last.pt, best.pt)")
    parser.add_argument("--params", required=True,
                        help='JSON {"hparams", "train", "pretrained", "preprocess"} (or a path to such a file)')
    parser.add_argument("--init", type=Path, default=None,
                        help="trained checkpoint of the model's backbone detector (its card's `backbone`)")
    add_gpu_argument(parser)


def parse_params(text: str) -> dict:
    """The `--params` JSON, given inline or as a file path."""
    path = Path(text)
    return json.loads(path.read_text() if not text.lstrip().startswith("{") and path.is_file() else text)


def write_outputs(out: Path, result: FitResult, meta: dict) -> None:
    """Copy the best model and write metrics.csv, loss.png and meta.json into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "model.pt") as tmp:
        shutil.copyfile(result.best_checkpoint, tmp)
    with atomic_path(out / "metrics.csv") as tmp:
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS)
            writer.writeheader()
            writer.writerows(result.metrics)
    plot_losses(result.metrics, out / "loss.png", title=f"{meta['model']} - {meta['dataset']} / {meta['condition']}")
    with atomic_path(out / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")


def remove_state(state_dir: Path) -> None:
    """Delete a finished run's resume files (model, optimizer and best weights: ~4x the model's size)."""
    for name in ("last.pt", "best.pt"):
        (state_dir / name).unlink(missing_ok=True)
    try:
        state_dir.rmdir()
    except OSError:
        pass  # not empty (files of someone else) or already gone


def run(args: argparse.Namespace) -> int:
    claim_device(args)  # before anything starts CUDA
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    from pipeline.models.registry import build_model, get_card  # heavy (timm): imported only when it runs

    # Bad inputs (malformed --params, a missing or broken manifest, init checkpoint or pretrained weights)
    # raise ValueError / OSError: `python -m pipeline` reports them as one line `pipeline train: error: ...`.
    params = parse_params(args.params)
    try:
        cfg = TrainConfig.from_params(params)
    except (TypeError, ValueError, AttributeError) as exc:  # a wrong key or type in the JSON
        raise ValueError(f"--params: {' '.join(str(exc).split())}") from exc
    train_rows = read_training_manifest(args.manifests / "train.csv")
    val_rows = read_training_manifest(args.manifests / "val.csv")
    plugins = [params["plugin"]] if params.get("plugin") else []
    backbone = None
    if args.init:
        expect = get_card(args.model, plugins).backbone or None
        backbone = load_checkpoint(args.init, expect_model=expect)["state_dict"]
    device = select_device(cfg.threads)
    seed_everything(cfg.seed, 0)  # the random initialisation is part of the seeded run
    model, info = build_model(args.model, image_size=cfg.image_size, clip_len=cfg.clip_len,
                              pretrained=cfg.pretrained_arg, backbone=backbone, plugins=plugins,
                              hparams=params.get("hparams", {}))
    spec = model.spec
    video = spec.kind != "image"
    placement = Placement.for_model(spec, cfg.bf16, device)
    rt = Runtime(placement, tuple(spec.mean), tuple(spec.std))
    loader_args = dict(size=spec.input_size, clip_len=cfg.clip_len if video else 1, device=device)
    train_loader = build_loader(train_rows, cfg, steps=cfg.steps_per_epoch, augment=True, **loader_args)
    val_loader = build_loader(val_rows, cfg, steps=cfg.val_steps, augment=False, **loader_args)
    manifests = [(args.manifests / f"{s}.csv").read_text() for s in ("train", "val")]
    init = f"{args.init}:{args.init.stat().st_size}:{args.init.stat().st_mtime_ns}" if args.init else ""
    fingerprint = run_fingerprint(params, args.model, *manifests, init)  # a retrained backbone restarts the run
    runtime = placement.record()
    log.info("%s on %s/%s: %d train / %d val videos, input %d px%s, %s (%s, %s), weights: %s", args.model,
             args.dataset, args.condition, len(train_rows), len(val_rows), spec.input_size,
             f" x {cfg.clip_len} frames" if video else "", device, runtime["processor"], placement.arithmetic,
             info.source)
    checkpoint_meta = dict(model=args.model, config=params, preprocess=cfg.preprocess, pretrained=info.pretrained,
                           pretrained_source=info.source, spec=spec.record(), runtime=runtime)
    result = fit(model, cfg, train_loader=train_loader, val_loader=val_loader, rt=rt, state_dir=args.state,
                 fingerprint=fingerprint, checkpoint_meta=checkpoint_meta)
    log.info("%d samples drawn, %d with replaced data: %d frames replaced, %d videos replaced",
             *(result.bad.get(k, 0) for k in ("samples_drawn", "bad_samples", "bad_frames", "bad_videos")))
    if not result.best_epoch:
        print(f"pipeline train: error: {args.model} diverged before reaching a finite validation loss; "
              "no model saved", file=sys.stderr)
        return 1
    meta = dict(model=args.model, dataset=args.dataset, condition=args.condition, seed=cfg.seed,
                pretrained=info.pretrained, pretrained_source=info.source, best_epoch=result.best_epoch,
                best_val_loss=result.best_val_loss, stopped_because=result.stopped_because,
                epochs_run=len(result.metrics), n_train=len(train_rows), n_val=len(val_rows), **runtime,
                commit=git_commit(), **result.bad)
    write_outputs(args.out, result, meta)
    if not cfg.keep_state:
        remove_state(args.state)
    return 0
