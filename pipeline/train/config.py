"""The training configuration, built from the `--params` JSON of the `train` command."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

from pipeline.runtime import bf16_setting

SCHEDULERS = ("plateau", "multistep")
# `train` keys that do not change what a run computes epoch by epoch: a run resumes across changes to them
# (e.g. more epochs, a longer patience, other worker counts or cluster resources, the bad-sample budget).
RESUMABLE_KEYS = ("epochs", "early_stop_patience", "num_workers", "threads", "mem_mb", "runtime", "keep_state",
                  "max_bad_fraction")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters (Appendix A.4) and loop settings of one training run."""

    lr: float
    batch_size: int
    weight_decay: float
    seed: int = 0
    epochs: int = 30
    steps_per_epoch: int = 1000
    val_steps: int = 200
    early_stop_patience: int = 8
    scheduler: str = "plateau"
    scheduler_patience: int = 5
    milestones: tuple[int, ...] = (10,)
    gamma: float = 0.1
    clip_len: int = 16
    image_size: int | None = None
    num_workers: int = 4
    threads: int = 2
    keep_state: bool = True  # keep the resume state of a finished run (raising `epochs` then continues it)
    max_bad_fraction: float = 0.01  # samples with an undecodable frame or video, beyond which the run stops
    bf16: str | bool | None = "auto"  # bf16 autocast (pipeline/runtime.py): auto (where native), true, false
    precise_bn_batches: int = 0  # > 0: BatchNorm statistics re-estimated from this many training batches per epoch
    pretrained: str = ""
    preprocess: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {self.scheduler!r}; expected one of {', '.join(SCHEDULERS)}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size {self.batch_size}: balanced batches need at least 2")
        for name in ("epochs", "steps_per_epoch", "val_steps", "clip_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        bf16_setting(self.bf16)  # raises ValueError naming the choices
        if not 0 <= self.max_bad_fraction <= 1:
            raise ValueError(f"max_bad_fraction must be between 0 and 1, got {self.max_bad_fraction}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainConfig:
        """`{"hparams": {lr, batch_size, weight_decay}, "train": {...}, "pretrained": str, "preprocess": {...}}`;
        `train` keys this loop does not use (cluster resources) are ignored. A model's `hparams` may also set
        loop keys (e.g. `steps_per_epoch`, `bf16`), which then win over `train`'s for that model."""
        known = {f.name for f in fields(cls)} - {"lr", "batch_size", "weight_decay", "pretrained", "preprocess"}
        hp = params.get("hparams", {})
        train = {k: v for k, v in {**params.get("train", {}), **hp}.items() if k in known}
        if "milestones" in train:
            train["milestones"] = tuple(train["milestones"])
        missing = [k for k in ("lr", "batch_size", "weight_decay") if k not in hp]
        if missing:
            raise ValueError(f"params lack hparams {', '.join(missing)}")
        return cls(lr=float(hp["lr"]), batch_size=int(hp["batch_size"]), weight_decay=float(hp["weight_decay"]),
                   pretrained=params.get("pretrained") or "", preprocess=params.get("preprocess") or {}, **train)

    @property
    def pretrained_arg(self) -> str | None:
        """`build_model`'s `pretrained`: None (look in the caches) for an empty setting."""
        return self.pretrained or None


def run_fingerprint(params: dict[str, Any], *extra: str) -> str:
    """A digest of everything that determines a run's trajectory: the params minus `RESUMABLE_KEYS`,
    plus `extra` (model name, manifest contents, ...). Resume state is reused only when it matches."""
    train, hparams = ({k: v for k, v in params.get(section, {}).items() if k not in RESUMABLE_KEYS}
                      for section in ("train", "hparams"))
    payload = json.dumps([{**params, "train": train, "hparams": hparams}, *extra], sort_keys=True, default=str)
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=16).hexdigest()
