"""Build a detector by name: its card (`pipeline/models/card.py`) and its module's `build` function.

The registry imports a detector's module only when that detector is built, so a job imports the code of
the model it runs and nothing else (and declares exactly that code as its input: `rules/common.smk`).
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from pipeline.models import card as cards_module
from pipeline.models.card import Detector
from pipeline.models.pretrained import PretrainedInfo


@dataclass(frozen=True)
class ModelSpec:
    """What the data pipeline needs of a built detector: its input layout, size, normalisation and clip length.

    `kind` "image" takes (B, 3, H, W) frames; "video" takes (B, 3, T, H, W) clips of `clip_len` frames.
    `feature_layer` and `gradcam_layer` name modules (see `features` and `gradcam_module`).
    """

    name: str
    kind: str
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    clip_len: int
    channels_last: bool = False
    feature_layer: str = ""
    gradcam_layer: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape: (3, H, W) for image models, (3, T, H, W) for video models."""
        side = (self.input_size, self.input_size)
        return (3, *side) if self.kind == "image" else (3, self.clip_len, *side)

    def record(self) -> dict[str, Any]:
        """The spec as plain data, for checkpoints."""
        return dataclasses.asdict(self)


def zero_output_layer(layer: nn.Module) -> None:
    """Start a detector's output layer at zero weights and bias: every detector begins at p(fake) = 0.5.

    Libraries initialise classifiers for many classes; for one output some of those schemes are far too
    large (timm's EfficientNet draws U(-1/sqrt(fan_out), ...) = U(-1, 1) for one class). Published files
    never hold our one-output head, so this is the head's initialisation whether or not the rest is
    pretrained.
    """
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def zero_residual_branches(norms: Iterable[nn.Module]) -> None:
    """Start the given BatchNorm layers, the last of each residual branch, at scale zero.

    Every residual block then begins as its shortcut, and a deep network from random weights as a shallow
    one that learns in far fewer steps ("zero-gamma": Goyal et al., 2017; torchvision's
    `zero_init_residual`). Pretrained weights replace these scales, so this shapes random initialisation only.
    """
    for norm in norms:
        nn.init.zeros_(norm.weight)


def cards(plugins: Iterable[str] = ()) -> dict[str, Detector]:
    """Every detector's card (the package's and the plugins'), in table order."""
    return cards_module.catalogue(tuple(plugins))


def list_models(plugins: Iterable[str] = ()) -> list[str]:
    """Detector names in table order (image, sequence, 3D CNN, video transformer)."""
    return list(cards(plugins))


def get_card(name: str, plugins: Iterable[str] = ()) -> Detector:
    known = cards(plugins)
    if name not in known:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(known)}")
    return known[name]


def get_spec(name: str, *, image_size: int | None = None, clip_len: int | None = None,
             options: Mapping[str, Any] | None = None, plugins: Iterable[str] = ()) -> ModelSpec:
    """The spec of a detector without building it; `image_size` overrides its input size and, for video
    models, `clip_len` its clip length (image models keep 1); `options` override the card's options."""
    card = get_card(name, plugins)
    unknown = sorted(set(options or {}) - set(card.options))
    if unknown:
        raise ValueError(f"model {name!r} has no option {', '.join(unknown)}; its options: "
                         f"{', '.join(card.options) or 'none'}")
    video = card.kind == "video"
    return ModelSpec(name=name, kind=card.kind, input_size=int(image_size or card.input_size), mean=card.mean,
                     std=card.std, clip_len=int(clip_len) if video and clip_len else card.clip_len,
                     channels_last=card.channels_last, feature_layer=card.feature_layer,
                     gradcam_layer=card.gradcam_layer, options={**card.options, **(options or {})})


def detector_module(card: Detector) -> ModuleType:
    """Import the module that builds `card`'s detector (a plugin file by path)."""
    if not card.module.endswith(".py"):
        return importlib.import_module(card.module)
    name = f"stdd_plugin_{Path(card.module).stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, card.module)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def build_model(name: str, *, image_size: int | None = None, clip_len: int | None = None,
                pretrained: str | None = None, backbone: dict | None = None,
                hparams: Mapping[str, Any] | None = None, plugins: Iterable[str] = ()
                ) -> tuple[nn.Module, PretrainedInfo]:
    """Build a detector with one output logit; the model carries its `spec`.

    pretrained: None looks in the local weight caches (random init when nothing is there), a path loads
    that file (an error when missing or unloadable), "none" forces random init.
    backbone: for detectors whose card names a `backbone`, the `state_dict` of that trained detector.
    hparams: a run's hyper-parameters; those that are options of the detector's card set its options.
    """
    card = get_card(name, plugins)
    options = {k: v for k, v in (hparams or {}).items() if k in card.options}
    spec = get_spec(name, image_size=image_size, clip_len=clip_len, options=options, plugins=plugins)
    if backbone is not None and not card.backbone:
        raise ValueError(f"model {name!r} has no backbone detector and takes no backbone state_dict")
    kwargs = {"backbone": backbone} if card.backbone else {}
    model, info = detector_module(card).build(spec, pretrained=pretrained, **kwargs)
    model.spec = spec
    return model, info


def features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Pre-classifier features (B, D): the input of the detector's `feature_layer` during a forward pass."""
    seen: list[torch.Tensor] = []
    layer = model.get_submodule(model.spec.feature_layer)
    handle = layer.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        model(x)
    finally:
        handle.remove()
    return seen[0].flatten(1)


def gradcam_module(model: nn.Module) -> nn.Module | None:
    """The module whose activations Grad-CAM weighs, or None when the detector declares none."""
    name = getattr(model.spec, "gradcam_layer", "")
    return model.get_submodule(name) if name else None


def step_callbacks(model: nn.Module) -> Iterator[Any]:
    """A detector's own per-step training hook (`before_step(step)`), when its module defines one."""
    hook = getattr(model, "before_step", None)
    if callable(hook):
        yield hook
