"""R3D-18 (Tran et al., 2018) from torchvision, without temporal downsampling (paper §3.1, Fig. 3)."""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.video.resnet import BasicBlock, BasicStem, Conv3DSimple, VideoResNet

from pipeline.models.card import Detector, Weights
from pipeline.models.pretrained import PretrainedInfo, load_pretrained
from pipeline.models.registry import ModelSpec, zero_output_layer, zero_residual_branches

DETECTOR = Detector(
    name="r3d_18",
    display="R3D-18",
    family="3d-cnn",
    rank=0,
    input_size=224,
    norm="imagenet",
    clip_len=16,
    params=33_166_785,
    params_source="Table A.5: 33.167 M",
    hparams={"lr": 1.0e-5, "batch_size": 4, "weight_decay": 1.0e-7},  # Appendix A.4
    # torchvision's R3D_18_Weights.KINETICS400_V1, which torch.hub caches under its URL's file name
    weights=(Weights(kind="torchvision", name="r3d_18-b3b3357e.pth", origin="https://download.pytorch.org/models"),),
    head="fc",
    gradcam_layer="layer4",
    feature_layer="fc",
)


class R3D18(VideoResNet):
    """torchvision's `r3d_18` with one output and temporal stride 1 everywhere.

    Stock R3D-18 halves T in the first block of layer2-4 (conv stride and the shortcut's downsampling
    conv, both (2, 2, 2)); here those strides are (1, 2, 2), so a 16-frame clip keeps 16 timesteps up to
    layer4 (512 x 16 x 7 x 7 for 112 x 112 input). Parameter shapes, hence keys and count, are unchanged.
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(BasicBlock, [Conv3DSimple] * 4, [2, 2, 2, 2], BasicStem, num_classes=1)
        self.spec = spec
        zero_output_layer(self.fc)
        zero_residual_branches(block.conv2[1] for block in self.modules() if isinstance(block, BasicBlock))
        for layer in (self.layer2, self.layer3, self.layer4):
            layer[0].conv1[0].stride = (1, 2, 2)
            layer[0].downsample[0].stride = (1, 2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(self.avgpool(x).flatten(1)).squeeze(1)


def build(spec: ModelSpec, *, pretrained: str | None = None) -> tuple[R3D18, PretrainedInfo]:
    """R3D-18, pretrained on Kinetics-400."""
    model = R3D18(spec)
    return model, load_pretrained(model, DETECTOR, pretrained)
