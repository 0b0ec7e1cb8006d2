"""Metrics against scikit-learn, video-level inference and the `evaluate` / `collect` commands."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from helpers_evaluate import VIDEOS, TinyImage, TinyVideo, make_store, models_available, real_checkpoint
from pipeline.__main__ import main
from pipeline.evaluate import inference
from pipeline.runtime import Placement
from pipeline.evaluate.inference import (InferenceParams, batched_means, predict_manifest, video_units,
                                         window_starts)
from pipeline.evaluate.metrics import (TIDY_COLUMNS, Bootstrap, bootstrap_intervals, class_accuracy,
                                       complete_accuracy, equal_error_rate, read_tidy, video_metrics)

torch.set_num_threads(1)


def random_predictions(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    method = rng.choice(["real", "Deepfakes", "Face2Face", "FaceSwap"], size=n)
    label = (method != "real").astype(int)
    prob = np.clip(rng.normal(0.35 + 0.3 * label, 0.25), 0.001, 0.999)
    return pd.DataFrame({"label": label, "method": method, "probability": prob})


def test_class_accuracy_matches_sklearn():
    df = random_predictions()
    acc = class_accuracy(df["label"], df["probability"], df["method"], 0.5)
    pred = (df["probability"] >= 0.5).astype(int)
    for name in ("real", "Deepfakes", "Face2Face", "FaceSwap"):
        sel = df["method"] == name
        assert acc[name] == pytest.approx(accuracy_score(df["label"][sel], pred[sel]))
    m = video_metrics(df)
    fake = np.mean([acc["Deepfakes"], acc["Face2Face"], acc["FaceSwap"]])
    assert m[("fake", "accuracy")] == pytest.approx(fake)
    assert m[("overall", "accuracy")] == pytest.approx((acc["real"] + fake) / 2)
    assert m[("all", "auc")] == pytest.approx(roc_auc_score(df["label"], df["probability"]))
    assert m[("all", "logloss")] == pytest.approx(log_loss(df["label"], df["probability"]))


def test_equal_error_rate_definition():
    df = random_predictions(1000, seed=1)
    y, p = df["label"].to_numpy(), df["probability"].to_numpy()
    eer = equal_error_rate(y, p)
    thresholds = np.unique(p)
    fpr = np.array([(p[y == 0] >= t).mean() for t in thresholds])
    fnr = np.array([(p[y == 1] < t).mean() for t in thresholds])
    best = np.argmin(np.abs(fpr - fnr))
    assert abs(fpr[best] - fnr[best]) < 0.01  # a threshold where both error rates (nearly) agree...
    assert eer == pytest.approx((fpr[best] + fnr[best]) / 2, abs=0.005)  # ...and their common value is the EER
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert equal_error_rate([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 1.0


def test_missing_classes_give_nan():
    only_fake = pd.DataFrame({"label": [1, 1], "method": ["fake", "fake"], "probability": [0.9, 0.2]})
    m = video_metrics(only_fake)
    assert math.isnan(m[("real", "accuracy")]) and math.isnan(m[("overall", "accuracy")])
    assert m[("fake", "accuracy")] == 0.5
    assert all(math.isnan(m[("all", k)]) for k in ("auc", "eer", "logloss"))
    only_real = pd.DataFrame({"label": [0], "method": ["real"], "probability": [0.1]})
    assert math.isnan(video_metrics(only_real)[("fake", "accuracy")])


def test_bootstrap_intervals_match_a_hand_computation():
    """The documented resampling, one resample at a time with scikit-learn: per class (real, then the fake
    methods sorted) `rng.integers(0, n, size=(resamples, n))`, percentiles 2.5 and 97.5."""
    df = random_predictions(90, seed=2)
    params = Bootstrap(resamples=200, seed=7)
    intervals = bootstrap_intervals(df, 0.5, params)
    rng = np.random.default_rng(7)
    classes = ["real", "Deepfakes", "Face2Face", "FaceSwap"]
    members = {c: np.flatnonzero(df["method"].to_numpy() == c) for c in classes}
    draws = {c: m[rng.integers(0, len(m), size=(200, len(m)))] for c, m in members.items()}
    pred = (df["probability"] >= 0.5).astype(int).to_numpy()
    label = df["label"].to_numpy()
    per_resample = {key: [] for key in [*classes, "fake", "overall", "auc"]}
    for b in range(200):
        acc = {c: accuracy_score(label[draws[c][b]], pred[draws[c][b]]) for c in classes}
        acc["fake"] = np.mean([acc[c] for c in classes[1:]])
        acc["overall"] = (acc["real"] + acc["fake"]) / 2
        sample = np.concatenate([draws[c][b] for c in classes])
        acc["auc"] = roc_auc_score(label[sample], df["probability"].to_numpy()[sample])
        for key, value in acc.items():
            per_resample[key].append(value)
    for key, values in per_resample.items():
        expected = np.percentile(values, [2.5, 97.5])
        got = intervals[("all", "auc") if key == "auc" else (key, "accuracy")]
        assert got == pytest.approx(tuple(expected), abs=1e-12), key
    point = video_metrics(df)
    assert intervals[("all", "auc")][0] < point[("all", "auc")] < intervals[("all", "auc")][1]
    assert bootstrap_intervals(df, 0.5, params) == intervals  # seeded
    assert bootstrap_intervals(df, 0.5, Bootstrap(resamples=200, seed=8)) != intervals


def test_bootstrap_of_a_one_class_set_has_no_auc_interval():
    only_fake = pd.DataFrame({"label": [1, 1, 1], "method": ["fake"] * 3, "probability": [0.9, 0.2, 0.7]})
    intervals = bootstrap_intervals(only_fake, 0.5, Bootstrap(resamples=50))
    assert all(math.isnan(v) for v in intervals[("all", "auc")] + intervals[("real", "accuracy")])
    assert 0 <= intervals[("fake", "accuracy")][0] <= intervals[("fake", "accuracy")][1] <= 1


def test_complete_accuracy_derives_fake_and_overall():
    rows = [("real", 1.0), ("Deepfakes", 0.5), ("FaceSwap", 0.0)]
    df = read_tidy(pd.DataFrame([{"model": "m", "dataset": "ffpp", "condition": "all", "testset": "ffpp",
                                  "class": c, "metric": "accuracy", "value": v, "pretrained": "True"}
                                 for c, v in rows]))
    out = complete_accuracy(df).set_index("class")["value"]
    assert out["fake"] == pytest.approx(0.25) and out["overall"] == pytest.approx(0.625)



def test_read_tidy_decides_the_unit_once_and_names_the_row_of_a_bad_number():
    def frame(*values, metric="accuracy"):
        return pd.DataFrame([{"model": "m", "dataset": "ffpp", "condition": "all", "testset": "ffpp", "class": c,
                              "metric": metric, "value": v} for c, v in zip(["real", "Deepfakes"], values)])

    assert list(read_tidy(frame(90.0, 0.0))["value"]) == pytest.approx([0.9, 0.0])  # auto: per cent
    assert list(read_tidy(frame(0.9, 0.5))["value"]) == pytest.approx([0.9, 0.5])  # auto: fractions
    assert list(read_tidy(frame(0.9, 0.5), unit="percent")["value"]) == pytest.approx([0.009, 0.005])
    with pytest.raises(ValueError, match=r"^metrics table: column value, row 1 \(model=m dataset=ffpp condition=all "
                                         r"testset=ffpp seed=0 class=Deepfakes metric=auc\): auc 3 is outside "
                                         r"\[0, 1\]"):
        read_tidy(frame(0.9, 3, metric="auc"))
    with pytest.raises(ValueError, match="unknown unit 'per cent'"):
        read_tidy(frame(0.9, 0.5), unit="per cent")

def test_window_starts_cover_every_frame():
    assert window_starts(10, 16, 16) == [0]
    assert window_starts(16, 16, 16) == [0]
    assert window_starts(40, 16, 16) == [0, 16, 24]
    assert window_starts(20, 16, 2) == [0, 2, 4]


def test_batched_means_match_per_video_means():
    videos = [torch.randn(n, 3) for n in (1, 5, 3, 8, 2)]
    out = list(batched_means(lambda x: x * 2, iter(videos), 4, Placement(torch.device("cpu"))))
    assert [n for _, n in out] == [1, 5, 3, 8, 2]
    for (mean, _), v in zip(out, videos, strict=True):
        torch.testing.assert_close(mean, (v * 2).mean(0))


def test_video_units_loop_short_videos():
    model = TinyVideo(size=8, clip_len=16)
    frames = np.stack([np.full((12, 12, 3), i * 10, np.uint8) for i in range(7)])
    units = video_units(frames, model.spec, stride=16)
    assert units.shape == (1, 3, 16, 8, 8)
    # looped from the start: frame 7 of the window is frame 0 again
    torch.testing.assert_close(units[0, :, 7], units[0, :, 0])
    assert video_units(frames, TinyImage(8).spec, 16).shape == (7, 3, 8, 8)


@pytest.mark.parametrize("model", [TinyImage(), TinyVideo()], ids=["image", "3d"])
def test_predict_manifest(tmp_path, model):
    manifest = pd.read_csv(make_store(tmp_path))
    pred = predict_manifest(model.eval(), manifest, InferenceParams(stride=8, batch_size=3))
    assert list(pred.columns) == ["video_id", "label", "method", "probability", "n_windows"]
    assert pred["probability"].between(0, 1).all()
    expected = [n for *_, n in VIDEOS] if model.spec.kind == "image" else [len(window_starts(n, 16, 8))
                                                                           for *_, n in VIDEOS]
    assert list(pred["n_windows"]) == expected
    # batching across videos must not change a video's score
    single = predict_manifest(model, manifest.iloc[[5]], InferenceParams(stride=8, batch_size=1))
    assert single["probability"].iloc[0] == pytest.approx(pred["probability"].iloc[5], abs=1e-5)


def test_evaluate_and_collect_commands(tmp_path, monkeypatch):
    manifest = make_store(tmp_path)
    ckpt = {"model": "tiny_3d", "pretrained": False, "config": {"train": {"seed": 3}}}
    monkeypatch.setattr("pipeline.evaluate.cli.load_model", lambda path: (TinyVideo().eval(), ckpt))
    pred, met = tmp_path / "p.csv", tmp_path / "m.csv"
    assert main(["evaluate", "--checkpoint", "x.pt", "--manifest", str(manifest), "--testset", "ffpp",
                 "--dataset", "ffpp", "--condition", "wo_FS", "--out-predictions", str(pred),
                 "--out-metrics", str(met), "--params", '{"stride": 16, "threshold": 0.5, "batch_size": 4}',
                 "--bootstrap", '{"resamples": 100, "seed": 1}']) == 0
    p = pd.read_csv(pred)
    assert list(p.columns) == ["video_id", "label", "method", "probability", "n_windows"] and len(p) == len(VIDEOS)
    m = pd.read_csv(met)
    assert list(m.columns) == TIDY_COLUMNS
    assert set(m["class"]) == {"real", "Deepfakes", "FaceSwap", "fake", "overall", "all"}
    assert set(m["metric"]) == {"accuracy", "auc", "eer", "logloss"}
    assert (m["model"] == "tiny_3d").all() and (m["condition"] == "wo_FS").all() and (~m["pretrained"]).all()
    assert (m["seed"] == 3).all()  # the training seed recorded in the checkpoint
    with_interval = m["metric"].isin(["accuracy", "auc"])
    assert m.loc[with_interval, ["ci_low", "ci_high"]].notna().all().all()
    assert m.loc[~with_interval, ["ci_low", "ci_high"]].isna().all().all()
    assert (m["ci_low"] <= m["ci_high"]).where(with_interval, True).all()
    out = tmp_path / "metrics.csv"
    assert main(["collect", "--out", str(out), str(met), str(met)]) == 0
    assert len(pd.read_csv(out)) == 2 * len(m)


@pytest.mark.skipif(not models_available(), reason="model registry not available")
def test_evaluate_real_tiny_model(tmp_path):
    manifest = make_store(tmp_path, VIDEOS[:3] + VIDEOS[3:4])
    ckpt = real_checkpoint(tmp_path, "r3d_18", size=32)
    pred, met = tmp_path / "p.csv", tmp_path / "m.csv"
    assert main(["evaluate", "--checkpoint", str(ckpt), "--manifest", str(manifest), "--testset", "dfdc",
                 "--dataset", "dfdc", "--condition", "all", "--out-predictions", str(pred),
                 "--out-metrics", str(met), "--params", '{"stride": 16, "batch_size": 2}']) == 0
    m = pd.read_csv(met)
    assert (m["model"] == "r3d_18").all() and len(pd.read_csv(pred)) == 4


@pytest.mark.parametrize("bf16", [False, True])
def test_inference_autocasts_as_its_placement_says(bf16):
    """Inference runs a model in bf16 exactly when its placement (the training run's setting) says so, and
    returns float32 either way."""
    placement = Placement(torch.device("cpu"), bf16=bf16)
    seen = inference.forward(lambda x: x * torch.is_autocast_enabled("cpu"), torch.ones(2), placement)
    assert seen.dtype == torch.float32
    assert seen.tolist() == ([1.0, 1.0] if bf16 else [0.0, 0.0])
