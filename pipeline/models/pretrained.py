"""Pretrained weights from local files only: the torch hub cache, the Hugging Face cache or a given path.

Nothing is ever downloaded: timm and torchvision models are created without weights and the files they
would have fetched are looked up where those libraries cache them. Every file loads with
`weights_only=True` (or through safetensors), so a weights file cannot run code.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pipeline.checkpoint import FORMAT as CHECKPOINT_FORMAT
from pipeline.checkpoint import load_failure
from pipeline.models.card import Detector, Weights

NO_WEIGHTS = "none"


class PretrainedError(ValueError):
    """A weights file that is missing, unreadable or of another architecture."""


@dataclass(frozen=True)
class PretrainedInfo:
    """Where a model's initial weights came from; `source` goes into the checkpoint as is."""

    pretrained: bool
    source: str
    loaded_keys: int = 0


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, resolved from the environment as huggingface_hub does."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    return Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"


def hub_checkpoints() -> Path:
    """torch.hub's checkpoint folder, where torchvision (and these models) look for hub files."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def hf_repo_cache(repo: str) -> Path:
    """The Hugging Face cache folder of a repo (`timm/efficientnet_b3.ra2_in1k`)."""
    return hf_hub_cache() / f"models--{repo.replace('/', '--')}"


def cache_pattern(weights: Weights) -> str:
    """Where a published file lands when its library (or `weights fetch`) downloads it: a glob over the
    snapshots of its Hugging Face repo, or its name in the torch hub checkpoints."""
    if weights.kind == "hf":
        return str(hf_repo_cache(weights.origin) / "snapshots" / "*" / weights.name)
    return str(hub_checkpoints() / weights.name)


def cached_file(weights: Weights) -> Path | None:
    """The cached copy of a published file (for the hub, the newest snapshot holding it), or None."""
    matches = [m for m in glob.glob(cache_pattern(weights)) if os.path.isfile(m)]
    return Path(max(matches, key=os.path.getmtime)) if matches else None


def find_cached(card: Detector) -> tuple[Path | None, list[str]]:
    """The cached file `load_pretrained` uses for a detector (the first of its `weights` present), or None;
    and the places it looked."""
    for weights in card.weights:
        if (path := cached_file(weights)) is not None:
            return path, [cache_pattern(w) for w in card.weights]
    return None, [cache_pattern(w) for w in card.weights]


def read_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], str]:
    """A state_dict from a .safetensors or torch file, and the detector it belongs to when the file is one
    of this workflow's training checkpoints ("" otherwise); a {"state_dict": ...} or {"model": ...}
    wrapper (training checkpoints) is unwrapped."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedError(f"{path}: no such weights file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear line
        raise PretrainedError(load_failure(path, exc, "state_dict file")) from None
    own = state.get("model", "") if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT else ""
    while isinstance(state, dict) and isinstance(state.get("state_dict", state.get("model")), dict):
        state = state.get("state_dict", state.get("model"))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedError(f"{path}: does not hold a state_dict of tensors")
    return state, own if isinstance(own, str) else ""


def load_matching(module: nn.Module, state: dict[str, torch.Tensor], head: str, origin: str) -> int:
    """Copy `state` into `module` by name and return how many tensors were loaded.

    Every tensor of `module` must be present with its shape, except the head's (kept random when
    absent or of another shape) and BatchNorm's `num_batches_tracked` (absent from old files);
    anything else means the file is of another architecture, which is an error.
    """
    target = module.state_dict()
    in_head = (lambda key: key.startswith(head + ".")) if head else (lambda key: False)
    loaded, missing, mismatched = {}, [], []
    for key, tensor in target.items():
        if key not in state:
            if not (in_head(key) or key.endswith("num_batches_tracked")):
                missing.append(key)
        elif state[key].shape == tensor.shape:
            loaded[key] = state[key]
        elif not in_head(key):
            mismatched.append(f"{key} {tuple(state[key].shape)} != {tuple(tensor.shape)}")
    if missing or mismatched:
        examples = "; ".join([f"missing {k}" for k in missing[:2]] + mismatched[:2])
        raise PretrainedError(
            f"{origin}: matches only {len(loaded)} of {len(target)} tensors of the model "
            f"({len(missing)} missing, {len(mismatched)} of another shape, e.g. {examples})")
    module.load_state_dict(loaded, strict=False)
    return len(loaded)


def load_pretrained(model: nn.Module, card: Detector, pretrained: str | None,
                    published_into: nn.Module | None = None) -> PretrainedInfo:
    """Initialise a detector from `pretrained` (a path), from the caches (None) or not at all ("none").

    A published file (ImageNet or Kinetics weights) loads into `published_into` (the library network inside
    the detector; default the detector itself), its classifier (`card.head`) left random when its shape
    differs. A training checkpoint of this same detector (e.g. the demo's pretraining run) loads in full.
    """
    if pretrained == NO_WEIGHTS:
        return PretrainedInfo(False, "random init: pretrained='none'")
    if pretrained is None:
        pretrained, patterns = find_cached(card)
        if pretrained is None:
            return PretrainedInfo(False, f"random init: no weights found in {', '.join(patterns)}")
    state, own = read_weights(pretrained)
    if own and own != card.name:
        raise PretrainedError(f"{pretrained}: a checkpoint of {own}, not of {card.name}")
    target = model if own else (published_into or model)
    n = load_matching(target, state, "" if own else card.head, str(pretrained))
    return PretrainedInfo(True, str(pretrained), n)
