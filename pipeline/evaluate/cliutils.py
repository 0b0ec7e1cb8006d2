"""Helpers shared by the evaluation, table and figure commands: `--params` parsing and atomic CSV writes."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import fields
from typing import TypeVar

import pandas as pd

from pipeline.io import atomic_path

P = TypeVar("P")


def parse_params(cls: type[P], text: str | None) -> P:
    """A params dataclass from `--params` JSON.

    Rules pass whole config slices, so keys the command does not use are ignored, with a note on stderr.
    """
    raw = json.loads(text) if text else {}
    known = {f.name for f in fields(cls)}
    unused = sorted(set(raw) - known)
    if unused:
        print(f"ignoring params {', '.join(unused)} (used: {', '.join(sorted(known))})", file=sys.stderr)
    return cls(**{k: v for k, v in raw.items() if k in known})


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a CSV under a temporary name first, so a killed job leaves no half-written file."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
