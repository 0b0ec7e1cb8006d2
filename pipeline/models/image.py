"""Frame-level detectors from timm: a timm classifier with one output logit (shared by its detectors)."""
from __future__ import annotations

from collections.abc import Iterator

import timm
import torch
from timm.models.xception import Block as XceptionBlock
from torch import nn

from pipeline.models.card import Detector
from pipeline.models.pretrained import PretrainedInfo, load_pretrained
from pipeline.models.registry import ModelSpec, zero_output_layer, zero_residual_branches


class ImageDetector(nn.Module):
    """A timm classifier with one output: (B, 3, H, W) frames -> (B,) logits.

    The state_dict keys are timm's under `net.`; a trained `efficientnet_b3` detector's state_dict
    therefore loads as is into the backbone of the sequence models.
    """

    def __init__(self, net: nn.Module, spec: ModelSpec) -> None:
        super().__init__()
        self.net = net
        self.spec = spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(self.net.forward_features(x)).squeeze(1)


def residual_branch_ends(net: nn.Module) -> Iterator[nn.Module]:
    """The BatchNorm closing each residual branch of a timm Xception or EfficientNet: the last one of every
    Xception block, and the output BatchNorm of every EfficientNet block that has an identity shortcut."""
    for m in net.modules():
        if isinstance(m, XceptionBlock):
            yield [layer for layer in m.rep if isinstance(layer, nn.BatchNorm2d)][-1]
        elif getattr(m, "has_skip", False):  # timm's InvertedResidual (bn3) and DepthwiseSeparableConv (bn2)
            yield m.bn3 if hasattr(m, "bn3") else m.bn2


def timm_detector(spec: ModelSpec, card: Detector, arch: str, pretrained: str | None,
                  **kwargs) -> tuple[ImageDetector, PretrainedInfo]:
    """timm's `arch` with one output (zero-initialised) and zero-gamma residual branches, then its weights."""
    net = timm.create_model(arch, pretrained=False, num_classes=1, **kwargs)  # never downloads
    zero_output_layer(net.get_classifier())
    zero_residual_branches(residual_branch_ends(net))
    model = ImageDetector(net, spec)
    return model, load_pretrained(model, card, pretrained, published_into=net)
