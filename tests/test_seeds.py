"""Training seeds: each seed is its own run (weights, predictions, metrics rows), and `train.seeds` adds jobs
to the DAG without changing those of the seeds already there."""
from __future__ import annotations

import json
import re

import pandas as pd
import torch
import yaml

from helpers_workflow import snakemake, tiny_config
from pipeline.__main__ import main
from pipeline.checkpoint import load_checkpoint
from test_datasets import make_dfdc, make_ffpp, tiny_splits
from test_train import manifests, params, tiny_models, train  # noqa: F401 (fixtures)


def evaluate(checkpoint, manifest, tmp_path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    pred, met = tmp_path / f"{name}.predictions.csv", tmp_path / f"{name}.metrics.csv"
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--manifest", str(manifest), "--testset", "ffpp",
                 "--dataset", "ffpp", "--condition", "all", "--out-predictions", str(pred), "--out-metrics", str(met),
                 "--params", '{"stride": 16, "batch_size": 4}', "--bootstrap", '{"resamples": 50}']) == 0
    return pd.read_csv(pred), pd.read_csv(met)


def test_seeds_train_distinct_models_with_distinct_predictions(tiny_models, manifests, tmp_path):  # noqa: F811
    runs = {}
    for seed in (0, 1):
        out = tmp_path / f"seed{seed}"
        assert train(manifests, out, tmp_path / f"state{seed}", params(seed=seed, epochs=1)) == 0
        predictions, metrics = evaluate(out / "model.pt", manifests / "val.csv", tmp_path, f"seed{seed}")
        runs[seed] = (load_checkpoint(out / "model.pt")["state_dict"], predictions, metrics)
    (w0, p0, m0), (w1, p1, m1) = runs[0], runs[1]
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)
    assert list(p0["video_id"]) == list(p1["video_id"]) and not p0["probability"].equals(p1["probability"])
    assert set(m0["seed"]) == {0} and set(m1["seed"]) == {1}


def jobs(dry_run: str) -> list[tuple[str, dict[str, str], str]]:
    """(rule, wildcards, shell command) of every job of a printed dry run."""
    out, rule, wildcards = [], None, {}
    for line in dry_run.splitlines():
        if match := re.match(r"(?:local)?rule (\w+):$", line):
            rule, wildcards = match.group(1), {}
        elif rule and line.startswith("    wildcards: "):
            wildcards = dict(item.split("=", 1) for item in line[len("    wildcards: "):].split(", "))
        elif rule and line.startswith("Shell command: "):
            out.append((rule, wildcards, line[len("Shell command: "):]))
            rule = None
    return out


def test_every_seed_is_a_run_of_its_own_in_the_dag(tmp_path):
    """A dry run on tiny FF++ and DFDC trees (empty files) with seeds [0, 1]: every training and evaluation
    job once per seed, each training job with its own seed and folders (and a sequence model starting from
    the EfficientNet-B3 of its own seed), no `seeds` list in any job's params; Table 4 on the first seed."""
    overrides = {"demo": {"enabled": False}, "pretrained": {"allow_random_init": True},
                 "models": ["efficientnet_b3", "efficientnet_b3_lstm", "r3d_18"], "conditions": {"all": []},
                 "train": {"seeds": [0, 1]}, "evaluate": {"perturbation": {"models": ["r3d_18"]}}}
    config = tiny_config(tmp_path, overrides, ("ffpp", "dfdc"))
    cfg = yaml.safe_load(config.read_text())
    make_ffpp(tmp_path / "ffpp", tiny_splits(), methods=["Deepfakes"])
    make_dfdc(tmp_path / "dfdc")
    cfg["datasets"]["ffpp"]["root"], cfg["datasets"]["dfdc"]["root"] = str(tmp_path / "ffpp"), str(tmp_path / "dfdc")
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    result = snakemake(config, "--replace-workflow-config", "-n", "-p")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    planned = jobs(result.stdout)
    trains = [(w, c) for rule, w, c in planned if rule == "train_model"]
    assert sorted((w["dataset"], w["model"], w["seed"]) for w, _ in trains) == sorted(
        (d, m, s) for d in ("ffpp", "dfdc") for m in overrides["models"] for s in ("0", "1"))
    for w, command in trains:
        p = json.loads(re.search(r"--params '(\{.*?\})'", command).group(1))
        assert p["train"]["seed"] == int(w["seed"]) and "seeds" not in p["train"]
        assert f"/{w['model']}/seed{w['seed']} " in command and "/state/train/" in command
        if w["model"] == "efficientnet_b3_lstm":
            assert f"/efficientnet_b3/seed{w['seed']}/model.pt" in command
    evals = [w for rule, w, _ in planned if rule == "evaluate_model"]
    # each `all` model on its own test set and the other's (FF++ on DFDC, DFDC on FF++), per seed
    assert sorted((w["dataset"], w["testset"], w["seed"]) for w in evals) == sorted(
        (d, t, s) for d in ("ffpp", "dfdc") for t in ("ffpp", "dfdc") for s in ("0", "1") for _ in range(3))
    assert [w["seed"] for rule, w, _ in planned if rule == "perturbation"] == ["0"]
