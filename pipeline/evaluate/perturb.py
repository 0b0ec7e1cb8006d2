"""`perturb`: how frame order and alignment matter to a video model (paper §4.4, Table 4).

Each selected test video contributes its first `clip_len` frames (looped if short), scored as they
are and after five alterations: horizontal flips of 1, 3 and 5 random frames, of every second frame,
and a random shuffle of the frame order. The log-loss of each class under each alteration goes to the
tidy table as class `real`/`fake`, metric `logloss:<perturbation>`, test set `dfdc_perturb`.
The paper hand-picked DFDC videos with motion (95 real, 72 fake); we draw up to `max_videos`, half of
each class where possible, with a fixed seed.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss

from pipeline.data.manifest import balanced_sample
from pipeline.evaluate.cliutils import parse_params, write_csv
from pipeline.evaluate.flips import ALTERATIONS, TESTSET, altered_clips
from pipeline.evaluate.metrics import arithmetic_of, tidy, training_seed
from pipeline.gpu import add_gpu_argument, claim_device

@dataclass(frozen=True)
class PerturbParams:
    """`perturb --params`: how many videos, the seed of selection and alterations, clip length, batch size."""

    max_videos: int = 200
    seed: int = 0
    clip_len: int | None = None  # None: the model's own clip length
    batch_size: int = 8


def class_logloss(predictions: pd.DataFrame) -> dict[tuple[str, str], float]:
    """`{(real|fake, logloss:<perturbation>): value}` from per-video, per-perturbation probabilities."""
    out = {}
    for (name, label), rows in predictions.groupby(["perturbation", "label"], sort=False):
        cls = "fake" if label == 1 else "real"
        out[(cls, f"logloss:{name}")] = float(log_loss(rows["label"], rows["probability"], labels=[0, 1]))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--manifest", required=True, help="test manifest (DFDC test.csv)")
    parser.add_argument("--dataset", required=True, help="dataset the model was trained on")
    parser.add_argument("--condition", required=True, help="training condition")
    parser.add_argument("--out-metrics", required=True, help="tidy metrics CSV")
    parser.add_argument("--out-predictions", required=True,
                        help="CSV video_id,label,method,perturbation,probability")
    parser.add_argument("--params", default="{}", help=f"JSON, keys of {asdict(PerturbParams())}")
    add_gpu_argument(parser)


def run(args: argparse.Namespace) -> int:
    # torch-dependent imports live here so that `tables` can import the perturbation names cheaply
    from pipeline.evaluate.inference import (batched_means, clip_units, first_frames, load_model, manifest_videos,
                                             placement_of, probability_fn)

    params = parse_params(PerturbParams, args.params)
    claim_device(args)
    model, ckpt = load_model(args.checkpoint)
    videos = balanced_sample(pd.read_csv(args.manifest), params.max_videos, params.seed)
    names = list(ALTERATIONS)

    def units():
        for i, (store, row) in enumerate(manifest_videos(videos)):
            clips = altered_clips(first_frames(store, row["key"], params.clip_len or model.spec.clip_len), params.seed, i)
            yield from (clip_units(clips[name], model.spec) for name in names)

    probs = [float(p) for p, _ in batched_means(probability_fn(model), units(), params.batch_size,
                                                placement_of(model))]
    predictions = pd.DataFrame({
        "video_id": np.repeat(videos["video_id"].to_numpy(), len(names)),
        "label": np.repeat(videos["label"].astype(int).to_numpy(), len(names)),
        "method": np.repeat(videos["method"].to_numpy(), len(names)),
        "perturbation": names * len(videos),
        "probability": probs,
    })
    metrics = tidy(class_logloss(predictions), model=ckpt["model"], dataset=args.dataset,
                   condition=args.condition, testset=TESTSET, seed=training_seed(ckpt),
                   pretrained=bool(ckpt.get("pretrained", False)),
                   arithmetic=arithmetic_of(ckpt, placement_of(model).arithmetic))
    write_csv(predictions, args.out_predictions)
    write_csv(metrics, args.out_metrics)
    print(f"{ckpt['model']}: {len(videos)} videos x {len(names)} perturbations -> {args.out_metrics}")
    return 0
