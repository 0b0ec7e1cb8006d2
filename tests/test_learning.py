"""Detectors learn: an image and a video model, trained by the workflow's own rules from random weights,
separate held-out demo fakes (new identities) from their originals.

The workflow tests check plumbing with runs too short to learn anything; this is the one that fails
when labels, sampling, augmentation, training or evaluation break learning. Kept small for 2 CPU
cores: FF++ with one method (Deepfakes: the demo's decoder swap), 2-s videos of 40 identities (8 test
videos of each class, new identities), Xception and I3D at 64 px.
"""
from __future__ import annotations

import csv

from helpers_workflow import snakemake, write_config

# Steps per model (epochs x steps_per_epoch, batches of the paper's sizes). Measured with the same loader
# and augmentations (an in-process probe, 2026-12-02, on this data with 3-s videos): Xception, lr 1e-3, AUC
# 1.0 after 20 steps; I3D, lr 3e-4, 0.89 / 1.0 / 1.0 after 40 / 80 / 120 steps (lr 1e-3 swung, 0.76-1.0).
# This test as it stands: both 1.0, every test video right (180 s on 2 cores).
RUNS = {
    "xception": {"lr": 1.0e-3, "epochs": 2, "steps_per_epoch": 15},
    "i3d_rgb": {"lr": 3.0e-4, "epochs": 2, "steps_per_epoch": 40},
}
MIN_AUC = 0.9


def test_an_image_and_a_video_model_learn_the_demo_fakes(tmp_path):
    overrides = {
        "models": list(RUNS),
        "conditions": {"all": []},
        "datasets": {"ffpp": {"methods": ["Deepfakes"]},
                     **{d: {"enabled": False} for d in ("dfdc", "deeperforensics", "celebdf", "dfd")}},
        "demo": {"identities": 40, "seconds": 2.0, "dfdc_parts": 2, "dfdc_videos_per_part": 3, "celebdf_videos": 1,
                 "overrides": {"train": {"image_size": 64, "precise_bn_batches": 3}, "hparams": RUNS}},
    }
    config = write_config(tmp_path, overrides, short_runs=False)
    results = tmp_path / "results"
    metrics = [results / f"eval/ffpp/all/{m}/seed0/ffpp.metrics.csv" for m in RUNS]
    run = snakemake(config, "-c2", "--replace-workflow-config", *map(str, metrics), timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    for model, path in zip(RUNS, metrics):
        rows = list(csv.DictReader(path.open()))
        value = {(r["class"], r["metric"]): float(r["value"]) for r in rows}
        auc = value[("all", "auc")]
        assert auc >= MIN_AUC, f"{model}: video-level AUC {auc:.3f} on held-out Deepfakes < {MIN_AUC}"
        assert min(value[("real", "accuracy")], value[("Deepfakes", "accuracy")]) >= 0.5, value
