"""EfficientNet-B3 (ImageNet, timm) with Dropout p = 0.3 before the output layer (Appendix A.4)."""
from __future__ import annotations

from pipeline.models.card import Detector, Weights
from pipeline.models.image import ImageDetector, timm_detector
from pipeline.models.pretrained import PretrainedInfo
from pipeline.models.registry import ModelSpec

DETECTOR = Detector(
    name="efficientnet_b3",
    display="EfficientNet-B3",
    family="image",
    rank=1,
    input_size=224,
    norm="imagenet",
    params=10_697_769,
    params_source="Table A.5: 10.698 M",
    hparams={"lr": 1.0e-4, "batch_size": 8, "weight_decay": 1.0e-5},  # Appendix A.4
    weights=(Weights(kind="hf", name="model.safetensors", origin="timm/efficientnet_b3.ra2_in1k"),),
    head="classifier",
    feature_layer="net.classifier",
    channels_last=True,
)


def build(spec: ModelSpec, *, pretrained: str | None = None) -> tuple[ImageDetector, PretrainedInfo]:
    return timm_detector(spec, DETECTOR, "efficientnet_b3", pretrained, drop_rate=0.3)
