"""Are the pretrained weights training will load present and verified? (`weights check`)

Looks where the models themselves look (`pipeline.models.pretrained.find_cached` with each model's
`WeightSource`), so what is checked is what training loads. The workflow calls `check_weights`
before training on real data, unless `pretrained.allow_random_init` is set.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from pipeline.models.pretrained import NO_WEIGHTS, WeightSource, find_cached
from pipeline.weights.lock import DEFAULT_LOCK, WeightsLock
from pipeline.weights.registry import MODELS, needed
from pipeline.weights.verify import Verdict, assess

FETCH = "python -m pipeline weights fetch"


def weight_source(model: str) -> WeightSource:
    """Where the model looks for its weights (imports the model code, hence timm and torchvision)."""
    from pipeline.models import i3d, image, r3d

    return {"xception": image.XCEPTION_WEIGHTS, "efficientnet_b3": image.EFFICIENTNET_B3_WEIGHTS,
            "r3d_18": r3d.R3D_18_WEIGHTS, "i3d_rgb": i3d.I3D_WEIGHTS}[model]


def loaded_file(model: str) -> Path | None:
    """The cached file the model would load, or None (it would start from random weights)."""
    path, _ = find_cached(weight_source(model))
    return Path(path) if path else None


def model_problem(model: str, path: Path | None, verdict: Verdict | None, lock: WeightsLock) -> str:
    """One line saying what is wrong with the model's weights file, or "" when it is fine."""
    if path is None:
        first = MODELS[model].files[0]
        names = " or ".join(w.name for w in MODELS[model].files)
        return f"{model}: {names} missing: put {first.name} in {first.where()} or run `{FETCH} {model}`"
    if verdict.problem:
        return f"{model}: {path}: {verdict.problem}: delete it and run `{FETCH} {model}`"
    if not verdict.verified_by:
        return (f"{model}: {path}: no published checksum and no entry in {lock.path}: "
                f"run `{FETCH} {model}` to record it")
    return ""


def check_weights(models: Iterable[str], allow_random_init: bool, *, lock: str | Path = DEFAULT_LOCK,
                  configured: Mapping[str, str] | None = None) -> list[str]:
    """One line per model whose pretrained weights are missing, unverified or changed; none when random
    initialisation is allowed. A sequence model needs efficientnet_b3's (its backbone's start).

    configured: `config["pretrained"]`; a non-empty path there is the file training loads, and must exist
    ("none" asks for random initialisation of that model). Raises WeightsError for an unknown model
    or an unreadable lock file.
    """
    if allow_random_init:
        return []
    weights_lock = WeightsLock(lock)
    problems = []
    for model in needed(list(models)):
        if path := (configured or {}).get(model):
            if path != NO_WEIGHTS and not Path(path).is_file():
                problems.append(f"{model}: pretrained.{model} = {path} is not a file")
            continue
        found = loaded_file(model)
        verdict = assess(model, found, weights_lock) if found else None
        if problem := model_problem(model, found, verdict, weights_lock):
            problems.append(problem)
    return problems
