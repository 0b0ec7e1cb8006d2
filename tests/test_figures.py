"""Figure 4 (t-SNE) and Figure 5 (Grad-CAM) from tiny models on a tiny clip store."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from helpers_evaluate import VIDEOS, TinyImage, TinyVideo, make_store, models_available, real_checkpoint
from pipeline.__main__ import main
from pipeline.evaluate.inference import clip_features
from pipeline.figures.gradcam import gradcam
from pipeline.figures.tsne import TsneParams, embed

torch.set_num_threads(1)
PNG = b"\x89PNG\r\n\x1a\n"


def test_clip_features_one_vector_per_video(tmp_path):
    manifest = pd.read_csv(make_store(tmp_path))
    for model in (TinyImage(), TinyVideo()):
        feats = clip_features(model.eval(), manifest, 16, batch_size=5)
        assert feats.shape == (len(VIDEOS), 4) and np.isfinite(feats).all()


def test_embed_clips_perplexity_for_tiny_sets():
    xy = embed(np.random.default_rng(0).normal(size=(5, 8)), TsneParams(perplexity=40, iterations=250))
    assert xy.shape == (5, 2)


def test_gradcam_map_shape_and_probability():
    model = TinyVideo(size=16, clip_len=8).eval()
    cam, p = gradcam(model, torch.randn(3, 8, 16, 16))
    assert cam.shape == (8, 16, 16) and (cam >= 0).all() and 0 <= p <= 1


def test_tsne_and_gradcam_commands(tmp_path, monkeypatch):
    manifest = make_store(tmp_path)
    models = {"a.pt": (TinyImage().eval(), {"model": "xception"}), "b.pt": (TinyVideo().eval(), {"model": "r3d_18"})}
    monkeypatch.setattr("pipeline.evaluate.inference.load_model", lambda path: models[path])
    out = tmp_path / "fig4.png"
    assert main(["tsne", "--checkpoint", "a.pt", "b.pt", "--manifest", str(manifest), "--out", str(out),
                 "--params", '{"perplexity": 40, "iterations": 250, "seed": 0}']) == 0
    assert out.read_bytes().startswith(PNG)
    coords = pd.read_csv(tmp_path / "fig4.csv")
    assert len(coords) == 2 * len(VIDEOS) and {"model", "video_id", "method", "x", "y"} <= set(coords.columns)

    monkeypatch.setattr("pipeline.figures.gradcam.load_model", lambda path: models["b.pt"])
    out5 = tmp_path / "fig5.png"
    assert main(["gradcam", "--checkpoint", "b.pt", "--manifest", str(manifest), "--out", str(out5),
                 "--params", '{"video_index": 1, "seed": 0}']) == 0
    assert out5.read_bytes().startswith(PNG)


@pytest.mark.skipif(not models_available(), reason="model registry not available")
def test_gradcam_real_r3d(tmp_path):
    manifest = make_store(tmp_path, VIDEOS[:2])
    ckpt = real_checkpoint(tmp_path, "r3d_18", size=32)
    out = tmp_path / "fig5.png"
    assert main(["gradcam", "--checkpoint", str(ckpt), "--manifest", str(manifest), "--out", str(out)]) == 0
    assert out.read_bytes().startswith(PNG)
