"""Celeb-DF v2: the 518 test videos of `List_of_testing_videos.txt` (`<label> <subdir>/<file>.mp4`, 1 = real)."""
from __future__ import annotations

import posixpath

from pipeline.datasets.base import FAKE, REAL, DatasetCard, Listing, ListingBuilder

DATASET = DatasetCard(name="celebdf", display="Celeb-DF", rank=3, tested_by={"ffpp": "every", "dfdc": "cross"},
                      demo_folder="Celeb-DF-v2")

TEST_LIST = "List_of_testing_videos.txt"
LABELS = {"1": REAL, "0": FAKE}  # Celeb-DF marks real videos with 1


def list_videos(cfg: dict) -> Listing:
    """Test videos; the method of a fake and the group of any video is its subfolder (e.g. `Celeb-synthesis`)."""
    builder = ListingBuilder(cfg["root"])
    for number, line in builder.read_lines(TEST_LIST):
        where = f"{TEST_LIST} line {number}"
        fields = line.split(maxsplit=1)
        if len(fields) != 2 or fields[0] not in LABELS:
            builder.problem(fields[-1], f"{where}: expected '<1|0> <subdir>/<file>.mp4', got {line!r}")
            continue
        label, relpath = LABELS[fields[0]], fields[1]
        group = posixpath.normpath(relpath).split("/")[0]
        builder.add(relpath, where, label=label, method="real" if label == REAL else group, group=group,
                    split="test")
    return builder.finish()
