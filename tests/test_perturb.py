"""The perturbations of Table 4 do exactly what they say; the `perturb` command writes tidy log-losses."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from helpers_evaluate import TinyVideo, make_store, models_available, real_checkpoint
from pipeline.__main__ import main
from pipeline.evaluate.metrics import TIDY_COLUMNS
from pipeline.data.manifest import balanced_sample
from pipeline.evaluate.flips import ALTERATIONS, altered_clips, flip_every_second, flip_frames, shuffle_frames

torch.set_num_threads(1)


def clip(t: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(t, 6, 5, 3), dtype=np.uint8)


def flipped(a: np.ndarray) -> np.ndarray:
    return a[:, ::-1]


@pytest.mark.parametrize("k", [1, 3, 5, 16])
def test_flip_frames_flips_exactly_k(k):
    x = clip()
    y = flip_frames(x, k, np.random.default_rng(k))
    changed = [i for i in range(len(x)) if not np.array_equal(x[i], y[i])]
    assert len(changed) == k
    for i in range(len(x)):
        assert np.array_equal(y[i], flipped(x[i]) if i in changed else x[i])
    assert np.array_equal(x, clip())  # the input is left alone


def test_flip_frames_is_seeded():
    a = flip_frames(clip(), 3, np.random.default_rng(7))
    b = flip_frames(clip(), 3, np.random.default_rng(7))
    assert np.array_equal(a, b)


def test_flip_every_second():
    x = clip()
    y = flip_every_second(x)
    for i in range(len(x)):
        assert np.array_equal(y[i], flipped(x[i]) if i % 2 == 1 else x[i])


def test_shuffle_is_a_permutation_of_the_same_frames():
    x = clip()
    y = shuffle_frames(x, np.random.default_rng(0))
    assert y.shape == x.shape and not np.array_equal(x, y)
    match = [next(j for j in range(len(x)) if np.array_equal(y[i], x[j])) for i in range(len(y))]
    assert sorted(match) == list(range(len(x)))


def test_altered_clips_names_and_original():
    clips = altered_clips(clip(), seed=0, index=3)
    assert list(clips) == list(ALTERATIONS) == ["original", "flip1", "flip3", "flip5", "flip_every2", "shuffle"]
    assert np.array_equal(clips["original"], clip())


def test_balanced_sample_balances_classes():
    manifest = pd.DataFrame({"video_id": [f"v{i:02d}" for i in range(30)], "label": [0] * 5 + [1] * 25})
    picked = balanced_sample(manifest, 10, seed=0)
    assert len(picked) == 10 and (picked["label"] == 0).sum() == 5
    assert picked.equals(balanced_sample(manifest, 10, seed=0))
    assert len(balanced_sample(manifest, 100, seed=0)) == 30


def test_perturb_command(tmp_path, monkeypatch):
    manifest = make_store(tmp_path)
    monkeypatch.setattr("pipeline.evaluate.inference.load_model",
                        lambda path: (TinyVideo().eval(), {"model": "r3d_18", "pretrained": True}))
    met, pred = tmp_path / "m.csv", tmp_path / "p.csv"
    params = '{"max_videos": 4, "seed": 0, "batch_size": 4, "models": ["r3d_18"]}'
    assert main(["perturb", "--checkpoint", "x.pt", "--manifest", str(manifest), "--dataset", "dfdc",
                 "--condition", "all", "--out-metrics", str(met), "--out-predictions", str(pred),
                 "--params", params]) == 0
    m = pd.read_csv(met)
    assert list(m.columns) == TIDY_COLUMNS and (m["testset"] == "dfdc_perturb").all()
    assert set(m["metric"]) == {f"logloss:{p}" for p in ALTERATIONS} and set(m["class"]) == {"real", "fake"}
    p = pd.read_csv(pred)
    assert len(p) == 4 * len(ALTERATIONS) and p["probability"].between(0, 1).all()


@pytest.mark.skipif(not models_available(), reason="model registry not available")
def test_perturb_real_tiny_model(tmp_path):
    manifest = make_store(tmp_path)
    ckpt = real_checkpoint(tmp_path, "r3d_18", size=32)
    met = tmp_path / "m.csv"
    assert main(["perturb", "--checkpoint", str(ckpt), "--manifest", str(manifest), "--dataset", "dfdc",
                 "--condition", "all", "--out-metrics", str(met), "--out-predictions", str(tmp_path / "p.csv"),
                 "--params", '{"max_videos": 2, "batch_size": 6}']) == 0
    assert len(pd.read_csv(met)) == 2 * len(ALTERATIONS)
