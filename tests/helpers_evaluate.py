"""Tiny clip stores, stand-in models and checkpoints for the evaluation, perturbation and figure tests."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
from torch import nn

from pipeline.checkpoint import save_checkpoint
from pipeline.store import ClipStoreWriter, VideoCrops, encode_jpeg

MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)

# (video_id, label, method, n_frames): a short video (looped), several fake methods
VIDEOS = [
    ("real/000.mp4", 0, "real", 20), ("real/001.mp4", 0, "real", 7), ("real/002.mp4", 0, "real", 16),
    ("Deepfakes/000_001.mp4", 1, "Deepfakes", 18), ("Deepfakes/001_000.mp4", 1, "Deepfakes", 16),
    ("FaceSwap/000_001.mp4", 1, "FaceSwap", 33),
]


def make_store(tmp: Path, videos=VIDEOS, crop: int = 24, seed: int = 0) -> Path:
    """A clip store of random frames and its manifest CSV; returns the manifest path."""
    rng = np.random.default_rng(seed)
    store = tmp / "crops.h5"
    rows = []
    with ClipStoreWriter(store, crop_size=crop, jpeg_quality=95) as writer:
        for video_id, label, method, n in videos:
            frames = rng.integers(0, 256, size=(n, crop, crop, 3), dtype=np.uint8)
            key = writer.add(VideoCrops(video_id, [encode_jpeg(f) for f in frames], np.arange(n) / 3.0,
                                        np.arange(n), np.zeros((n, 4), np.float32)))
            rows.append({"video_id": video_id, "label": label, "method": method, "group": method,
                         "store": str(store), "key": key, "n_frames": n})
    manifest = tmp / "test.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


class TinyImage(nn.Module):
    """Stand-in image model: (B, 3, H, W) -> (B,) logits."""

    def __init__(self, size: int = 16):
        super().__init__()
        self.spec = SimpleNamespace(name="tiny_image", kind="image", input_size=size, mean=MEAN, std=STD, clip_len=1,
                                    channels_last=True, feature_layer="fc", gradcam_layer="")
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3))).squeeze(1)


class TinyVideo(nn.Module):
    """Stand-in video model: (B, 3, T, H, W) -> (B,) logits, with a Grad-CAM layer."""

    def __init__(self, size: int = 16, clip_len: int = 16):
        super().__init__()
        self.spec = SimpleNamespace(name="tiny_3d", kind="video", input_size=size, mean=MEAN, std=STD,
                                    clip_len=clip_len, channels_last=False, feature_layer="fc",
                                    gradcam_layer="gradcam_layer")
        self.gradcam_layer = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.gradcam_layer(x).mean(dim=(2, 3, 4))).squeeze(1)


def real_checkpoint(tmp: Path, name: str = "r3d_18", size: int = 32, pretrained: bool = False) -> Path:
    """A checkpoint of a registered model built at `size` with random weights, as `train` would write it."""
    from pipeline.models.registry import build_model

    torch.manual_seed(0)
    model, _ = build_model(name, image_size=size, pretrained="none")
    path = tmp / f"{name}.pt"
    save_checkpoint(path, model=name, state_dict=model.state_dict(), config={"train": {"image_size": size}},
                    preprocess={}, epoch=0, val_loss=0.0, pretrained=pretrained, pretrained_source="none",
                    spec={"name": name})
    return path


def models_available() -> bool:
    try:
        import pipeline.models.registry  # noqa: F401
    except ImportError:
        return False
    return True
