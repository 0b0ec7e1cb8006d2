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

from pipeline.models import efficientnet_b3
from pipeline.models.image import ImageDetector
from pipeline.models.pretrained import NO_WEIGHTS, PretrainedError, PretrainedInfo
from pipeline.models.registry import ModelSpec, get_spec, zero_output_layer

HIDDEN = 1024
DROPOUT = 0.5


class RecurrentDetector(nn.Module):
    """(B, 3, T, H, W) clip -> per-frame CNN features -> RNN -> head on the final timestep -> (B,) logits.

    The frames of a clip are the backbone's batch: a clip laid out channels-last in 3D (`Placement`) gives
    channels-last frames here without a copy.
    """

    def __init__(self, spec: ModelSpec, backbone: ImageDetector, rnn: nn.RNNBase, head: nn.Sequential) -> None:
        super().__init__()
        self.spec = spec
        self.backbone = backbone
        self.rnn = rnn
        self.head = head
        zero_output_layer(head[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        net = self.backbone.net
        sequence = net.global_pool(net.forward_features(frames)).view(b, t, -1)
        return self.head(self.rnn(sequence)[0][:, -1]).squeeze(1)

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


def efficientnet_backbone(pretrained: str | None, state: dict | None) -> tuple[ImageDetector, PretrainedInfo]:
    """EfficientNet-B3 from a trained detector's state_dict, else from `pretrained` (ImageNet weights)."""
    spec = get_spec("efficientnet_b3")
    if state is None:
        return efficientnet_b3.build(spec, pretrained=pretrained)
    if pretrained not in (None, NO_WEIGHTS):
        raise ValueError("give either a backbone state_dict or a pretrained weights path, not both")
    cnn, _ = efficientnet_b3.build(spec, pretrained=NO_WEIGHTS)
    try:
        cnn.load_state_dict(state)
    except RuntimeError as exc:
        raise PretrainedError(f"backbone state_dict is not an efficientnet_b3 detector's: "
                              f"{str(exc).strip().splitlines()[0]}") from None
    return cnn, PretrainedInfo(True, "backbone: trained efficientnet_b3 state_dict", len(state))
