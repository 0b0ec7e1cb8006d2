"""DFDC: the `dfdc_train_part_N` folders of each split, labelled by each folder's `metadata.json`.

Each folder holds its own actors, so splitting by folder keeps identities apart (§4.1).
"""
from __future__ import annotations

from pipeline.datasets.base import FAKE, REAL, SPLITS, DatasetCard, Listing, ListingBuilder

DATASET = DatasetCard(name="dfdc", display="DFDC", rank=1, trains=True, tested_by={"ffpp": "cross"}, stride=2,
                      demo_folder="DFDC")

LABELS = {"FAKE": FAKE, "REAL": REAL}


def part_folder(part: int | str) -> str:
    """Folder of a configured part: `3` -> `dfdc_train_part_3`; a string (e.g. `test`) is a folder name."""
    return f"dfdc_train_part_{part}" if isinstance(part, int) else part


def entry_label(entry: object) -> int | None:
    """Label of a metadata entry: `{"label": "FAKE"|"REAL"}` (train) or `{"is_fake": 0|1}` (public test)."""
    if not isinstance(entry, dict):
        return None
    if "label" in entry:
        return LABELS.get(str(entry["label"]).upper())
    is_fake = entry.get("is_fake")
    return int(is_fake) if is_fake in (0, 1) else None


def split_folders(parts: dict) -> dict[str, str]:
    """Part folder -> split, from `{"train": [0, 1], "val": [2], "test": [3]}`; a folder in two splits is an error."""
    owner: dict[str, str] = {}
    for split, numbers in parts.items():
        if split not in SPLITS:
            raise ValueError(f"dfdc parts: unknown split {split!r} (expected one of {SPLITS})")
        for folder in map(part_folder, numbers):
            if folder in owner:
                raise ValueError(f"dfdc parts: {folder} is in both the {owner[folder]} and {split} splits")
            owner[folder] = split
    return owner


def list_videos(cfg: dict) -> Listing:
    """All labelled, existing videos of the configured parts; `cfg` = `{"root", "parts", ...}`."""
    builder = ListingBuilder(cfg["root"])
    for folder, split in split_folders(cfg.get("parts", {})).items():
        source = f"{folder}/metadata.json"
        metadata = builder.read_json(source)
        if metadata is None:
            continue
        if not isinstance(metadata, dict):
            builder.problem(source, "malformed metadata: expected an object {file name: entry}")
            continue
        for name, entry in metadata.items():
            where = f'{source} entry "{name}"'
            label = entry_label(entry)
            if label is None:
                builder.problem(f"{folder}/{name}", f"{where}: unknown label (need label FAKE/REAL or is_fake 0/1)")
                continue
            builder.add(name, where, within=folder, label=label, method="fake" if label == FAKE else "real",
                        group=folder, split=split)
    return builder.finish()
