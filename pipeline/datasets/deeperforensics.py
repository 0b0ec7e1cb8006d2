"""DeeperForensics-1.0: the fakes of one `manipulated_videos/<subset>` that form its test set.

`cfg["split"]` chooses the test set:
- `ffpp` (default, the paper §4.1): the fakes `<target>_<actor>.mp4` whose FF++ target id is in
  FF++'s `splits/test.json` (140 of the 1,000 end_to_end videos), so no test face was seen in FF++
  training. The FF++ splits folder comes as `cfg["ffpp_splits"]`; `section` sets it from the
  FF++ root. Without it the lister warns and falls back to DeeperForensics' own list.
- `deeperforensics`: the names in DeeperForensics' own `lists/splits/test.txt`.

Its real class is the FF++ c23 youtube originals of the FF++ test split; those are preprocessed
as part of `ffpp`, so they are not listed here (the manifests add them).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from pipeline.datasets.base import ABSENT, FAKE, DatasetCard, Listing, ListingBuilder

DATASET = DatasetCard(name="deeperforensics", display="DeeperForensics", rank=2, real_source="ffpp",
                      tested_by={"ffpp": "every"}, demo_folder="DeeperForensics-1.0")

_logger = logging.getLogger(__name__)

SPLIT_CHOICES = ("ffpp", "deeperforensics")
SPLIT_LIST = "lists/splits/test.txt"
FFPP_TEST = "test.json"


def ffpp_test_targets(path: Path) -> set[str] | str:
    """Every id of the `[id, id]` pairs in FF++'s test split file, or why the file is unusable."""
    try:
        pairs = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ABSENT
    except (OSError, UnicodeDecodeError) as err:
        return f"unreadable: {err}"
    except ValueError as err:
        return f"malformed JSON: {err}"
    if not (isinstance(pairs, list) and all(isinstance(p, list) and all(isinstance(i, str) for i in p)
                                            for p in pairs)):
        return "malformed: expected a list of [id, id] pairs"
    return {i for pair in pairs for i in pair}


def _add_ffpp_targets(builder: ListingBuilder, splits: Path, subset: str) -> None:
    """The subset's fakes whose target (the name before the first `_`) is an FF++ test id."""
    source = splits / FFPP_TEST
    targets = ffpp_test_targets(source)
    if isinstance(targets, str):
        builder.gap("file", str(source), targets)
        return
    folder = f"manipulated_videos/{subset}"
    names = builder.index.names(folder)
    found: dict[str, list[str]] = {}
    for name in names if isinstance(names, list) else []:
        target = name.split("_", 1)[0]
        if name.endswith(".mp4") and "_" in name and target in targets:
            found.setdefault(target, []).append(name)
    not_found = names if isinstance(names, str) else "file not found"
    for target in sorted(targets):
        where = f"{source}: FF++ test target {target}"
        if target not in found:
            builder.absent(f"{folder}/{target}_*.mp4", f"{where}: {not_found}", method=subset, split="test")
        for name in found.get(target, []):
            builder.add(name, where, within=folder, label=FAKE, method=subset, group=subset, split="test")


def _add_listed(builder: ListingBuilder, subset: str) -> None:
    """The subset's fakes named in DeeperForensics' own test list."""
    for number, name in builder.read_lines(SPLIT_LIST):
        builder.add(name, f"{SPLIT_LIST} line {number}", within=f"manipulated_videos/{subset}", label=FAKE,
                    method=subset, group=subset, split="test")


def section(cfg: dict, datasets: dict) -> dict:
    """Its config section with `ffpp_splits`, the `splits` folder under the FF++ root, unless it sets one."""
    if "ffpp" in datasets:
        cfg.setdefault("ffpp_splits", os.path.join(datasets["ffpp"]["root"], "splits"))
    return cfg


def list_videos(cfg: dict) -> Listing:
    """Test fakes of `cfg["subset"]` (default `end_to_end`, the paper's unperturbed portion)."""
    split = cfg.get("split", "ffpp")
    if split not in SPLIT_CHOICES:
        raise ValueError(f"deeperforensics split {split!r}: expected one of {', '.join(SPLIT_CHOICES)}")
    builder = ListingBuilder(cfg["root"])
    subset = cfg.get("subset", "end_to_end")
    if split == "ffpp" and cfg.get("ffpp_splits"):
        _add_ffpp_targets(builder, Path(cfg["ffpp_splits"]), subset)
    else:
        if split == "ffpp":
            _logger.warning("deeperforensics: split 'ffpp' without the FF++ splits folder (ffpp_splits); "
                            "listing %s instead", SPLIT_LIST)
        _add_listed(builder, subset)
    return builder.finish()
