"""The manifests command: listings joined with crop summaries, per condition and split."""
from __future__ import annotations

import csv
import json
import logging
from collections import Counter
from pathlib import Path

from test_datasets import METHODS, make_celebdf, make_deeperforensics, make_dfdc, make_ffpp, tiny_splits, touch

from pipeline.__main__ import main
from pipeline.datasets import list_videos
from pipeline.io import video_key
from pipeline.manifests import COLUMNS, expected_outputs

CONDITIONS = {"all": [], "wo_DF": ["Deepfakes"], "wo_swap": ["Deepfakes", "FaceSwap", "FaceShifter"]}


def write_summary(path: Path, video_ids, status: str = "ok") -> Path:
    """A crop summary CSV listing `video_ids` (its clip store would be `path` with `.h5`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video_id", "key", "n_frames", "status"])
        writer.writerows([v, video_key(v), 17, status] for v in video_ids)
    return path


def read(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def run_manifests(tmp_path, name, datasets, summaries, real_summaries=(), strict=False) -> tuple[int, Path]:
    outdir = tmp_path / "manifests" / name
    params = {"datasets": datasets, "conditions": CONDITIONS, "strict": strict}
    argv = ["manifests", "--dataset", name, "--params", json.dumps(params), "--outdir", str(outdir),
            "--problems", str(outdir / "problems.csv"), "--summaries", *map(str, summaries)]
    if real_summaries:
        argv += ["--real-summaries", *map(str, real_summaries)]
    return main(argv), outdir


def test_ffpp_conditions_leave_methods_out_of_train_and_val(tmp_path):
    cfg = make_ffpp(tmp_path / "ffpp", tiny_splits())
    ids = [v.video_id for v in list_videos("ffpp", cfg).videos]
    crops = tmp_path / "crops"
    summaries = [write_summary(crops / "shard000.csv", ids[::2]), write_summary(crops / "shard001.csv", ids[1::2])]
    rc, outdir = run_manifests(tmp_path, "ffpp", {"ffpp": cfg}, summaries)
    assert rc == 0
    assert sorted(str(p.relative_to(outdir)) for p in outdir.rglob("*.csv") if p.name != "problems.csv") == sorted(
        expected_outputs("ffpp", CONDITIONS))
    train = read(outdir / "all/train.csv")
    assert list(train[0]) == COLUMNS
    assert [r["video_id"] for r in train] == sorted(r["video_id"] for r in train)
    assert Counter(r["method"] for r in train) == {"real": 6, **{m: 6 for m in METHODS}}
    row = next(r for r in train if r["method"] == "Deepfakes")
    assert (row["label"], row["group"], row["n_frames"]) == ("1", "Deepfakes", "17")
    assert row["key"] == video_key(row["video_id"])
    assert row["store"] in {str(s.with_suffix(".h5")) for s in summaries}
    assert {r["label"] for r in train if r["method"] == "real"} == {"0"}
    for split in ("train", "val"):
        methods = {r["method"] for r in read(outdir / f"wo_swap/{split}.csv")}
        assert methods == {"real", "Face2Face", "NeuralTextures"}
        assert "Deepfakes" not in {r["method"] for r in read(outdir / f"wo_DF/{split}.csv")}
    tests = [read(outdir / f"{c}/test.csv") for c in CONDITIONS]
    assert all(t == tests[0] for t in tests) and len(tests[0]) == 2 + 2 * len(METHODS)
    counts = read(outdir / "counts.csv")
    assert {"condition": "wo_DF", "split": "val", "method": "real", "n": "2"} in counts
    assert not any(r["condition"] == "wo_DF" and r["split"] == "train" and r["method"] == "Deepfakes" for r in counts)
    assert read(outdir / "problems.csv") == []


def test_missing_crops_are_left_out_and_reported_and_strict_fails(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    cfg = make_ffpp(tmp_path / "ffpp", tiny_splits(), methods=["Deepfakes"])
    ids = [v.video_id for v in list_videos("ffpp", cfg).videos]
    summary = write_summary(tmp_path / "crops/shard000.csv", ids[1:])
    rc, outdir = run_manifests(tmp_path, "ffpp", {"ffpp": cfg}, [summary])
    assert rc == 0
    reason = "listed but absent from the crop summaries (failed preprocessing)"
    assert read(outdir / "problems.csv") == [{"video": ids[0], "stage": "manifest", "reason": reason}]
    assert ids[0] not in {r["video_id"] for c in CONDITIONS for s in ("train", "val", "test")
                          for r in read(outdir / f"{c}/{s}.csv")}
    assert "1 listed videos without crops" in caplog.text and "ffpp wo_DF/train" in caplog.text
    rc, _ = run_manifests(tmp_path, "ffpp", {"ffpp": cfg}, [summary], strict=True)
    assert rc == 1


def test_every_expected_file_is_written_even_when_empty(tmp_path):
    cfg = make_celebdf(tmp_path / "celeb", ["1 Celeb-real/a.mp4"])
    rc, outdir = run_manifests(tmp_path, "celebdf", {"celebdf": cfg}, [])
    assert rc == 0 and expected_outputs("celebdf", CONDITIONS) == ["all/test.csv", "counts.csv"]
    assert (outdir / "all/test.csv").read_text() == ",".join(COLUMNS) + "\n"
    assert len(read(outdir / "problems.csv")) == 1


def test_dfdc_caps_are_seeded_and_deterministic(tmp_path):
    cfg = make_dfdc(tmp_path / "dfdc")
    ids = [v.video_id for v in list_videos("dfdc", cfg).videos]
    summary = write_summary(tmp_path / "crops/shard000.csv", ids, status="short")

    def train_ids(seed):
        rc, outdir = run_manifests(tmp_path / f"seed{seed}", "dfdc", {"dfdc": {**cfg, "seed": seed}}, [summary])
        assert rc == 0 and expected_outputs("dfdc", CONDITIONS) == [
            "all/train.csv", "all/val.csv", "all/test.csv", "counts.csv"]
        rows = read(outdir / "all/train.csv")
        assert Counter(r["method"] for r in rows) == {"real": 3, "fake": 5}  # caps: 3 of 4 real, 5 of 8 fake
        assert {r["group"] for r in rows} <= {"dfdc_train_part_0", "dfdc_train_part_1"}
        assert len(read(outdir / "all/val.csv")) == 6 and len(read(outdir / "all/test.csv")) == 6
        return [r["video_id"] for r in rows]

    assert train_ids(0) == train_ids(0)
    assert any(train_ids(0) != train_ids(seed) for seed in (1, 2, 3))


def test_deeperforensics_takes_reals_from_the_ffpp_test_split(tmp_path):
    ffpp = make_ffpp(tmp_path / "ffpp", tiny_splits(), methods=["Deepfakes"])
    dfo = make_deeperforensics(tmp_path / "dfo", ["008_W101.mp4", "009_M002.mp4"])
    ffpp_ids = [v.video_id for v in list_videos("ffpp", ffpp).videos]
    dfo_ids = [v.video_id for v in list_videos("deeperforensics", dfo).videos]
    own = write_summary(tmp_path / "dfo_crops/shard000.csv", dfo_ids)
    reals = write_summary(tmp_path / "ffpp_crops/shard000.csv", ffpp_ids)
    rc, outdir = run_manifests(tmp_path, "deeperforensics", {"ffpp": ffpp, "deeperforensics": dfo}, [own], [reals])
    assert rc == 0
    rows = read(outdir / "all/test.csv")
    assert {(r["video_id"], r["label"], r["method"]) for r in rows} == {
        ("original_sequences/youtube/c23/videos/008.mp4", "0", "real"),
        ("original_sequences/youtube/c23/videos/009.mp4", "0", "real"),
        ("manipulated_videos/end_to_end/008_W101.mp4", "1", "end_to_end"),
        ("manipulated_videos/end_to_end/009_M002.mp4", "1", "end_to_end")}
    assert {r["store"] for r in rows if r["label"] == "0"} == {str(reals.with_suffix(".h5"))}
    assert not (outdir / "all/train.csv").exists()


def test_dfd_is_a_test_set_of_its_own_videos(tmp_path):
    ffpp = make_ffpp(tmp_path, tiny_splits(), methods=["Deepfakes"])
    touch(tmp_path, "original_sequences/actors/c23/videos/01__kitchen_pan.mp4",
          "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__kitchen_pan__ABCD1234.mp4")
    dfd = {"root": ffpp["root"], "compression": "c23"}
    ids = [v.video_id for v in list_videos("dfd", dfd).videos]
    summary = write_summary(tmp_path / "dfd_crops/shard000.csv", ids)
    rc, outdir = run_manifests(tmp_path, "dfd", {"ffpp": ffpp, "dfd": dfd}, [summary])
    assert rc == 0 and expected_outputs("dfd", CONDITIONS) == ["all/test.csv", "counts.csv"]
    rows = read(outdir / "all/test.csv")
    assert {(r["label"], r["method"]) for r in rows} == {("0", "real"), ("1", "DeepFakeDetection")}
    assert not (outdir / "all/train.csv").exists() and not (outdir / "wo_DF").exists()
