"""EfficientNet-B3 + biGRU, after Sabir et al. (2019): the trained EfficientNet-B3 detector with its first 20
of 25 blocks frozen (which 25: `pipeline/models/recurrent.py`), a 1-layer bidirectional GRU(1024), Dropout,
and one output layer on the final timestep (so the loss sees that timestep only, §3.2)."""
from __future__ import annotations

from torch import nn

from pipeline.models.card import Detector
from pipeline.models.pretrained import PretrainedInfo
from pipeline.models.recurrent import DROPOUT, HIDDEN, RecurrentDetector, counted_blocks, efficientnet_backbone
from pipeline.models.registry import ModelSpec

FROZEN_BLOCKS = 20  # of the 25 counted by `counted_blocks`

DETECTOR = Detector(
    name="efficientnet_b3_bigru",
    display="EffB3+biGRU",
    family="sequence",
    rank=1,
    input_size=224,
    norm="imagenet",
    clip_len=16,
    params=26_440_746,
    params_source="Table A.5: 26.441 M",
    hparams={"lr": 2.0e-6, "batch_size": 2, "weight_decay": 1.0e-5},  # Appendix A.4
    backbone="efficientnet_b3",
    feature_layer="head",
    channels_last=True,
)


def build(spec: ModelSpec, *, pretrained: str | None = None,
          backbone: dict | None = None) -> tuple[RecurrentDetector, PretrainedInfo]:
    cnn, info = efficientnet_backbone(pretrained, backbone)
    net = cnn.net
    for module in (net.conv_stem, net.bn1, net.blocks[0], *counted_blocks(cnn)[:FROZEN_BLOCKS],
                   net.classifier):  # the classifier is unused: it gets no gradient anyway
        module.requires_grad_(False)
    rnn = nn.GRU(net.num_features, HIDDEN, batch_first=True, bidirectional=True)
    head = nn.Sequential(nn.Dropout(DROPOUT), nn.Linear(2 * HIDDEN, 1))
    return RecurrentDetector(spec, cnn, rnn, head).train(), info
