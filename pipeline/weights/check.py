"""Are the pretrained weights training will load present and verified? (`weights check`)

Looks where the models themselves look (`pipeline.models.pretrained.find_cached` with each model's
card), so what is checked is what training loads. The workflow calls `check_weights`
before training on real data, unless `pretrained.allow_random_init` is set.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from pipeline.models import card
from pipeline.models.card import Detector
from pipeline.models.pretrained import NO_WEIGHTS, find_cached
from pipeline.weights.lock import DEFAULT_LOCK, WeightsLock
from pipeline.weights.registry import ModelWeights, model_weights, needed
from pipeline.weights.verify import Verdict, assess

FETCH = "python -m pipeline weights fetch"


def loaded_file(card: Detector) -> Path | None:
    """The cached file the model would load, or None (it would start from random weights)."""
    return find_cached(card)[0]


def model_problem(model: str, weights: ModelWeights, path: Path | None, verdict: Verdict | None,
                  lock: WeightsLock) -> str:
    """One line saying what is wrong with the model's weights file, or "" when it is fine."""
    if path is None:
        first = weights.files[0]
        names = " or ".join(w.name for w in weights.files)
        return f"{model}: {names} missing: put {first.name} in {first.where()} or run `{FETCH} {model}`"
    if verdict.problem:
        return f"{model}: {path}: {verdict.problem}: delete it and run `{FETCH} {model}`"
    if not verdict.verified_by:
        return (f"{model}: {path}: no published checksum and no entry in {lock.path}: "
                f"run `{FETCH} {model}` to record it")
    return ""


def check_weights(models: Iterable[str], allow_random_init: bool, *, lock: str | Path = DEFAULT_LOCK,
                  configured: Mapping[str, str] | None = None, plugins: Iterable[str] = ()) -> list[str]:
    """One line per model whose pretrained weights are missing, unverified or changed; none when random
    initialisation is allowed. A detector with a backbone needs its backbone's; a detector whose card
    publishes no weights starts from random weights by design and needs none.

    configured: `config["pretrained"]`; a non-empty path there is the file training loads, and must exist
    ("none" asks for random initialisation of that model). Raises WeightsError for an unknown model
    or an unreadable lock file.
    """
    if allow_random_init:
        return []
    weights_lock = WeightsLock(lock)
    known, cards = model_weights(plugins), card.catalogue(tuple(plugins))
    problems = []
    for model in needed(list(models), known):
        if path := (configured or {}).get(model):
            if path != NO_WEIGHTS and not Path(path).is_file():
                problems.append(f"{model}: pretrained.{model} = {path} is not a file")
            continue
        if not known[model].files:
            continue
        found = loaded_file(cards[model])
        pinned = [c for w in known[model].files if w.cached() == found for c in w.published()]
        verdict = assess(model, found, weights_lock, pinned) if found else None
        if problem := model_problem(model, known[model], found, verdict, weights_lock):
            problems.append(problem)
    return problems
