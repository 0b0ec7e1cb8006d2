"""Dataset listers on tiny trees in the official layouts (empty video files: listing never decodes)."""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from pipeline.datasets import FAKE, REAL, Listing, dataset_cards, list_videos, listers, safe_join
from pipeline.datasets.dfdc import split_folders

METHODS = ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter"]


def touch(root: Path, *relpaths: str) -> None:
    for relpath in relpaths:
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def write(root: Path, relpath: str, content: object) -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))


def make_ffpp(root: Path, splits: dict[str, list[list[str]]], methods=METHODS, compression="c23") -> dict:
    """FF++ tree with every video of `splits`; returns its config section."""
    for split, pairs in splits.items():
        write(root, f"splits/{split}.json", pairs)
        for a, b in pairs:
            touch(root, *(f"original_sequences/youtube/{compression}/videos/{i}.mp4" for i in (a, b)))
            for method in methods:
                touch(root, *(f"manipulated_sequences/{method}/{compression}/videos/{t}_{s}.mp4"
                              for t, s in ((a, b), (b, a))))
    return {"root": str(root), "compression": compression, "methods": list(methods)}


def pairs(n: int, start: int = 0) -> list[list[str]]:
    return [[f"{2 * i:03d}", f"{2 * i + 1:03d}"] for i in range(start, start + n)]


def tiny_splits() -> dict[str, list[list[str]]]:
    return {"train": pairs(3), "val": pairs(1, 3), "test": pairs(1, 4)}


def make_dfdc(root: Path, parts: int = 4, videos: int = 6) -> dict:
    """DFDC parts with 1 real : 2 fakes; returns its config section (2 train parts, 1 val, 1 test)."""
    for part in range(parts):
        folder = f"dfdc_train_part_{part}"
        meta = {}
        for i in range(videos):
            name = f"p{part}v{i}.mp4"
            meta[name] = ({"label": "REAL", "split": "train"} if i % 3 == 0 else
                          {"label": "FAKE", "split": "train", "original": f"p{part}v{i - i % 3}.mp4"})
            touch(root, f"{folder}/{name}")
        write(root, f"{folder}/metadata.json", meta)
    return {"root": str(root), "parts": {"train": [0, 1], "val": [2], "test": [3]},
            "caps": {"train": {"real": 3, "fake": 5}}, "seed": 0}


def make_deeperforensics(root: Path, names: list[str], subset: str = "end_to_end") -> dict:
    touch(root, *(f"manipulated_videos/{subset}/{n}" for n in names), "manipulated_videos/end_to_end_level_1/x.mp4")
    write(root, "lists/splits/test.txt", "\n".join(names) + "\n")
    return {"root": str(root), "subset": subset}


def make_celebdf(root: Path, lines: list[str]) -> dict:
    touch(root, *(line.split()[1] for line in lines))
    write(root, "List_of_testing_videos.txt", "\n".join(lines) + "\n")
    return {"root": str(root)}


def by_split(listing: Listing) -> Counter:
    return Counter((v.split, v.method) for v in listing.videos)


def test_ffpp_counts_per_split_and_method(tmp_path):
    listing = list_videos("ffpp", make_ffpp(tmp_path, tiny_splits()))
    counts = by_split(listing)
    assert listing.problems == []
    for split, n_pairs in (("train", 3), ("val", 1), ("test", 1)):
        assert counts[split, "real"] == 2 * n_pairs
        assert all(counts[split, m] == 2 * n_pairs for m in METHODS)
    video = next(v for v in listing.videos if v.method == "Deepfakes")
    assert video.video_id.startswith("manipulated_sequences/Deepfakes/c23/videos/")
    assert (video.label, video.group) == (FAKE, "Deepfakes") and video.path.is_file()
    real = next(v for v in listing.videos if v.label == REAL)
    assert real.group == "youtube" and real.video_id.startswith("original_sequences/youtube/c23/videos/")
    assert [v.video_id for v in listing.videos] == sorted(v.video_id for v in listing.videos)


def test_ffpp_paper_split_sizes(tmp_path):
    splits = {"train": pairs(360), "val": pairs(70, 360), "test": pairs(70, 430)}
    listing = list_videos("ffpp", make_ffpp(tmp_path, splits, methods=["FaceSwap"]))
    counts = by_split(listing)
    assert [counts[s, "real"] for s in ("train", "val", "test")] == [720, 140, 140]
    assert [counts[s, "FaceSwap"] for s in ("train", "val", "test")] == [720, 140, 140]


