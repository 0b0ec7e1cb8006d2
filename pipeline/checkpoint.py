"""Training checkpoints: what they carry and how they load safely.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, saved with `torch.save`
and always loaded with `weights_only=True`, so a file from an untrusted source cannot run code.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import torch

from pipeline import __version__
from pipeline.io import atomic_path

FORMAT = "stdd-checkpoint"
FORMAT_VERSION = 1
REQUIRED = ("format", "format_version", "model", "state_dict", "config", "preprocess", "code_version")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, unsafe, of another model or another format version."""


def git_commit() -> str:
    """The commit of the checkout the code runs from (with "+dirty" when it has changes), or "unknown"."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=5, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=Path(__file__).parent,
                               capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}+dirty" if commit and dirty else commit or "unknown"


def code_version() -> str:
    """Package version plus the git commit when the code runs from a checkout."""
    commit = git_commit()
    return __version__ if commit == "unknown" else f"{__version__}+{commit}"


def save_checkpoint(path: str | os.PathLike, *, model: str, state_dict: dict, config: dict,
                    preprocess: dict, **extra: Any) -> None:
    """Write a checkpoint atomically (temporary name, then rename)."""
    payload = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "model": model,
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "config": config, "preprocess": preprocess, "code_version": code_version(), **extra,
    }
    save_atomic(payload, path)


def save_atomic(payload: Any, path: str | os.PathLike) -> None:
    """`torch.save` under a temporary name, renamed onto `path` only once complete (`atomic_path`).

    Saved through a Python file object, so a full disk surfaces as `OSError(ENOSPC)` (torch's own
    writer reports it as an unrelated RuntimeError) and the temporary file is removed.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(payload, fh)


def load_failure(path: Path, exc: BaseException, what: str) -> str:
    """One line on why `torch.load(path, weights_only=True)` failed for a `what` (a checkpoint, a state_dict
    file). Torch's own message advises loading the file again with `weights_only=False`, which would run
    any code the pickle refers to: that advice is never passed on. A pickle that refers to other Python
    objects (a class, a function such as `os.system`) is named as not a plain `what`, which cannot be loaded
    safely."""
    text = str(exc).strip()
    if not text.startswith("Weights only load failed"):
        return f"{path}: not a loadable weights-only {what} ({text.splitlines()[0] if text else type(exc).__name__})"
    if refers := re.search(r"GLOBAL ([\w.]+)", text):
        return (f"{path}: not a plain {what} (it refers to {refers.group(1)}): it cannot be loaded safely, and was "
                "not loaded")
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)  # e.g. "Unsupported operand 0" of a corrupt file
    return f"{path}: not a loadable weights-only {what} ({detail.group(1).strip() if detail else 'not plain data'})"


def load_checkpoint(path: str | os.PathLike, expect_model: str | None = None) -> dict:
    """Load a checkpoint with `weights_only=True` and check that it is one of ours (and of `expect_model`)."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear line
        raise CheckpointError(load_failure(path, exc, "checkpoint")) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} checkpoint")
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    if ckpt["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {ckpt['format_version']} is incompatible with {FORMAT_VERSION}")
    if expect_model is not None and ckpt["model"] != expect_model:
        raise CheckpointError(f"{path}: checkpoint is of model {ckpt['model']!r}, expected {expect_model!r}")
    return ckpt
