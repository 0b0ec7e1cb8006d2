"""EfficientNet-B3 + LSTM, after Guera and Delp (2019): the frozen trained EfficientNet-B3 detector on every
frame, a 2-layer LSTM(1024), and a 1024-512-256-1 ReLU head with Dropout after the LSTM and before the
second linear layer (sizes and rates: `pipeline/models/recurrent.py`)."""
from __future__ import annotations

from torch import nn

from pipeline.models.card import Detector
from pipeline.models.pretrained import PretrainedInfo
from pipeline.models.recurrent import DROPOUT, HIDDEN, RecurrentDetector, efficientnet_backbone
from pipeline.models.registry import ModelSpec

DETECTOR = Detector(
    name="efficientnet_b3_lstm",
    display="EffB3+LSTM",
    family="sequence",
    rank=0,
    input_size=224,
    norm="imagenet",
    clip_len=16,
    params=30_244_906,
    params_source="Table A.5: 30.245 M",
    hparams={"lr": 2.0e-6, "batch_size": 2, "weight_decay": 1.0e-5},  # Appendix A.4
    backbone="efficientnet_b3",
    feature_layer="head",
    channels_last=True,
)


def build(spec: ModelSpec, *, pretrained: str | None = None,
          backbone: dict | None = None) -> tuple[RecurrentDetector, PretrainedInfo]:
    cnn, info = efficientnet_backbone(pretrained, backbone)
    cnn.requires_grad_(False)
    rnn = nn.LSTM(cnn.net.num_features, HIDDEN, num_layers=2, batch_first=True)
    head = nn.Sequential(nn.Dropout(DROPOUT), nn.Linear(HIDDEN, 512), nn.ReLU(),
                         nn.Dropout(DROPOUT), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 1))
    return RecurrentDetector(spec, cnn, rnn, head).train(), info
