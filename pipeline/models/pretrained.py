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

NO_WEIGHTS = "none"


class PretrainedError(ValueError):
    """A weights file that is missing, unreadable or of another architecture."""


@dataclass(frozen=True)
class PretrainedInfo:
    """Where a model's initial weights came from; `source` goes into the checkpoint as is."""

    pretrained: bool
    source: str
    loaded_keys: int = 0


@dataclass(frozen=True)
class WeightSource:
    """Where one network's published weights land when torchvision, timm or a user downloads them.

    hub_files: file names under `torch.hub.get_dir()/checkpoints`, tried in order.
    hf_repos: Hugging Face repos (e.g. "timm/efficientnet_b3.ra2_in1k") looked up in the HF hub cache.
    head: name of the network's classifier module; its tensors are dropped when their shapes differ
    (1000 ImageNet / 400 Kinetics classes against our single output) and stay randomly initialised.
    """

    hub_files: tuple[str, ...] = ()
    hf_repos: tuple[str, ...] = ()
    head: str = ""


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, resolved from the environment as huggingface_hub does."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    return Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"


def cache_patterns(source: WeightSource) -> list[str]:
    """Glob patterns of the cached files that may hold `source`'s weights, in order of preference."""
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    patterns = [str(hub / name) for name in source.hub_files]
    for repo in source.hf_repos:
        snapshots = hf_hub_cache() / f"models--{repo.replace('/', '--')}" / "snapshots" / "*"
        patterns += [str(snapshots / "model.safetensors"), str(snapshots / "pytorch_model.bin")]
    return patterns


def find_cached(source: WeightSource) -> tuple[str | None, list[str]]:
    """The cached file `load_pretrained` uses for `source` (the first pattern that matches, its newest
    snapshot), or None; and the patterns it looked at."""
    patterns = cache_patterns(source)
    for pattern in patterns:
        if matches := glob.glob(pattern):
            return max(matches, key=os.path.getmtime), patterns
    return None, patterns


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state_dict from a .safetensors or torch file; a {"state_dict": ...} or {"model": ...} wrapper
    (training checkpoints, ours included) is unwrapped."""
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
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PretrainedError(f"{path}: not a loadable weights-only file ({reason})") from None
    while isinstance(state, dict) and isinstance(state.get("state_dict", state.get("model")), dict):
        state = state.get("state_dict", state.get("model"))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedError(f"{path}: does not hold a state_dict of tensors")
    return state


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


def load_pretrained(module: nn.Module, source: WeightSource, pretrained: str | None) -> PretrainedInfo:
    """Initialise `module` from `pretrained` (a path), from the caches (None) or not at all ("none")."""
    if pretrained == NO_WEIGHTS:
        return PretrainedInfo(False, "random init: pretrained='none'")
    if pretrained is None:
        pretrained, patterns = find_cached(source)
        if pretrained is None:
            return PretrainedInfo(False, f"random init: no weights found in {', '.join(patterns)}")
    n = load_matching(module, read_state_dict(pretrained), source.head, str(pretrained))
    return PretrainedInfo(True, str(pretrained), n)
