"""Video Swin Transformer, tiny (Liu et al., 2022) from torchvision, pretrained on Kinetics-400 (from ImageNet-1k).

torchvision's `swin3d_t` (patches 2x4x4, windows 8x7x7, embed 96, depths 2-2-6-2) as it is, with one
zero-initialised output. torchvision shrinks a window to the feature map where the map is smaller (16-frame
clips give 8 timesteps: the published 8x7x7 windows at 224 px) and pads maps to whole windows, so the relative
position tables, and the published weights, fit every input size. Differences from the published model: one
output instead of Kinetics' 400 classes; the protocol's 16-frame clips (torchvision evaluated the published
weights on 32-frame clips: `clip_len=32` in the weights' documentation).
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.video import swin3d_t

from pipeline.models.card import Detector, Weights
from pipeline.models.pretrained import PretrainedInfo, load_pretrained
from pipeline.models.registry import ModelSpec, zero_output_layer

DETECTOR = Detector(
    name="swin3d_t",
    display="Swin3D-T",
    family="video-transformer",
    rank=1,
    input_size=224,
    norm="imagenet",  # Swin3D_T_Weights.KINETICS400_V1.transforms(): ImageNet's mean and std
    clip_len=16,
    params=27_851_239,
    params_source="torchvision swin3d_t with 400 classes: 28,158,070 (Swin3D_T_Weights.KINETICS400_V1 meta "
                  "num_params); one output: 27,851,239",
    # no published deepfake recipe: R3D-18's Appendix A.4 values (this project's choice)
    hparams={"lr": 1.0e-5, "batch_size": 4, "weight_decay": 1.0e-7},
    # torchvision's Swin3D_T_Weights.KINETICS400_V1
    weights=(Weights(kind="torchvision", name="swin3d_t-7615ae03.pth", origin="https://download.pytorch.org/models"),),
    head="head",
    gradcam_layer="",  # its stages give (B, T, H, W, C) tokens of attention blocks, not a convolutional map
    feature_layer="net.head",
)


class Swin3DT(nn.Module):
    """torchvision's `swin3d_t` (under `net.`) with one output: (B, 3, T, H, W) -> (B,) logits."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.net = swin3d_t(weights=None, num_classes=1)
        zero_output_layer(self.net.head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def build(spec: ModelSpec, *, pretrained: str | None = None) -> tuple[Swin3DT, PretrainedInfo]:
    """Swin3D-T, pretrained on Kinetics-400."""
    model = Swin3DT(spec)
    return model, load_pretrained(model, DETECTOR, pretrained, published_into=model.net)
