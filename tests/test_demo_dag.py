"""End to end: the demo DAG, shrunk, runs from video generation to every table, figure and the report."""
from __future__ import annotations

import pandas as pd
import pytest

from helpers_workflow import planned_jobs, snakemake, write_config

from pipeline.tables import TABLES

# Every stage and experiment, with fewer models and conditions than `make demo` so CI stays fast.
SMALL = {
    "demo": {"identities": 6, "seconds": 3.0, "dfdc_parts": 3, "dfdc_videos_per_part": 6, "celebdf_videos": 2},
    "datasets": {"dfdc": {"parts": {"train": [0], "val": [1], "test": [2]}}},
    "models": ["efficientnet_b3", "efficientnet_b3_lstm", "r3d_18"],
    "conditions": {"all": [], "wo_FS": ["FaceSwap"], "wo_MM": ["Face2Face", "FaceSwap"],
                   "wo_swap": ["Deepfakes", "FaceSwap", "FaceShifter"]},
    "evaluate": {"perturbation": {"models": ["efficientnet_b3_lstm", "r3d_18"]}},
}
# plumbing, not learning: 2 x 2 steps per run at 32 px (helpers_workflow.plumbing)


@pytest.mark.slow
def test_demo_workflow_end_to_end(tmp_path):
    config = write_config(tmp_path, SMALL)
    run = snakemake(config, "--replace-workflow-config", "--cores", "2", timeout=1500)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    results = tmp_path / "results"

    for table in TABLES:
        for ext in ("md", "tex", "csv"):
            assert (results / "tables" / f"{table}.{ext}").stat().st_size > 0, (table, ext)
    assert "Table 1" in (results / "tables" / "tables.md").read_text()
    for figure in ("figure4_tsne.png", "figure5_gradcam.png"):
        assert (results / "figures" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    metrics = pd.read_csv(results / "metrics.csv")
    ffpp = metrics[metrics.testset == "ffpp"]
    assert set(ffpp.condition) == set(SMALL["conditions"])
    assert set(metrics.testset) == {"ffpp", "deeperforensics", "celebdf", "dfdc", "dfdc_perturb", "dfd"}
    assert set(metrics.model) == set(SMALL["models"])
    assert set(metrics.seed) == {0} and (results / "train/ffpp/all/r3d_18/seed0/model.pt").is_file()
    bounded = metrics[metrics.metric.isin(["accuracy", "auc"]) & metrics.value.notna()]
    assert len(bounded) and (bounded.ci_low <= bounded.ci_high).all()

    # the cross-dataset matrix: every `all` model on its test sets; the demo's cross_dataset models on all
    cross = pd.read_csv(results / "tables" / "table_cross.csv").set_index(["model", "trained on"])
    assert set(cross.index) == {(m, d) for m in ("EfficientNet-B3", "EffB3+LSTM", "R3D-18") for d in ("FF++", "DFDC")}
    for model in ("EfficientNet-B3", "R3D-18"):
        assert cross.loc[(model, "FF++"), ["FF++", "DFDC", "DeeperForensics", "Celeb-DF", "DFD"]].notna().all()
        assert cross.loc[(model, "DFDC"), ["DFDC", "FF++", "Celeb-DF"]].notna().all()
    assert cross.loc[("EffB3+LSTM", "FF++"), ["DFDC", "DFD"]].isna().all()  # not in the demo's cross_dataset
    assert "DFD ci_low" in cross.columns and "Cross-dataset matrix" in (results / "tables" / "tables.md").read_text()
    pretrained = metrics.groupby("model").pretrained.first().astype(str).str.lower().eq("true")
    # No ImageNet/Kinetics weights offline: each model starts from its demo pretraining on the demo DFDC
    # (rule demo_pretrain), the CNN+RNN models from the trained EfficientNet-B3 of their run.
    assert pretrained.to_dict() == {"efficientnet_b3": True, "efficientnet_b3_lstm": True, "r3d_18": True}
    assert sorted(p.name for p in (results / "pretrain").iterdir()) == ["efficientnet_b3", "r3d_18"]
    for dataset in ("ffpp", "dfdc", "deeperforensics", "celebdf", "dfd"):
        assert (results / "preprocess" / dataset / "report.csv").exists()

    again = snakemake(config, "--replace-workflow-config", "-n")
    assert again.returncode == 0, again.stderr[-2000:]
    assert planned_jobs(again) == {}, again.stdout[-2000:]

    report = tmp_path / "report.html"
    made = snakemake(config, "--replace-workflow-config", "--report", str(report), timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    assert report.stat().st_size > 10_000
