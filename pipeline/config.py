"""The workflow configuration: demo overrides and per-stage parameter slices.

Imported by the Snakefile while it builds the DAG: standard library only.
"""
from __future__ import annotations

import copy
import json
from typing import Any


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
    """The config the stages see: with `demo.overrides` applied when the demo is enabled. The overrides' dataset
    sections tune the datasets the config has; they never add one (it would have no root)."""
    demo = config.get("demo", {})
    if not demo.get("enabled"):
        return copy.deepcopy(config)
    overrides = copy.deepcopy(demo.get("overrides", {}))
    if isinstance(overrides.get("datasets"), dict):
        configured = config.get("datasets", {})
        overrides["datasets"] = {k: v for k, v in overrides["datasets"].items() if k in configured}
    return deep_merge(config, overrides)


def as_json(value: Any) -> str:
    """Canonical JSON for `--params` (sorted keys: equal configs give equal strings, so no spurious reruns)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def n_shards(config: dict, dataset: str) -> int:
    """Shards of one dataset: `datasets.<name>.shards` if set, else `preprocess.shards`."""
    return int(config["datasets"][dataset].get("shards", config["preprocess"]["shards"]))

