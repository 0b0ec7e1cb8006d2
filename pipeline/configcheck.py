"""Config errors in at most three lines: the key, what is wrong, and what is allowed.

The Snakefile validates the config here instead of with Snakemake's `validate` (whose message repeats the
schema), fills the schema's defaults, and checks what the schema cannot: names against the detector and
dataset catalogues. Standard library plus jsonschema and PyYAML (both Snakemake's own dependencies).
"""
from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import jsonschema
import yaml

from pipeline.models.card import Detector


class ConfigError(ValueError):
    """A config that cannot run; its message is at most three lines."""


def stop(message: str) -> NoReturn:
    """End a Snakemake plan before any job runs, with `message` on stderr and nothing else (no traceback)."""
    print(message, file=sys.stderr)
    sys.exit(1)


def _with_defaults(validator_class):
    """A validator that also fills in the schema's `default`s (as Snakemake's `validate` does)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(name, sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def key_of(path: Any) -> str:
    """`["datasets", "ffpp", "methods", 2]` -> `datasets.ffpp.methods[2]` (`(top level)` for none)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _allowed(error: jsonschema.ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and "properties" in schema:
        return ", ".join(schema["properties"])
    if error.validator == "enum":
        return ", ".join(map(str, schema["enum"]))
    if "description" in schema:
        return schema["description"]
    return ""


def describe(error: jsonschema.ValidationError) -> str:
    """The error as at most three lines."""
    message = " ".join(error.message.split())
    if len(message) > 200:
        message = message[:197] + "..."
    lines = [f"config error: {key_of(error.absolute_path)}: {message}"]
    if allowed := _allowed(error):
        lines.append(f"  allowed: {allowed}")
    return "\n".join(lines)


def validate(config: dict, schema_path: str | Path) -> None:
    """Validate `config` against the JSON schema and fill in its defaults; ConfigError on the first problem."""
    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    cls = _with_defaults(jsonschema.validators.validator_for(schema))
    error = jsonschema.exceptions.best_match(cls(schema).iter_errors(config))
    if error is not None:
        raise ConfigError(describe(error))


def _model_references(cfg: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(key, model name) of every place a config names a detector."""
    for i, name in enumerate(cfg.get("models", [])):
        yield f"models[{i}]", name
    for section in ("hparams", "pretrained"):
        for name in cfg.get(section, {}):
            if name != "allow_random_init":
                yield f"{section}.{name}", name
    evaluate = cfg.get("evaluate", {})
    for key, names in (("evaluate.cross_dataset.models", evaluate.get("cross_dataset", {}).get("models", [])),
                       ("evaluate.perturbation.models", evaluate.get("perturbation", {}).get("models", [])),
                       ("robustness.models", cfg.get("robustness", {}).get("models", []))):
        for i, name in enumerate(names):
            yield f"{key}[{i}]", name
    if "model" in evaluate.get("gradcam", {}):
        yield "evaluate.gradcam.model", evaluate["gradcam"]["model"]


def check_names(cfg: Mapping[str, Any], detectors: Mapping[str, Detector], datasets: list[str],
                schema_path: str | Path) -> None:
    """ConfigError when the config names a detector or dataset no card declares, or a model's `hparams`
    key is neither a hyper-parameter, a `train` key (of the schema) nor one of its card's options."""
    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    train_keys = set(schema["properties"]["train"]["properties"]) - {"seeds"}
    for key, name in _model_references(cfg):
        if name not in detectors:
            raise ConfigError(f"config error: {key}: unknown detector {name!r}\n"
                              f"  allowed: {', '.join(detectors)} (and the detectors of `plugins`)")
    for name in cfg.get("datasets", {}):
        if name not in datasets:
            raise ConfigError(f"config error: datasets.{name}: unknown dataset\n  allowed: {', '.join(datasets)}")
    for name, hparams in cfg.get("hparams", {}).items():
        allowed = {"lr", "batch_size", "weight_decay", *train_keys, *detectors[name].options}
        if unknown := sorted(set(hparams) - allowed):
            raise ConfigError(f"config error: hparams.{name}.{unknown[0]}: not a hyper-parameter, `train` key or "
                              f"option of {name}\n  allowed: {', '.join(sorted(allowed))}")
