"""The demo demonstrates detection: an image model trained by the real workflow on the demo FF++ data
separates held-out fakes (new identities) from real videos.

Runs the workflow from demo-video generation to one `evaluate` job (FF++ only, `all` condition), with
the demo's own training settings (`demo.overrides`), so a change that breaks labels, manifests, frame
sampling, training or evaluation -- or makes the demo fakes unlearnable -- fails here.
"""
from __future__ import annotations

import pandas as pd
import pytest

from helpers_workflow import snakemake, write_config

LEARNING = {
    "demo": {"identities": 24, "dfdc_parts": 2, "dfdc_videos_per_part": 3, "celebdf_videos": 1},
    "datasets": {"dfdc": {"enabled": False}, "deeperforensics": {"enabled": False},
                 "celebdf": {"enabled": False}},
    "hparams": {"xception": {"steps_per_epoch": 20}},  # 60 steps: the demo's 45 are cut for its time budget
    "models": ["xception"],
    "conditions": {"all": []},
}


@pytest.mark.slow
def test_demo_image_model_detects_held_out_fakes(tmp_path):
    config = write_config(tmp_path, LEARNING)
    target = str(tmp_path / "results/eval/ffpp/all/xception/ffpp.metrics.csv")
    run = snakemake(config, "--replace-workflow-config", "--cores", "2", target, timeout=1200)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    metrics = pd.read_csv(target)
    value = {(r["class"], r["metric"]): r["value"] for _, r in metrics.iterrows()}
    predictions = pd.read_csv(target.replace(".metrics.csv", ".predictions.csv"))
    assert predictions.label.nunique() == 2 and predictions.probability.std() > 0.01, "constant predictor"
    assert value[("all", "auc")] >= 0.9, value
    assert value[("real", "accuracy")] >= 0.8 and value[("fake", "accuracy")] >= 0.8, value
