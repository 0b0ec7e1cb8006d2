"""R3D-18 (Tran et al., 2018) from torchvision, without temporal downsampling (paper §3.1, Fig. 3)."""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.video import R3D_18_Weights
from torchvision.models.video.resnet import BasicBlock, BasicStem, Conv3DSimple, VideoResNet

from pipeline.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from pipeline.models.pretrained import PretrainedInfo, WeightSource, load_pretrained
from pipeline.models.registry import ModelSpec, register, zero_output_layer, zero_residual_branches

# torchvision downloads the Kinetics-400 weights into the torch hub cache under their URL's file name.
R3D_18_WEIGHTS = WeightSource(hub_files=(R3D_18_Weights.KINETICS400_V1.url.rsplit("/", 1)[-1],), head="fc")


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

    @property
    def gradcam_layer(self) -> nn.Module:
        """The last convolutional stage, whose activations Grad-CAM weighs (Figure 5)."""
        return self.layer4

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled layer4 features (B, 512), the classifier's input."""
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.avgpool(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x)).squeeze(1)


@register(ModelSpec("r3d_18", "3d", 224, IMAGENET_MEAN, IMAGENET_STD, 16, 33.167))
def r3d_18(spec: ModelSpec, *, pretrained: str | None = None) -> tuple[R3D18, PretrainedInfo]:
    """R3D-18, pretrained on Kinetics-400 (torchvision `R3D_18_Weights.KINETICS400_V1`)."""
    model = R3D18(spec)
    return model, load_pretrained(model, R3D_18_WEIGHTS, pretrained)
