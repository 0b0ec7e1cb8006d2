"""The I3D ResNet-50 of SlowFast (Feichtenhofer et al., 2019; "I3D-R50"), shared by FTCN and AltFreezing; no card.

Layout as PySlowFast builds `MODEL.ARCH: i3d` at depth 50 (facebookresearch/SlowFast, also vendored by
yinglinzheng/FTCN and ZhendongWang6/AltFreezing in `slowfast/models/video_model_builder.py` and
`resnet_helper.py`):

- stem: 5x7x7 convolution, stride (1, 2, 2), BatchNorm, ReLU, 1x3x3 max pool with stride (1, 2, 2);
- bottleneck stages of 3-4-6-3 blocks ("res2"-"res5"), widths 64-128-256-512 (outputs 4x that); in each block
  `conv1` is the 1x1 "a" convolution, temporal (3x1x1) where SlowFast's I3D has it (res2: every block; res3 and
  res4: every other block starting with the first; res5: the middle block) and 1x1x1 elsewhere, `conv2` the
  1x3x3 "b" convolution that carries the spatial stride (STRIDE_1X1: False), `conv3` the 1x1x1 "c" convolution;
  the shortcut of each stage's first block is a 1x1x1 convolution with the block's stride and a BatchNorm;
- a 2x1x1 temporal max pool after res2 (SlowFast's `pathway0_pool`, _POOL1["i3d"] = [2, 1, 1]).

The modules carry torchvision's / timm's ResNet-50 names (`conv1`, `bn1`, `layer1.0.conv2`, `layer3.0.downsample.0`,
`fc`), so that an ImageNet ResNet-50 state_dict inflates into it by name (`inflate_state_dict`): a 2D kernel of
the same spatial size is repeated over time and divided by the temporal size (I3D's inflation: a video of
identical frames gives the 2D network's activations); a 2D kernel whose 3D counterpart is 1x1 in space (FTCN's)
is summed over space first (the 1x1 kernel then answers a locally uniform image as the 3x3 one did).

`spatial_kernel=1` builds FTCN's variant (`temporal_only_conv` in FTCN's
`model/classifier/i3d_temporal_var_fix_dropout_tt_cfg.py`): every spatial kernel set to 1 (stem 5x1x1, `conv2`
1x1x1) and, as FTCN does for every spatially strided convolution (keep_stride_count 0), the stride replaced by a
1x2x2 max pool after that convolution's BatchNorm, so the feature maps keep I3D's resolution.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch
from torch import nn

from pipeline.models.card import Detector
from pipeline.models.pretrained import (NO_WEIGHTS, PretrainedInfo, find_cached, load_matching, load_pretrained,
                                        read_weights)

DEPTHS = (3, 4, 6, 3)
WIDTHS = (64, 128, 256, 512)
STRIDES = (1, 2, 2, 2)
# SlowFast's _TEMPORAL_KERNEL_BASIS["i3d"] with NUM_BLOCK_TEMP_KERNEL [[3], [4], [6], [3]]: the "a" kernel's
# temporal size of every block of res2-res5.
TEMPORAL_KERNELS = ((3, 3, 3), (3, 1, 3, 1), (3, 1, 3, 1, 3, 1), (1, 3, 1))
EXPANSION = 4


class Bottleneck3d(nn.Module):
    """conv1 (t x 1 x 1) -> conv2 (1 x k x k, spatial stride) -> conv3 (1 x 1 x 1), BatchNorm after each, plus the
    shortcut; ReLU after the sum. With k = 1 the stride becomes a 1x2x2 max pool after bn2 (FTCN)."""

    def __init__(self, in_channels: int, width: int, stride: int, temporal: int, spatial: int) -> None:
        super().__init__()
        out = width * EXPANSION
        pool = spatial == 1 and stride > 1
        conv_stride = (1, 1, 1) if pool else (1, stride, stride)
        self.conv1 = nn.Conv3d(in_channels, width, (temporal, 1, 1), padding=(temporal // 2, 0, 0), bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.conv2 = nn.Conv3d(width, width, (1, spatial, spatial), conv_stride, (0, spatial // 2, spatial // 2),
                               bias=False)
        self.bn2 = nn.BatchNorm3d(width)
        self.pool2 = nn.MaxPool3d((1, stride, stride)) if pool else nn.Identity()
        self.conv3 = nn.Conv3d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Sequential | None = None
        if stride > 1 or in_channels != out:
            self.downsample = nn.Sequential(nn.Conv3d(in_channels, out, 1, conv_stride, bias=False),
                                            nn.BatchNorm3d(out),
                                            *([nn.MaxPool3d((1, stride, stride))] if pool else []))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.pool2(self.bn2(self.conv2(x))))
        return self.relu(self.bn3(self.conv3(x)) + shortcut)


class ResNet3d50(nn.Module):
    """SlowFast's I3D-R50 without its head: (B, 3, T, H, W) -> (B, C, T/2, H/s, W/s) after the last stage built.

    stages: how many of the four bottleneck stages to build (FTCN: 3, its "stage 5" removed).
    spatial_kernel: 3 (I3D) or 1 (FTCN: no convolution sees spatial neighbours).
    """

    def __init__(self, stages: int = 4, spatial_kernel: int = 3) -> None:
        super().__init__()
        k = spatial_kernel
        stem_pool = k == 1  # FTCN: the stem's stride 2 becomes a max pool after bn1
        self.conv1 = nn.Conv3d(3, 64, (5, 7 if k > 1 else 1, 7 if k > 1 else 1),
                               (1, 1, 1) if stem_pool else (1, 2, 2), (2, 3 if k > 1 else 0, 3 if k > 1 else 0),
                               bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.pool1 = nn.MaxPool3d((1, 2, 2)) if stem_pool else nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
        self.temporal_pool = nn.MaxPool3d((2, 1, 1), (2, 1, 1))  # after layer1, as SlowFast's pathway0_pool
        self.stages = stages
        in_channels = 64
        for i in range(stages):
            blocks = [Bottleneck3d(in_channels if j == 0 else WIDTHS[i] * EXPANSION, WIDTHS[i],
                                   STRIDES[i] if j == 0 else 1, TEMPORAL_KERNELS[i][j], k) for j in range(DEPTHS[i])]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            in_channels = WIDTHS[i] * EXPANSION
        self.out_channels = in_channels
        for m in self.modules():
            if isinstance(m, nn.Conv3d):  # SlowFast's c2_msra_fill
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def residual_branch_ends(self) -> Iterator[nn.BatchNorm3d]:
        """The last BatchNorm of every residual branch (SlowFast's ZERO_INIT_FINAL_BN starts them at 0)."""
        return (m.bn3 for m in self.modules() if isinstance(m, Bottleneck3d))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.pool1(self.bn1(self.conv1(x)))))
        x = self.temporal_pool(self.layer1(x))
        for i in range(2, self.stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return x


def inflate_state_dict(state: Mapping[str, torch.Tensor], target: nn.Module) -> dict[str, torch.Tensor]:
    """`state` (an ImageNet ResNet-50's, 2D) with every 4D convolution kernel inflated to the shape of `target`'s
    tensor of the same name: (O, I, h, w) -> (O, I, t, h, w) repeated over t and divided by t; to
    (O, I, t, 1, 1) when `target` is 1x1 in space, summed over space first. Other tensors are passed unchanged
    (`load_matching` then rejects what still does not fit)."""
    shapes = {k: v.shape for k, v in target.state_dict().items()}
    out = dict(state)
    for key, tensor in state.items():
        shape = shapes.get(key)
        if shape is None or tensor.dim() != 4 or len(shape) != 5 or shape[:2] != tensor.shape[:2]:
            continue
        t, h, w = shape[2:]
        if (h, w) == (1, 1) and tensor.shape[2:] != (1, 1):
            tensor = tensor.sum(dim=(2, 3), keepdim=True)
        if tensor.shape[2:] == (h, w):
            out[key] = tensor.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
    return out


def load_inflated(model: nn.Module, card: Detector, pretrained: str | None,
                  published_into: nn.Module | None = None) -> PretrainedInfo:
    """`load_pretrained` for a detector built on `ResNet3d50`: a published (2D ImageNet ResNet-50) file is inflated
    into `published_into` (default the model) with `card.head` left random; one of this workflow's training
    checkpoints, and "none", go to `load_pretrained` unchanged (a checkpoint of the same detector loads in full)."""
    if pretrained == NO_WEIGHTS:
        return load_pretrained(model, card, pretrained)
    path = pretrained
    if path is None and not card.weights:
        return PretrainedInfo(False, f"random init: {card.name} publishes no weights (it trains from scratch)")
    if path is None:
        path, _ = find_cached(card)
        if path is None:
            return load_pretrained(model, card, None)  # random init, naming the places it looked
    state, own = read_weights(path)
    if own:
        return load_pretrained(model, card, str(path))
    target = published_into or model
    n = load_matching(target, inflate_state_dict(state, target), card.head, f"{path} (inflated)")
    return PretrainedInfo(True, str(path), n)