def test_ffpp_missing_files_and_bad_splits(tmp_path):
    cfg = make_ffpp(tmp_path, tiny_splits())
    (tmp_path / "manipulated_sequences/FaceSwap/c23/videos/009_008.mp4").unlink()
    write(tmp_path, "splits/val.json", {"not": "a list"})
    write(tmp_path, "splits/test.json", [["008", "009"], ["../../../etc/passwd", "001"], ["7"]])
    listing = list_videos("ffpp", cfg)
    reasons = {p.video: p.reason for p in listing.problems}
    assert "file not found" in reasons["manipulated_sequences/FaceSwap/c23/videos/009_008.mp4"]
    assert "splits/test.json" in reasons["manipulated_sequences/FaceSwap/c23/videos/009_008.mp4"]
    assert "escapes" in reasons["original_sequences/youtube/c23/videos/../../../etc/passwd.mp4"]
    assert "malformed pair" in reasons["splits/test.json"]
    assert "expected a list" in reasons["splits/val.json"]
    # 001 is a train video: listing it again for test is a leak, reported and kept in train
    assert "already listed in the train split" in reasons["original_sequences/youtube/c23/videos/001.mp4"]
    assert by_split(listing)["val", "real"] == 0 and by_split(listing)["test", "real"] == 2


def test_dfdc_parts_labels_and_public_test_format(tmp_path):
    cfg = make_dfdc(tmp_path)
    write(tmp_path, "test/metadata.json", {"a.mp4": {"is_fake": 1}, "b.mp4": {"is_fake": 0}})
    touch(tmp_path, "test/a.mp4", "test/b.mp4")
    listing = list_videos("dfdc", cfg)
    assert listing.problems == []
    counts = Counter((v.split, v.label) for v in listing.videos)
    assert counts == {("train", REAL): 4, ("train", FAKE): 8, ("val", REAL): 2, ("val", FAKE): 4,
                      ("test", REAL): 2, ("test", FAKE): 4}
    assert {v.group for v in listing.videos if v.split == "train"} == {"dfdc_train_part_0", "dfdc_train_part_1"}
    assert {v.method for v in listing.videos} == {"real", "fake"}
    public = list_videos("dfdc", {"root": str(tmp_path), "parts": {"test": ["test"]}})
    assert [(v.video_id, v.label) for v in public.videos] == [("test/a.mp4", FAKE), ("test/b.mp4", REAL)]


def test_dfdc_bad_entries_become_problems_naming_the_file(tmp_path):
    cfg = make_dfdc(tmp_path)
    (tmp_path / "outside.mp4").touch()
    meta = json.loads((tmp_path / "dfdc_train_part_0/metadata.json").read_text())
    meta.update({"../../x.mp4": {"label": "FAKE"}, "/etc/passwd": {"label": "REAL"},
                 "../dfdc_train_part_1/p1v0.mp4": {"label": "REAL"}, "gone.mp4": {"label": "FAKE"},
                 "p0v1.mp4": {"label": "MAYBE"}, "p0v2.mp4": "FAKE"})
    write(tmp_path, "dfdc_train_part_0/metadata.json", meta)
    write(tmp_path, "dfdc_train_part_2/metadata.json", "{not json")
    listing = list_videos("dfdc", cfg)
    reasons = {p.video: p.reason for p in listing.problems}
    source = "dfdc_train_part_0/metadata.json entry"
    assert reasons["dfdc_train_part_0/../../x.mp4"].startswith(f'{source} "../../x.mp4"')
    assert "escapes dfdc_train_part_0" in reasons["dfdc_train_part_0/../../x.mp4"]
    assert "absolute" in reasons["/etc/passwd"]
    assert "escapes dfdc_train_part_0" in reasons["dfdc_train_part_0/../dfdc_train_part_1/p1v0.mp4"]
    assert "file not found" in reasons["dfdc_train_part_0/gone.mp4"]
    assert "unknown label" in reasons["dfdc_train_part_0/p0v1.mp4"]
    assert "unknown label" in reasons["dfdc_train_part_0/p0v2.mp4"]
    assert "malformed JSON" in reasons["dfdc_train_part_2/metadata.json"]
    assert len(listing.problems) == 7
    # the rest goes on: part 0 keeps its 4 good videos, part 2 is empty, parts 1 and 3 are whole
    assert Counter(v.group for v in listing.videos) == {"dfdc_train_part_0": 4, "dfdc_train_part_1": 6,
                                                        "dfdc_train_part_3": 6}


