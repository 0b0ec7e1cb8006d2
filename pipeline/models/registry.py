"""The model registry: a name maps to a `ModelSpec` and a small builder function."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from collections.abc import Iterable
from typing import Callable, Literal

from torch import nn

from pipeline.models.pretrained import PretrainedInfo

Kind = Literal["image", "sequence", "3d"]
BuildFn = Callable[..., tuple[nn.Module, PretrainedInfo]]  # (spec, *, pretrained[, backbone]) -> (model, info)


@dataclass(frozen=True)
class ModelSpec:
    """What the data pipeline must know about a model, plus the paper's parameter count (Table A.5).

    `kind` fixes the input layout: "image" takes (B, 3, H, W) frames; "sequence" (CNN + RNN) and "3d"
    take (B, 3, T, H, W) clips of `clip_len` frames. `input_size` is the square side H = W.
    """

    name: str
    kind: Kind
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    clip_len: int
    paper_params: float  # millions

    @property
    def channels_last(self) -> bool:
        """Whether the model's weights (and 4D inputs) use channels-last memory: models of 2D convolutions (the
        image models and the sequence models' backbone), on every device. Their convolutions, depthwise ones
        above all, are faster that way on CUDA and on the CPU too (one thread, 64 px: a training step 1.7x for
        Xception, 1.2x for EfficientNet-B3; inference in batches of 32 1.6x and 1.1x, 2.1x and 2.8x in batches
        of 8); 3D convolutions gain nothing on the CPU."""
        return self.kind in ("image", "sequence")

    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape: (3, H, W) for image models, (3, T, H, W) for video models."""
        side = (self.input_size, self.input_size)
        return (3, *side) if self.kind == "image" else (3, self.clip_len, *side)


def zero_output_layer(layer: nn.Module) -> None:
    """Start a detector's output layer at zero weights and bias: every detector begins at p(fake) = 0.5.

    Libraries initialise classifiers for many classes; for one output some of those schemes are far too
    large (timm's EfficientNet draws U(-1/sqrt(fan_out), ...) = U(-1, 1) for one class, which gave
    initial logits of +-20 and training losses above 10). Pretrained files never hold our one-output
    head, so this is the head's initialisation whether or not the rest is pretrained.
    """
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def zero_residual_branches(norms: Iterable[nn.Module]) -> None:
    """Start the given BatchNorm layers, the last of each residual branch, at scale zero.

    Every residual block then begins as its shortcut, and a deep network from random weights as a shallow
    one that learns in far fewer steps ("zero-gamma": Goyal et al., 2017, "Accurate, Large Minibatch SGD";
    timm's ResNets and torchvision's `zero_init_residual` do the same). Pretrained weights, when they load,
    replace these scales like every other tensor, so this shapes random initialisation only. On the demo
    (64 px, from scratch) EfficientNet-B3 reached a training loss of 0.26 after 40 steps with it and 0.57
    without.
    """
    for norm in norms:
        nn.init.zeros_(norm.weight)


@dataclass(frozen=True)
class _Entry:
    spec: ModelSpec
    builder: BuildFn


_REGISTRY: dict[str, _Entry] = {}


def register(spec: ModelSpec) -> Callable[[BuildFn], BuildFn]:
    """Decorator: register `builder(spec, *, pretrained, [backbone])` under `spec.name`."""
    def decorator(builder: BuildFn) -> BuildFn:
        if spec.name in _REGISTRY:
            raise ValueError(f"model {spec.name!r} is registered twice")
        _REGISTRY[spec.name] = _Entry(spec, builder)
        return builder
    return decorator


def list_models() -> list[str]:
    """Registered model names, in registration order (the paper's order: image, sequence, 3D)."""
    return list(_REGISTRY)


def get_spec(name: str, *, image_size: int | None = None, clip_len: int | None = None) -> ModelSpec:
    """The spec of a registered model without building it; `image_size` overrides `input_size` and, for
    video models, `clip_len` the clip length (image models keep 1)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(_REGISTRY)}")
    spec = _REGISTRY[name].spec
    if image_size is not None:
        spec = dataclasses.replace(spec, input_size=int(image_size))
    if clip_len is not None and spec.kind != "image":
        spec = dataclasses.replace(spec, clip_len=int(clip_len))
    return spec


def build_model(name: str, *, image_size: int | None = None, clip_len: int | None = None,
                pretrained: str | None = None, backbone: dict | None = None) -> tuple[nn.Module, PretrainedInfo]:
    """Build a registered detector with one output logit.

    pretrained: None looks in the local weight caches (random init when nothing is there), a path loads
    that file (an error when missing or unloadable), "none" forces random init.
    backbone: for sequence models only, the `state_dict` of a trained `efficientnet_b3` detector, which
    initialises the per-frame CNN (the paper's "newly pretrained" backbone).
    """
    spec = get_spec(name, image_size=image_size, clip_len=clip_len)
    builder = _REGISTRY[name].builder
    if backbone is None:
        return builder(spec, pretrained=pretrained)
    if spec.kind != "sequence":
        raise ValueError(f"model {name!r} is not a sequence model and takes no backbone state_dict")
    return builder(spec, pretrained=pretrained, backbone=backbone)
