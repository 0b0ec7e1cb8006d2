"""XceptionNet, the FaceForensics++ baseline: timm's `legacy_xception` (ImageNet), no dropout."""
from __future__ import annotations

from pipeline.models.card import Detector, Weights
from pipeline.models.image import ImageDetector, timm_detector
from pipeline.models.pretrained import PretrainedInfo
from pipeline.models.registry import ModelSpec

DETECTOR = Detector(
    name="xception",
    display="Xception",
    family="image",
    rank=0,
    input_size=299,
    norm="inception",
    params=20_809_001,
    params_source="Table A.5: 20.809 M",
    hparams={"lr": 1.0e-4, "batch_size": 8, "weight_decay": 1.0e-5},  # Appendix A.4
    weights=(Weights(kind="hf", name="model.safetensors", origin="timm/legacy_xception.tf_in1k"),),
    head="fc",
    feature_layer="net.fc",
    channels_last=True,
)


def build(spec: ModelSpec, *, pretrained: str | None = None) -> tuple[ImageDetector, PretrainedInfo]:
    return timm_detector(spec, DETECTOR, "legacy_xception", pretrained)