def test_dfdc_missing_part_and_bad_config(tmp_path):
    cfg = make_dfdc(tmp_path, parts=3)
    listing = list_videos("dfdc", cfg)
    assert [p.video for p in listing.problems] == ["dfdc_train_part_3/metadata.json"]
    with pytest.raises(ValueError, match="both"):
        split_folders({"train": [0, 1], "test": [1]})
    with pytest.raises(ValueError, match="unknown split"):
        split_folders({"valid": [0]})


def test_deeperforensics_lists_test_fakes_of_its_subset(tmp_path):
    cfg = make_deeperforensics(tmp_path, ["000_W101.mp4", "001_M002.mp4"])
    with open(tmp_path / "lists/splits/test.txt", "a") as f:
        f.write("404_W1.mp4\n../end_to_end_level_1/x.mp4\n")
    listing = list_videos("deeperforensics", cfg)
    assert [v.video_id for v in listing.videos] == ["manipulated_videos/end_to_end/000_W101.mp4",
                                                    "manipulated_videos/end_to_end/001_M002.mp4"]
    assert {(v.label, v.method, v.group, v.split) for v in listing.videos} == {
        (FAKE, "end_to_end", "end_to_end", "test")}
    reasons = sorted(p.reason for p in listing.problems)
    assert reasons == ["lists/splits/test.txt line 3: file not found",
                       "lists/splits/test.txt line 4: path escapes manipulated_videos/end_to_end"]


def test_celebdf_labels_one_is_real(tmp_path):
    lines = ["1 YouTube-real/00170.mp4", "1 Celeb-real/id1_0007.mp4", "0 Celeb-synthesis/id1_id0_0007.mp4"]
    cfg = make_celebdf(tmp_path, lines)
    with open(tmp_path / "List_of_testing_videos.txt", "a") as f:
        f.write("2 Celeb-real/id1_0007.mp4\n0 ../../x.mp4\n0 /abs/y.mp4\n1 Celeb-real/missing.mp4\nonlyonefield\n")
    listing = list_videos("celebdf", cfg)
    got = {v.video_id: (v.label, v.method, v.group) for v in listing.videos}
    assert got == {"YouTube-real/00170.mp4": (REAL, "real", "YouTube-real"),
                   "Celeb-real/id1_0007.mp4": (REAL, "real", "Celeb-real"),
                   "Celeb-synthesis/id1_id0_0007.mp4": (FAKE, "Celeb-synthesis", "Celeb-synthesis")}
    reasons = [p.reason for p in listing.problems]
    assert len(reasons) == 5 and all(r.startswith("List_of_testing_videos.txt line ") for r in reasons)
    assert "got '2 Celeb-real/id1_0007.mp4'" in reasons[0]
    assert "escapes the dataset root" in reasons[1] and "absolute" in reasons[2]
    assert "file not found" in reasons[3] and "onlyonefield" in reasons[4]


def test_dfd_lists_the_demo_layout_as_test_videos(tmp_path):
    """DFD on the demo generator's layout (its files touched, not rendered): the actors' scenes are real, the
    DeepFakeDetection fakes fake, all test; the FF++ listing of the same root does not include them."""
    from pipeline.demo.config import DemoConfig
    from pipeline.demo.layouts import FFPP, build_plan

    plan = build_plan(DemoConfig(identities=4, dfdc_parts=2, dfdc_videos_per_part=3, celebdf_videos=1))
    for rel, text in plan.texts.items():
        write(tmp_path, rel, text)
    touch(tmp_path, *(o.path for job in plan.scenes for o in job.outputs))
    (tmp_path / FFPP / "original_sequences/actors/c23/videos/notes.txt").touch()
    listing = list_videos("dfd", {"root": str(tmp_path / FFPP), "compression": "c23"})
    assert not listing.problems and not listing.gaps
    by_class = Counter((v.label, v.method, v.group, v.split) for v in listing.videos)
    assert by_class == {(REAL, "real", "actors", "test"): 4,
                        (FAKE, "DeepFakeDetection", "DeepFakeDetection", "test"): 4}
    assert all(v.video_id.startswith(("original_sequences/actors/c23/videos/",
                                      "manipulated_sequences/DeepFakeDetection/c23/videos/"))
               for v in listing.videos)
    fakes = [v.video_id.rsplit("/", 1)[1] for v in listing.videos if v.label == FAKE]
    assert all(name.count("__") == 2 and name.endswith(".mp4") for name in fakes)  # <a>_<b>__<scene>__<CODE>.mp4
    ffpp = list_videos("ffpp", {"root": str(tmp_path / FFPP), "compression": "c23", "methods": METHODS})
    assert ffpp.videos and not any("actors" in v.video_id or "DeepFakeDetection" in v.video_id for v in ffpp.videos)


