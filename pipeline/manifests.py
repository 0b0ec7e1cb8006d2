"""`manifests`: per-condition, per-split CSVs of a dataset's preprocessed videos (training and test input).

Joins the dataset listing (labels, methods, splits) with the crop summaries of the preprocessing
shards (which store holds each video). Videos listed but without crops are left out and reported.

    python -m pipeline manifests --dataset ffpp --params '{"datasets": ..., "conditions": ..., "strict": false}' \
        --summaries R/preprocess/ffpp/crops/shard000.csv ... --outdir R/manifests/ffpp \
        --problems R/manifests/ffpp/problems.csv [--real-summaries ...]
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.datasets import FAKE, REAL, Listing, Problem, VideoRef, dataset_cards, list_dataset
from pipeline.io import atomic_path, stable_hash

_logger = logging.getLogger(__name__)

COLUMNS = ["video_id", "label", "method", "group", "store", "key", "n_frames"]
PROBLEM_COLUMNS = ["video", "stage", "reason"]
COUNT_COLUMNS = ["condition", "split", "method", "n"]
USABLE = {"ok", "short"}  # crop summary statuses with a clip in the store
STAGE = "manifest"


@dataclass(frozen=True)
class Crops:
    """Where the face crops of one video are: a clip store and its group."""

    store: str
    key: str
    n_frames: int


@dataclass(frozen=True)
class Entry:
    """A listed video that has crops: one manifest row."""

    video: VideoRef
    crops: Crops

    def row(self) -> dict:
        v, c = self.video, self.crops
        return {"video_id": v.video_id, "label": v.label, "method": v.method, "group": v.group,
                "store": c.store, "key": c.key, "n_frames": c.n_frames}


def conditions_of(name: str, conditions: Iterable[str]) -> list[str]:
    """Conditions written for a dataset: every configured one where they apply (FF++), `all` for the others."""
    return list(conditions) if dataset_cards()[name].conditions else ["all"]


def splits_of(name: str) -> tuple[str, ...]:
    """Splits written for a dataset: train, val and test for a training set, test for a test set."""
    return dataset_cards()[name].splits


def expected_outputs(name: str, conditions: Iterable[str]) -> list[str]:
    """Files the command writes, relative to `--outdir` (the problems CSV is its own argument)."""
    return [f"{c}/{s}.csv" for c in conditions_of(name, conditions) for s in splits_of(name)] + ["counts.csv"]


def read_summaries(paths: Iterable[str | Path]) -> dict[str, Crops]:
    """video_id -> crops, from crop summary CSVs; each one's clip store is the CSV path with `.h5`."""
    crops: dict[str, Crops] = {}
    for path in map(Path, paths):
        store = str(path.with_suffix(".h5"))
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["status"] in USABLE:
                    crops.setdefault(row["video_id"], Crops(store, row["key"], int(row["n_frames"])))
    return crops


def cap_per_class(entries: list[Entry], caps: dict | None, seed: int) -> list[Entry]:
    """At most `caps["real"]` / `caps["fake"]` entries per class, chosen by a seeded hash of the video id.

    Deterministic, and stable: a video failing preprocessing swaps one pick, not the whole sample.
    """
    if not caps:
        return entries
    kept = []
    for label, name in ((REAL, "real"), (FAKE, "fake")):
        members = [e for e in entries if e.video.label == label]
        cap = caps.get(name)
        if cap is not None and len(members) > cap:
            members = sorted(members, key=lambda e: stable_hash(f"{seed}:{e.video.video_id}"))[:cap]
        kept += members
    return sorted(kept, key=lambda e: e.video.video_id)


def dataset_listing(name: str, datasets: dict) -> Listing:
    """The dataset's listing from the whole `config["datasets"]`, plus, for a dataset whose card names a
    `real_source` (DeeperForensics), that dataset's test-split originals as its real class."""
    listing = list_dataset(name, datasets)
    if source := dataset_cards()[name].real_source:
        reals = [v for v in list_dataset(source, datasets).videos if v.label == REAL and v.split == "test"]
        listing = Listing(listing.videos + reals, listing.problems, listing.absent, listing.gaps)
    return listing


def build_manifests(name: str, params: dict, crops: dict[str, Crops]) -> tuple[dict, list[Problem]]:
    """`{(condition, split): [Entry]}` for every expected file, and the videos left out for lack of crops."""
    cfg = params["datasets"][name]
    listing = dataset_listing(name, params["datasets"])
    entries, missing = [], []
    for video in listing.videos:
        if video.video_id in crops:
            entries.append(Entry(video, crops[video.video_id]))
        else:
            missing.append(Problem(video.video_id, STAGE, "listed but absent from the crop summaries "
                                                          "(failed preprocessing)"))
    conditions = params.get("conditions", {}) if dataset_cards()[name].conditions else {"all": []}
    for condition, left_out in conditions.items():
        if unknown := sorted(set(left_out) - set(cfg.get("methods", []))):
            _logger.warning("condition %s leaves out methods that are not configured: %s", condition, unknown)
    caps = cfg.get("caps") or {}
    manifests = {}
    for condition, left_out in conditions.items():
        for split in splits_of(name):
            chosen = [e for e in entries
                      if e.video.split == split and (split == "test" or e.video.method not in left_out)]
            manifests[condition, split] = cap_per_class(chosen, caps.get(split), cfg.get("seed", 0))
    return manifests, listing.problems + missing


def write_csv(path: Path, columns: list[str], rows: Iterable[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=list(dataset_cards()))
    parser.add_argument("--params", required=True,
                        help='JSON {"datasets": config["datasets"], "conditions": config["conditions"], '
                             '"strict": bool}')
    parser.add_argument("--summaries", nargs="*", default=[], help="crop summary CSVs of the dataset's shards")
    parser.add_argument("--real-summaries", nargs="*", default=[],
                        help="crop summary CSVs of the dataset its card names as `real_source` (DeeperForensics: "
                             "ffpp)")
    parser.add_argument("--outdir", required=True, type=Path)
    parser.add_argument("--problems", required=True, type=Path,
                        help="CSV video,stage,reason of left-out videos (stages list, manifest)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    params = json.loads(args.params)
    crops = read_summaries(args.summaries) | read_summaries(args.real_summaries)
    manifests, problems = build_manifests(args.dataset, params, crops)
    counts = []
    for (condition, split), entries in manifests.items():
        write_csv(args.outdir / condition / f"{split}.csv", COLUMNS, (e.row() for e in entries))
        methods = Counter(e.video.method for e in entries)
        counts += [{"condition": condition, "split": split, "method": m, "n": n} for m, n in sorted(methods.items())]
        n_fake = sum(e.video.label == FAKE for e in entries)
        _logger.info("%s %s/%s: %d videos, %d real, %d fake (%s)", args.dataset, condition, split, len(entries),
                     len(entries) - n_fake, n_fake,
                     ", ".join(f"{m} {n}" for m, n in sorted(methods.items()) if m != "real") or "none")
    write_csv(args.outdir / "counts.csv", COUNT_COLUMNS, counts)
    write_csv(args.problems, PROBLEM_COLUMNS, map(asdict, problems))
    n_missing = sum(p.stage == STAGE for p in problems)
    _logger.info("%s: %d listing problems, %d listed videos without crops left out (see %s)", args.dataset,
                 len(problems) - n_missing, n_missing, args.problems)
    if problems and params.get("strict", False):
        _logger.error("strict: %d problems, failing", len(problems))
        return 1
    return 0
