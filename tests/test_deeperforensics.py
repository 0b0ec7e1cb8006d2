"""DeeperForensics-1.0 as in the paper (§4.1): the end_to_end fakes of FF++ test-split targets."""
from __future__ import annotations

import pytest
from test_datasets import make_ffpp, tiny_splits, touch, write
from test_manifests import read, run_manifests, write_summary

from pipeline.datasets import FAKE, list_dataset, list_videos

END_TO_END = "manipulated_videos/end_to_end"


def make_tree(tmp_path):
    """FF++ (test targets 008, 009) and DeeperForensics with an end_to_end fake of every FF++ id.

    DeeperForensics' own test list names train targets too, so the two splits differ.
    """
    ffpp = make_ffpp(tmp_path / "ffpp", tiny_splits(), methods=["Deepfakes"])
    root = tmp_path / "dfo"
    names = [f"{i:03d}_M{i % 3:03d}.mp4" for i in range(10)]
    touch(root, *(f"{END_TO_END}/{n}" for n in names), "manipulated_videos/end_to_end_level_1/008_M002.mp4",
          f"{END_TO_END}/notes.txt")
    write(root, "lists/splits/test.txt", "000_M000.mp4\n001_M001.mp4\n008_M002.mp4\n")
    return {"ffpp": ffpp, "deeperforensics": {"root": str(root), "subset": "end_to_end"}}


def ids(listing) -> list[str]:
    return [v.video_id for v in listing.videos]


def test_default_split_is_the_ffpp_test_targets(tmp_path):
    datasets = make_tree(tmp_path)
    listing = list_dataset("deeperforensics", datasets)
    assert ids(listing) == [f"{END_TO_END}/008_M002.mp4", f"{END_TO_END}/009_M000.mp4"]
    assert {(v.label, v.method, v.group, v.split) for v in listing.videos} == {
        (FAKE, "end_to_end", "end_to_end", "test")}
    assert listing.problems == [] and listing.absent == [] and listing.gaps == []


def test_deeperforensics_split_is_its_own_test_list(tmp_path):
    datasets = make_tree(tmp_path)
    datasets["deeperforensics"]["split"] = "deeperforensics"
    assert ids(list_dataset("deeperforensics", datasets)) == [
        f"{END_TO_END}/000_M000.mp4", f"{END_TO_END}/001_M001.mp4", f"{END_TO_END}/008_M002.mp4"]


def test_manifest_holds_only_ffpp_test_targets_and_ffpp_test_reals(tmp_path):
    datasets = make_tree(tmp_path)
    cfg = {**datasets["deeperforensics"], "ffpp_splits": str(tmp_path / "ffpp/splits")}
    every_fake = [f"{END_TO_END}/{p.name}" for p in sorted((tmp_path / "dfo" / END_TO_END).glob("*.mp4"))]
    ffpp_ids = ids(list_videos("ffpp", datasets["ffpp"]))
    own = write_summary(tmp_path / "dfo_crops/shard000.csv", every_fake)  # crops of train targets too
    reals = write_summary(tmp_path / "ffpp_crops/shard000.csv", ffpp_ids)
    rc, outdir = run_manifests(tmp_path, "deeperforensics", {**datasets, "deeperforensics": cfg}, [own], [reals])
    assert rc == 0
    rows = read(outdir / "all/test.csv")
    assert sorted((r["video_id"], r["label"]) for r in rows) == [
        (f"{END_TO_END}/008_M002.mp4", "1"), (f"{END_TO_END}/009_M000.mp4", "1"),
        ("original_sequences/youtube/c23/videos/008.mp4", "0"), ("original_sequences/youtube/c23/videos/009.mp4", "0")]


def test_missing_fakes_and_split_file_are_reported(tmp_path):
    datasets = make_tree(tmp_path)
    (tmp_path / "dfo" / END_TO_END / "009_M000.mp4").unlink()
    listing = list_dataset("deeperforensics", datasets)
    assert ids(listing) == [f"{END_TO_END}/008_M002.mp4"]
    assert [(a.video, a.method, a.split) for a in listing.absent] == [(f"{END_TO_END}/009_*.mp4", "end_to_end", "test")]
    assert "FF++ test target 009: file not found" in listing.problems[0].reason

    (tmp_path / "ffpp/splits/test.json").unlink()
    listing = list_dataset("deeperforensics", datasets)
    assert listing.videos == [] and [(g.kind, g.reason) for g in listing.gaps] == [("file", "absent")]
    assert listing.gaps[0].path == str(tmp_path / "ffpp/splits/test.json")

    write(tmp_path / "ffpp", "splits/test.json", {"not": "pairs"})
    assert "malformed" in list_dataset("deeperforensics", datasets).gaps[0].reason


def test_missing_subset_folder_is_a_gap_and_every_target_absent(tmp_path):
    datasets = make_tree(tmp_path)
    datasets["deeperforensics"]["subset"] = "end_to_end_level_5"
    listing = list_dataset("deeperforensics", datasets)
    assert [(g.kind, g.path) for g in listing.gaps] == [("folder", "manipulated_videos/end_to_end_level_5")]
    assert len(listing.absent) == 2 and listing.videos == []


def test_unknown_split_and_fallback_without_the_ffpp_splits(tmp_path, caplog):
    datasets = make_tree(tmp_path)
    with pytest.raises(ValueError, match="expected one of ffpp, deeperforensics"):
        list_videos("deeperforensics", {**datasets["deeperforensics"], "split": "val"})
    listing = list_videos("deeperforensics", datasets["deeperforensics"])  # its section alone: no FF++ root
    assert len(listing.videos) == 3 and "ffpp_splits" in caplog.text
