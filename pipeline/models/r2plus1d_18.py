"""R(2+1)D-18 (Tran et al., 2018) from torchvision, pretrained on Kinetics-400.

Every 3x3x3 convolution of an R3D-18 is factorised into a 1x3x3 spatial and a 3x1x1 temporal convolution with a
BatchNorm and ReLU between them (the split AltFreezing freezes in turns). torchvision's `r2plus1d_18` as it is,
temporal strides included (T halves in layer2-4), with one zero-initialised output and zero-gamma residual
branches for random initialisation (pretrained weights replace those scales). Differences from the published
model: one output instead of Kinetics' 400 classes; the protocol's 224 px input (torchvision trained it on
112 x 112 crops of 16 frames).
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.video import r2plus1d_18
from torchvision.models.video.resnet import BasicBlock

from pipeline.models.card import Detector, Weights
from pipeline.models.pretrained import PretrainedInfo, load_pretrained
from pipeline.models.registry import ModelSpec, zero_output_layer, zero_residual_branches

DETECTOR = Detector(
    name="r2plus1d_18",
    display="R(2+1)D-18",
    family="3d-cnn",
    rank=2,
    input_size=224,
    norm="kinetics",
    clip_len=16,
    params=31_300_638,
    params_source="torchvision r2plus1d_18 with 400 classes: 31,505,325 (R2Plus1D_18_Weights.KINETICS400_V1 "
                  "meta num_params); one output: 31,300,638",
    # no published deepfake recipe: R3D-18's Appendix A.4 values (this project's choice)
    hparams={"lr": 1.0e-5, "batch_size": 4, "weight_decay": 1.0e-7},
    # torchvision's R2Plus1D_18_Weights.KINETICS400_V1
    weights=(Weights(kind="torchvision", name="r2plus1d_18-91a641e6.pth",
                     origin="https://download.pytorch.org/models"),),
    head="fc",
    gradcam_layer="net.layer4",
    feature_layer="net.fc",
)


class R2Plus1D18(nn.Module):
    """torchvision's `r2plus1d_18` (under `net.`) with one output: (B, 3, T, H, W) -> (B,) logits."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.net = r2plus1d_18(weights=None, num_classes=1)
        zero_output_layer(self.net.fc)
        zero_residual_branches(b.conv2[1] for b in self.net.modules() if isinstance(b, BasicBlock))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def build(spec: ModelSpec, *, pretrained: str | None = None) -> tuple[R2Plus1D18, PretrainedInfo]:
    """R(2+1)D-18, pretrained on Kinetics-400."""
    model = R2Plus1D18(spec)
    return model, load_pretrained(model, DETECTOR, pretrained, published_into=model.net)
