"""Manifest CSVs: one row per video of a split (`video_id,label,method,group,store,key,n_frames`)."""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ("video_id", "label", "method", "group", "store", "key", "n_frames")


class ManifestError(ValueError):
    """A manifest that cannot be used for training: missing, malformed, empty or one-class."""


@dataclass(frozen=True)
class ManifestRow:
    """One video: its label (1 = fake), fake method (`real` for real videos), sampling group and crops."""

    video_id: str
    label: int
    method: str
    group: str
    store: str
    key: str
    n_frames: int


def read_manifest(path: str | os.PathLike) -> list[ManifestRow]:
    """Read a manifest; raises `ManifestError` naming the file if it is missing, malformed or has no videos."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header, records = reader.fieldnames or [], list(reader)
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest") from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ManifestError(f"{path}: manifest lacks column(s) {', '.join(missing)}")
    try:
        rows = [ManifestRow(r["video_id"], int(r["label"]), r["method"], r["group"], r["store"], r["key"],
                            int(r["n_frames"])) for r in records]
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"{path}: malformed manifest row ({exc})") from None
    if not rows:
        raise ManifestError(f"{path}: manifest has no videos")
    bad = next((r for r in rows if r.label not in (0, 1) or r.n_frames < 1), None)
    if bad is not None:
        raise ManifestError(f"{path}: video {bad.video_id!r} has label {bad.label} and {bad.n_frames} frames")
    return rows


def read_training_manifest(path: str | os.PathLike) -> list[ManifestRow]:
    """Read a train/val manifest, which needs both classes for balanced batches."""
    rows = read_manifest(path)
    for label, name in ((0, "real"), (1, "fake")):
        if not any(r.label == label for r in rows):
            raise ManifestError(f"{path}: manifest has no {name} videos; balanced batches need both classes")
    return rows


def balanced_sample(manifest: pd.DataFrame, max_videos: int, seed: int) -> pd.DataFrame:
    """Up to `max_videos` videos, half real and half fake where the set allows, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    real, fake = manifest[manifest["label"] == 0], manifest[manifest["label"] == 1]
    n_real = min(len(real), max(max_videos - max_videos // 2, max_videos - len(fake)))
    n_fake = min(len(fake), max_videos - n_real)
    picks = [rows.iloc[np.sort(rng.choice(len(rows), size=n, replace=False))]
             for rows, n in ((real, n_real), (fake, n_fake))]
    return pd.concat(picks).sort_values("video_id").reset_index(drop=True)
