"""S3D (Xie et al., 2018, "separable 3D" Inception) from torchvision, pretrained on Kinetics-400.

I3D's Inception-v1 with each 3x3x3 convolution separated into 1x3x3 then 3x1x1 (the nearest relative of I3D that
torchvision publishes). torchvision's `s3d` with one zero-initialised output. Differences from the published
model: one output instead of Kinetics' 400 classes; adaptive average pooling over (T, H, W) instead of the fixed
2x7x7 window followed by a mean (for 16 x 224 x 224 clips both give the mean of the 2 x 7 x 7 map; the adaptive
pool also takes demo sizes, where the fixed window does not fit); the 2x2x2 max pool before Mixed_5b rounds its
output size up (`ceil_mode`), so that clips of 4 frames (1 timestep there) pass; for even sizes, as at 16 x 224 x
224, it pools exactly as torchvision's.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.video import s3d

from pipeline.models.card import Detector, Weights
from pipeline.models.pretrained import PretrainedInfo, load_pretrained
from pipeline.models.registry import ModelSpec, zero_output_layer

DETECTOR = Detector(
    name="s3d",
    display="S3D",
    family="3d-cnn",
    rank=4,
    input_size=224,
    norm="kinetics",
    clip_len=16,
    params=7_911_073,
    params_source="torchvision s3d with 400 classes: 8,320,048 (S3D_Weights.KINETICS400_V1 meta num_params); "
                  "one output: 7,911,073",
    # no published deepfake recipe: R3D-18's Appendix A.4 values (this project's choice)
    hparams={"lr": 1.0e-5, "batch_size": 4, "weight_decay": 1.0e-7},
    # torchvision's S3D_Weights.KINETICS400_V1
    weights=(Weights(kind="torchvision", name="s3d-d76dad2f.pth", origin="https://download.pytorch.org/models"),),
    head="classifier",
    gradcam_layer="net.features",
    feature_layer="net.classifier.1",
)


class S3D(nn.Module):
    """torchvision's `s3d` (under `net.`) with one output: (B, 3, T, H, W) -> (B,) logits."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.net = s3d(weights=None, num_classes=1)
        self.net.avgpool = nn.AdaptiveAvgPool3d(1)
        pool = self.net.features[-3]  # MaxPool3d((2, 2, 2), (2, 2, 2)) before Mixed_5b
        assert isinstance(pool, nn.MaxPool3d) and pool.kernel_size == (2, 2, 2), pool
        pool.ceil_mode = True
        zero_output_layer(self.net.classifier[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def build(spec: ModelSpec, *, pretrained: str | None = None) -> tuple[S3D, PretrainedInfo]:
    """S3D, pretrained on Kinetics-400."""
    model = S3D(spec)
    return model, load_pretrained(model, DETECTOR, pretrained, published_into=model.net)
