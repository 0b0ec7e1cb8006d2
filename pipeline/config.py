"""The workflow configuration: demo overrides and per-stage parameter slices.

Imported by the Snakefile while it builds the DAG: standard library only.
"""
from __future__ import annotations

import copy
import json
from typing import Any

DATASETS = ("ffpp", "dfdc", "deeperforensics", "celebdf", "dfd")
SEQUENCE_MODELS = ("efficientnet_b3_lstm", "efficientnet_b3_bigru")


def deep_merge(base: dict, override: dict) -> dict:
    """A copy of `base` with `override` merged in recursively (override wins on scalars and lists)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def effective_config(config: dict) -> dict:
    """The config the stages see: with `demo.overrides` applied when the demo is enabled."""
    demo = config.get("demo", {})
    if demo.get("enabled"):
        return deep_merge(config, demo.get("overrides", {}))
    return copy.deepcopy(config)


def as_json(value: Any) -> str:
    """Canonical JSON for `--params` (sorted keys: equal configs give equal strings, so no spurious reruns)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def n_shards(config: dict, dataset: str) -> int:
    """Shards of one dataset: `datasets.<name>.shards` if set, else `preprocess.shards`."""
    return int(config["datasets"][dataset].get("shards", config["preprocess"]["shards"]))

