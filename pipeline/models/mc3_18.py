"""MC3-18 (Tran et al., 2018, "mixed convolutions") from torchvision, pretrained on Kinetics-400.

An R3D-18 whose 3x3x3 convolutions are kept in the stem and layer1 only; layer2-4 convolve in space alone
(1x3x3, spatial strides only, so T is kept after the stem). torchvision's `mc3_18` as it is, with one
zero-initialised output and zero-gamma residual branches for random initialisation (pretrained weights replace
those scales). Differences from the published model: one output instead of Kinetics' 400 classes; the
protocol's 224 px input (torchvision trained it on 112 x 112 crops of 16 frames).
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.video import mc3_18
from torchvision.models.video.resnet import BasicBlock

from pipeline.models.card import Detector, Weights
from pipeline.models.pretrained import PretrainedInfo, load_pretrained
from pipeline.models.registry import ModelSpec, zero_output_layer, zero_residual_branches

DETECTOR = Detector(
    name="mc3_18",
    display="MC3-18",
    family="3d-cnn",
    rank=3,
    input_size=224,
    norm="kinetics",
    clip_len=16,
    params=11_490_753,
    params_source="torchvision mc3_18 with 400 classes: 11,695,440 (MC3_18_Weights.KINETICS400_V1 meta "
                  "num_params); one output: 11,490,753",
    # no published deepfake recipe: R3D-18's Appendix A.4 values (this project's choice)
    hparams={"lr": 1.0e-5, "batch_size": 4, "weight_decay": 1.0e-7},
    # torchvision's MC3_18_Weights.KINETICS400_V1
    weights=(Weights(kind="torchvision", name="mc3_18-a90a0ba3.pth", origin="https://download.pytorch.org/models"),),
    head="fc",
    gradcam_layer="net.layer4",
    feature_layer="net.fc",
)


class MC318(nn.Module):
    """torchvision's `mc3_18` (under `net.`) with one output: (B, 3, T, H, W) -> (B,) logits."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.net = mc3_18(weights=None, num_classes=1)
        zero_output_layer(self.net.fc)
        zero_residual_branches(b.conv2[1] for b in self.net.modules() if isinstance(b, BasicBlock))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def build(spec: ModelSpec, *, pretrained: str | None = None) -> tuple[MC318, PretrainedInfo]:
    """MC3-18, pretrained on Kinetics-400."""
    model = MC318(spec)
    return model, load_pretrained(model, DETECTOR, pretrained, published_into=model.net)
