"""Image (frame-level) detectors from timm: XceptionNet and EfficientNet-B3 with one output logit."""
from __future__ import annotations

from collections.abc import Iterator

import timm
import torch
from timm.models.xception import Block as XceptionBlock
from torch import nn

from pipeline.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from pipeline.models.pretrained import PretrainedInfo, WeightSource, load_pretrained
from pipeline.models.registry import ModelSpec, register, zero_output_layer, zero_residual_branches

# timm fetches these from GitHub release URLs (into the torch hub cache) or from the HF hub.
XCEPTION_WEIGHTS = WeightSource(hub_files=("xception-43020ad28.pth",),
                                hf_repos=("timm/legacy_xception.tf_in1k",), head="fc")
EFFICIENTNET_B3_WEIGHTS = WeightSource(hub_files=("efficientnet_b3_ra2-cf984f9c.pth",),
                                       hf_repos=("timm/efficientnet_b3.ra2_in1k",), head="classifier")


class ImageDetector(nn.Module):
    """A timm classifier with one output: (B, 3, H, W) frames -> (B,) logits.

    The state_dict keys are timm's under `net.`; a trained `efficientnet_b3` detector's state_dict
    therefore loads as is into the backbone of the sequence models.
    """

    def __init__(self, net: nn.Module, spec: ModelSpec) -> None:
        super().__init__()
        self.net = net
        self.spec = spec

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled features (B, D), the classifier's input (before its dropout, if any)."""
        return self.net.global_pool(self.net.forward_features(x))

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


def _timm_detector(spec: ModelSpec, arch: str, weights: WeightSource, pretrained: str | None,
                   **kwargs) -> tuple[ImageDetector, PretrainedInfo]:
    net = timm.create_model(arch, pretrained=False, num_classes=1, **kwargs)  # never downloads
    zero_output_layer(net.get_classifier())
    zero_residual_branches(residual_branch_ends(net))
    info = load_pretrained(net, weights, pretrained)
    return ImageDetector(net, spec), info


@register(ModelSpec("xception", "image", 299, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 1, 20.809))
def xception(spec: ModelSpec, *, pretrained: str | None = None) -> tuple[ImageDetector, PretrainedInfo]:
    """XceptionNet, the FaceForensics++ baseline: timm's `legacy_xception` (ImageNet), no dropout."""
    return _timm_detector(spec, "legacy_xception", XCEPTION_WEIGHTS, pretrained)


@register(ModelSpec("efficientnet_b3", "image", 224, IMAGENET_MEAN, IMAGENET_STD, 1, 10.698))
def efficientnet_b3(spec: ModelSpec, *, pretrained: str | None = None) -> tuple[ImageDetector, PretrainedInfo]:
    """EfficientNet-B3 (ImageNet) with Dropout p = 0.3 before the output layer (Appendix A.4)."""
    return _timm_detector(spec, "efficientnet_b3", EFFICIENTNET_B3_WEIGHTS, pretrained, drop_rate=0.3)