def test_dfd_absent_folders_are_gaps(tmp_path):
    touch(tmp_path, "original_sequences/actors/c40/videos/01__kitchen_pan.mp4")
    listing = list_videos("dfd", {"root": str(tmp_path), "compression": "c40"})
    assert [v.video_id for v in listing.videos] == ["original_sequences/actors/c40/videos/01__kitchen_pan.mp4"]
    assert [(g.kind, g.path) for g in listing.gaps] == [
        ("folder", "manipulated_sequences/DeepFakeDetection/c40/videos")]
    assert "file not found" in listing.problems[0].reason


def test_safe_join_refuses_escapes(tmp_path):
    root = tmp_path / "root"
    touch(root, "a/b.mp4")
    (tmp_path / "secret.mp4").touch()
    os.symlink(tmp_path / "secret.mp4", root / "a/out.mp4")
    os.symlink(root / "a/b.mp4", root / "a/in.mp4")
    assert safe_join(root, "a/b.mp4") == (root / "a/b.mp4").resolve()
    assert safe_join(root, "a/in.mp4") == (root / "a/b.mp4").resolve()
    for bad in ("../secret.mp4", "../../x", "a/../../secret.mp4", str(tmp_path / "secret.mp4"), "a/out.mp4", ""):
        assert safe_join(root, bad) is None, bad


def test_symlinks_escaping_the_root_are_problems(tmp_path):
    root = tmp_path / "celeb"
    cfg = make_celebdf(root, ["1 Celeb-real/a.mp4"])
    (tmp_path / "secret.mp4").touch()
    os.symlink(tmp_path / "secret.mp4", root / "Celeb-real/link.mp4")
    os.symlink(root / "Celeb-real/a.mp4", root / "Celeb-real/inside.mp4")
    os.symlink(tmp_path, root / "Outside")
    with open(root / "List_of_testing_videos.txt", "a") as f:
        f.write("1 Celeb-real/link.mp4\n1 Celeb-real/inside.mp4\n1 Outside/secret.mp4\n")
    listing = list_videos("celebdf", cfg)
    assert [v.video_id for v in listing.videos] == ["Celeb-real/a.mp4", "Celeb-real/inside.mp4"]
    reasons = [p.reason for p in listing.problems]
    assert "symlink escapes" in reasons[0] and "folder Outside escapes" in reasons[1]


def test_catalogue_roles_and_unknown_dataset():
    """Each dataset's card says what the workflow does with it (written here as the paper and docs/beyond-the-paper.md say)."""
    cards = dataset_cards()
    assert list(cards) == list(listers()) == ["ffpp", "dfdc", "deeperforensics", "celebdf", "dfd"]
    assert [n for n, c in cards.items() if c.trains] == ["ffpp", "dfdc"]
    assert [n for n, c in cards.items() if c.conditions] == ["ffpp"]
    assert {n: c.real_source for n, c in cards.items() if c.real_source} == {"deeperforensics": "ffpp"}
    assert {n: dict(c.tested_by) for n, c in cards.items()} == {
        "ffpp": {"dfdc": "cross"}, "dfdc": {"ffpp": "cross"}, "deeperforensics": {"ffpp": "every"},
        "celebdf": {"ffpp": "every", "dfdc": "cross"}, "dfd": {"ffpp": "cross"}}
    assert {n: c.display for n, c in cards.items()} == {
        "ffpp": "FF++", "dfdc": "DFDC", "deeperforensics": "DeeperForensics", "celebdf": "Celeb-DF", "dfd": "DFD"}
    with pytest.raises(ValueError, match="unknown dataset"):
        list_videos("nope", {})
