"""DeeperForensics-1.0: the fakes of one `manipulated_videos/<subset>` listed in the test split.

Its real class is the FF++ c23 youtube originals of the FF++ test split; those are preprocessed
as part of `ffpp`, so they are not listed here (the manifests add them).
"""
from __future__ import annotations

from pipeline.datasets.base import FAKE, Listing, ListingBuilder

SPLIT_LIST = "lists/splits/test.txt"


def list_videos(cfg: dict) -> Listing:
    """Test fakes of `cfg["subset"]` (default `end_to_end`, the paper's unperturbed portion)."""
    builder = ListingBuilder(cfg["root"])
    subset = cfg.get("subset", "end_to_end")
    for number, name in builder.read_lines(SPLIT_LIST):
        builder.add(name, f"{SPLIT_LIST} line {number}", within=f"manipulated_videos/{subset}", label=FAKE,
                    method=subset, group=subset, split="test")
    return builder.finish()
