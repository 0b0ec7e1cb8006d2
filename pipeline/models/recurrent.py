"""Sequence (CNN + RNN) detectors: EfficientNet-B3 on every frame, then an LSTM or a bidirectional GRU.

Sizes. The paper gives only the totals of Table A.5 (30.245 M and 26.441 M). Both are met, to the
parameter count's last reported digit, by hidden size 1024 and a 1024 -> 512 -> 256 -> 1 LSTM head
*when the backbone is the whole trained `efficientnet_b3` detector, its unused 1536 -> 1 classifier
(1,537 parameters) included*: 30,244,906 and 26,440,746. Without that classifier the totals are
30.243 M and 26.439 M, and a search over LSTM hidden sizes in steps of 64 and funnel heads in steps of
32 finds no combination that gives 30.245 M. So the backbone here is exactly the image detector, which
also lets a trained `efficientnet_b3` checkpoint load into it strictly; its classifier is never used.

Dropout. The paper places the Dropout layers but gives no rate; 0.5 (as in Guera and Delp, 2019) is ours.

Frozen blocks (biGRU). "The first 20 out of 25 convolutional blocks" matches no count of timm's
EfficientNet-B3, which has conv_stem, 26 blocks in 7 stages (2 depthwise-separable + 24 inverted-residual
MBConv6) and the 1x1 conv_head: 28 units. (25 is likely B0's 18 layers times B3's depth factor 1.4.)
We count the 24 MBConv6 blocks of stages 1-6 plus conv_head as the 25 blocks; the stem and the two
stage-0 blocks precede them and are frozen too. The last five units stay trainable: blocks[5][4],
blocks[5][5], blocks[6][0], blocks[6][1] and conv_head/bn2 (5.58 M parameters).

Frozen means frozen: no gradients and BatchNorm statistics kept (frozen BatchNorm layers stay in eval
mode when the model is put in training mode).
"""
from __future__ import annotations

import torch
from torch import nn

from pipeline.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from pipeline.models.image import ImageDetector, efficientnet_b3
from pipeline.models.pretrained import NO_WEIGHTS, PretrainedError, PretrainedInfo
from pipeline.models.registry import ModelSpec, get_spec, register, zero_output_layer

HIDDEN = 1024
DROPOUT = 0.5
BIGRU_FROZEN_BLOCKS = 20  # of the 25 counted by `counted_blocks`


class RecurrentDetector(nn.Module):
    """(B, 3, T, H, W) clip -> per-frame CNN features -> RNN -> head on the final timestep -> (B,) logits."""

    def __init__(self, spec: ModelSpec, backbone: ImageDetector, rnn: nn.RNNBase, head: nn.Sequential) -> None:
        super().__init__()
        self.spec = spec
        self.backbone = backbone
        self.rnn = rnn
        self.head = head
        zero_output_layer(head[-1])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The RNN output at the final timestep (B, D), the head's input."""
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w).contiguous(memory_format=torch.channels_last)
        sequence = self.backbone.features(frames).view(b, t, -1)
        return self.rnn(sequence)[0][:, -1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)

    def train(self, mode: bool = True) -> RecurrentDetector:
        """Switch modes, keeping the frozen BatchNorm layers of the backbone in eval mode."""
        super().train(mode)
        for module in self.backbone.modules():
            if isinstance(module, nn.BatchNorm2d) and not module.weight.requires_grad:
                module.eval()
        return self


def counted_blocks(backbone: ImageDetector) -> list[nn.Module]:
    """The 25 "convolutional blocks" of EfficientNet-B3 as counted here (module docstring), in order."""
    net = backbone.net
    blocks = [block for stage in net.blocks[1:] for block in stage]
    return [*blocks, nn.ModuleList([net.conv_head, net.bn2])]


def _backbone(pretrained: str | None, state: dict | None) -> tuple[ImageDetector, PretrainedInfo]:
    """EfficientNet-B3 from a trained detector's state_dict, else from `pretrained` (ImageNet weights)."""
    if state is None:
        return efficientnet_b3(get_spec("efficientnet_b3"), pretrained=pretrained)
    if pretrained not in (None, NO_WEIGHTS):
        raise ValueError("give either a backbone state_dict or a pretrained weights path, not both")
    cnn, _ = efficientnet_b3(get_spec("efficientnet_b3"), pretrained=NO_WEIGHTS)
    try:
        cnn.load_state_dict(state)
    except RuntimeError as exc:
        raise PretrainedError(f"backbone state_dict is not an efficientnet_b3 detector's: "
                              f"{str(exc).strip().splitlines()[0]}") from None
    return cnn, PretrainedInfo(True, "backbone: trained efficientnet_b3 state_dict", len(state))


@register(ModelSpec("efficientnet_b3_lstm", "sequence", 224, IMAGENET_MEAN, IMAGENET_STD, 16, 30.245))
def efficientnet_b3_lstm(spec: ModelSpec, *, pretrained: str | None = None,
                         backbone: dict | None = None) -> tuple[RecurrentDetector, PretrainedInfo]:
    """After Guera and Delp (2019): frozen backbone, 2-layer LSTM(1024), FC 1024-512-256-1 with ReLU;
    Dropout after the LSTM and before the second linear layer."""
    cnn, info = _backbone(pretrained, backbone)
    cnn.requires_grad_(False)
    rnn = nn.LSTM(cnn.net.num_features, HIDDEN, num_layers=2, batch_first=True)
    head = nn.Sequential(nn.Dropout(DROPOUT), nn.Linear(HIDDEN, 512), nn.ReLU(),
                         nn.Dropout(DROPOUT), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 1))
    return RecurrentDetector(spec, cnn, rnn, head).train(), info


@register(ModelSpec("efficientnet_b3_bigru", "sequence", 224, IMAGENET_MEAN, IMAGENET_STD, 16, 26.441))
def efficientnet_b3_bigru(spec: ModelSpec, *, pretrained: str | None = None,
                          backbone: dict | None = None) -> tuple[RecurrentDetector, PretrainedInfo]:
    """After Sabir et al. (2019): backbone with its first 20 of 25 blocks frozen, 1-layer biGRU(1024),
    Dropout, one output layer on the final timestep (so the loss sees that timestep only)."""
    cnn, info = _backbone(pretrained, backbone)
    net = cnn.net
    for module in (net.conv_stem, net.bn1, net.blocks[0], *counted_blocks(cnn)[:BIGRU_FROZEN_BLOCKS],
                   net.classifier):  # the classifier is unused: it gets no gradient anyway
        module.requires_grad_(False)
    rnn = nn.GRU(net.num_features, HIDDEN, batch_first=True, bidirectional=True)
    head = nn.Sequential(nn.Dropout(DROPOUT), nn.Linear(2 * HIDDEN, 1))
    return RecurrentDetector(spec, cnn, rnn, head).train(), info
