"""DeepFakeDetection (DFD, Google and Jigsaw, 2019), distributed inside FaceForensics++: the real videos of
`original_sequences/actors/<compression>/videos` (363, e.g. `01__exit_phone_room.mp4`) and the fakes of
`manipulated_sequences/DeepFakeDetection/<compression>/videos` (3,068, e.g.
`01_02__exit_phone_room__YVGY8LOK.mp4`). It has no official split: every video is a test video, a
cross-dataset test of the FF++-trained models (its paid actors appear in no FF++ split).
"""
from __future__ import annotations

from pipeline.datasets.base import FAKE, REAL, DatasetCard, Listing, ListingBuilder

DATASET = DatasetCard(name="dfd", display="DFD", rank=4, tested_by={"ffpp": "cross"}, demo_folder="FaceForensics++")

METHOD = "DeepFakeDetection"
REAL_GROUP = "actors"


def folders(compression: str) -> dict[str, tuple[int, str]]:
    """Folder (relative to the FF++ root) -> (label, method) of its videos."""
    return {f"original_sequences/{REAL_GROUP}/{compression}/videos": (REAL, "real"),
            f"manipulated_sequences/{METHOD}/{compression}/videos": (FAKE, METHOD)}


def list_videos(cfg: dict) -> Listing:
    """Every `.mp4` of the two folders; `cfg` = `{"root": the FF++ root, "compression"}`. An absent folder
    is a gap (`check-data` flags it); set `datasets.dfd.enabled: false` for an FF++ copy without DFD."""
    builder = ListingBuilder(cfg["root"])
    for folder, (label, method) in folders(cfg.get("compression", "c23")).items():
        names = builder.index.names(folder)
        if isinstance(names, str):
            builder.problem(folder, names)
            continue
        for name in (n for n in names if n.endswith(".mp4")):
            builder.add(name, folder, within=folder, label=label, method=method,
                        group=REAL_GROUP if label == REAL else METHOD, split="test")
    return builder.finish()
