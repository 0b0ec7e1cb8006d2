"""FaceForensics++: the youtube originals and the configured methods, limited to the official splits.

`splits/{train,val,test}.json` hold `["071", "054"]` pairs: reals `071`, `054`, fakes `071_054`,
`054_071` of every method. 360/70/70 pairs give the paper's 720/140/140 real videos.
"""
from __future__ import annotations

from pipeline.datasets.base import FAKE, REAL, SPLITS, DatasetCard, Listing, ListingBuilder

DATASET = DatasetCard(name="ffpp", display="FF++", rank=0, trains=True, conditions=True,
                      tested_by={"dfdc": "cross"}, demo_folder="FaceForensics++")


def list_videos(cfg: dict) -> Listing:
    """Videos of the splits that exist; `cfg` = `{"root", "compression", "methods"}`."""
    builder = ListingBuilder(cfg["root"])
    compression = cfg.get("compression", "c23")
    methods = list(cfg.get("methods", []))
    reals = f"original_sequences/youtube/{compression}/videos"
    for split in SPLITS:
        source = f"splits/{split}.json"
        pairs = builder.read_json(source)
        if pairs is None:
            continue
        if not isinstance(pairs, list):
            builder.problem(source, "expected a list of [id, id] pairs")
            continue
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(i, str) for i in pair)):
                builder.problem(source, f"malformed pair {pair!r}: expected [id, id]")
                continue
            where = f"{source} pair {pair}"
            for vid in pair:
                builder.add(f"{vid}.mp4", where, within=reals, label=REAL, method="real", group="youtube",
                            split=split)
            for method in methods:
                for target, source_id in (pair, pair[::-1]):
                    builder.add(f"{target}_{source_id}.mp4", where,
                                within=f"manipulated_sequences/{method}/{compression}/videos",
                                label=FAKE, method=method, group=method, split=split)
    return builder.finish()
