"""A bad byte never costs a run: corrupt frames, videos and stores in `train`, `evaluate` and the store reader.

Frames are corrupted in place in the HDF5 file (their JPEG bytes found by content), as a failing disk or
a bad copy would. Training uses `test_train`'s stand-in model and `test_data`'s toy clip stores.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

import pipeline.models.registry
from pipeline.models.pretrained import PretrainedInfo
from helpers_evaluate import TinyImage, make_store
from pipeline.__main__ import main
from pipeline.checkpoint import save_checkpoint
from pipeline.data.dataset import ClipDataset
from pipeline.data.manifest import read_manifest
from pipeline.io import video_key
from pipeline.store import CHECKSUM, UNDECODABLE, ClipStore, StoreError, UnreadableVideo
from test_data import make_clip_dataset
from test_train import TinyNet, params, train

torch.set_num_threads(1)


def corrupt_frame(store: Path, key: str, frame: int, how: str = "flip") -> None:
    """Damage one stored JPEG in place: `flip` inverts 32 bytes mid-stream (it still decodes, to wrong
    pixels: only its checksum notices), `header` zeroes its first 16 bytes (it no longer decodes)."""
    with h5py.File(store) as h5:
        blob = bytes(h5[key]["frames"][frame])
    raw = bytearray(store.read_bytes())
    at = raw.find(blob)
    assert at >= 0 and raw.find(blob, at + 1) < 0, "the frame's bytes should occur once in the file"
    start, n = (at, 16) if how == "header" else (at + len(blob) // 2, 32)
    raw[start:start + n] = bytes(16) if how == "header" else bytes(b ^ 0xFF for b in raw[start:start + n])
    store.write_bytes(bytes(raw))


def corrupt_video(store: Path, key: str) -> None:
    with h5py.File(store) as h5:
        n = len(h5[key]["frames"])
    for i in range(n):
        corrupt_frame(store, key, i, "header")


def drop_checksums(store: Path) -> None:
    """Make a store look like format 1 (written before checksums)."""
    with h5py.File(store, "a") as h5:
        for key in h5:
            del h5[key]["crc32"]
        h5.attrs["format_version"] = 1


@pytest.fixture
def tiny_models(monkeypatch):
    """The registry's builder replaced by test_train's TinyNet (image or 3D by name)."""
    def build(name, *, image_size=None, **_):
        kind = "image" if name.startswith("tiny_image") else "video"
        return (TinyImage(16) if name == "tiny_image_eval" else TinyNet(kind, image_size or 32),
                PretrainedInfo(False, "test"))
    monkeypatch.setattr(pipeline.models.registry, "build_model", build)


def rows_of(manifests: Path) -> list:
    return read_manifest(manifests / "train.csv")


# ---- the store reader -------------------------------------------------------------------------------------------

def test_a_bad_frame_is_replaced_by_the_nearest_good_one(tmp_path):
    manifests = make_clip_dataset(tmp_path)
    row = rows_of(manifests)[1]  # 20 frames
    store = Path(row.store)
    clean = ClipStore(store).read(row.key)
    corrupt_frame(store, row.key, 7)  # still decodes: the checksum notices
    corrupt_frame(store, row.key, 8, "header")  # does not decode
    frames, bad = ClipStore(store).read_checked(row.key, [6, 7, 8, 9, 8])
    assert [(b.index, b.reason) for b in bad] == [(7, CHECKSUM), (8, CHECKSUM)]
    assert (frames[0] == clean[6]).all() and (frames[1] == clean[6]).all()  # 7 -> 6 (a tie goes earlier)
    assert (frames[2] == clean[9]).all() and (frames[3] == clean[9]).all() and (frames[4] == clean[9]).all()


def test_stores_without_checksums_still_read_and_find_undecodable_frames(tmp_path):
    manifests = make_clip_dataset(tmp_path)
    row = rows_of(manifests)[1]
    store = Path(row.store)
    clean = ClipStore(store).read(row.key)
    drop_checksums(store)
    assert (ClipStore(store).read(row.key) == clean).all()
    corrupt_frame(store, row.key, 0, "header")
    frames, bad = ClipStore(store).read_checked(row.key, [0])
    assert [(b.index, b.reason) for b in bad] == [(0, UNDECODABLE)] and (frames[0] == clean[1]).all()


def test_a_video_without_a_good_frame_names_store_video_and_frame(tmp_path):
    manifests = make_clip_dataset(tmp_path)
    row = rows_of(manifests)[1]
    corrupt_video(Path(row.store), row.key)
    with pytest.raises(UnreadableVideo, match=rf"^{re.escape(row.store)}: video {row.key}: frame 3: "
                                              f"{CHECKSUM}$"):
        ClipStore(row.store).read_checked(row.key, [3])


@pytest.mark.parametrize("damage", ["truncated", "not HDF5", "missing"])
def test_a_store_that_cannot_be_opened_is_one_clear_error(tmp_path, damage):
    manifests = make_clip_dataset(tmp_path)
    store = Path(rows_of(manifests)[1].store)
    if damage == "truncated":
        store.write_bytes(store.read_bytes()[:5000])
    elif damage == "not HDF5":
        store.write_text("not a clip store\n")
    else:
        store.unlink()
    with pytest.raises(StoreError, match=rf"^{re.escape(str(store))}: "):
        ClipStore(store).read(video_key("real/001.mp4"))


# ---- training ---------------------------------------------------------------------------------------------------

def run_train(manifests: Path, tmp: Path, model: str = "tiny_image", **train_params) -> tuple[int, dict | None]:
    out = tmp / "out"
    code = train(manifests, out, tmp / "state", params(**train_params), model=model)
    meta = json.loads((out / "meta.json").read_text()) if (out / "meta.json").exists() else None
    return code, meta


@pytest.mark.parametrize("workers", [0, 2])
def test_training_replaces_bad_frames_and_counts_them_across_workers(tiny_models, tmp_path, workers):
    manifests = make_clip_dataset(tmp_path / "clips")
    for row in rows_of(manifests):
        if row.n_frames == 20:
            for frame in range(0, 20, 2):  # every other frame of every long video
                corrupt_frame(Path(row.store), row.key, frame)
    code, meta = run_train(manifests, tmp_path, model="tiny_3d", num_workers=workers, max_bad_fraction=1.0)
    assert code == 0
    # 2 epochs x (3 train + 2 val) batches of 4; every long-video clip holds 8 bad frames of its 16
    assert meta["samples_drawn"] == 40 and 0 < meta["bad_samples"] <= 40 and meta["bad_videos"] == 0
    assert meta["bad_frames"] == 8 * meta["bad_samples"]
    if workers:  # the same samples, so the same counts, with and without workers
        _, alone = run_train(manifests, tmp_path / "alone", model="tiny_3d", num_workers=0, max_bad_fraction=1.0)
        assert {k: alone[k] for k in ("bad_samples", "bad_frames")} == {k: meta[k] for k in ("bad_samples",
                                                                                             "bad_frames")}


def test_bad_sample_counts_survive_a_resume(tiny_models, tmp_path):
    manifests = make_clip_dataset(tmp_path / "clips")
    for row in rows_of(manifests):
        corrupt_frame(Path(row.store), row.key, 1)
    _, whole = run_train(manifests, tmp_path / "whole", model="tiny_3d", max_bad_fraction=1.0)
    run_train(manifests, tmp_path / "parts", model="tiny_3d", max_bad_fraction=1.0, epochs=1)
    _, resumed = run_train(manifests, tmp_path / "parts", model="tiny_3d", max_bad_fraction=1.0)
    counts = ("samples_drawn", "bad_samples", "bad_frames", "bad_videos")
    assert resumed["epochs_run"] == 2 and whole["bad_frames"] > 0
    assert {k: resumed[k] for k in counts} == {k: whole[k] for k in counts}


def test_an_unreadable_video_is_replaced_by_one_of_its_class_and_group(tiny_models, tmp_path):
    manifests = make_clip_dataset(tmp_path / "clips")
    rows = rows_of(manifests)
    broken = rows[5]  # Deepfakes/001: its only stand-in is Deepfakes/000
    corrupt_video(Path(broken.store), broken.key)
    dataset = ClipDataset(rows, clip_len=16, size=32, flags=True)
    assert dataset.stand_ins(5, seed=1) == [4]
    x, y, flags = dataset[(5, 1)]
    assert y.item() == 1.0 and flags[1].item() == 1 and flags[2].item() == 5
    stand_in, *_ = dataset[(4, 1)]
    assert (x == stand_in).all()  # row 4's own sample for the same seed
    code, meta = run_train(manifests, tmp_path, model="tiny_3d", max_bad_fraction=1.0)
    assert code == 0 and meta["bad_videos"] > 0 and meta["bad_frames"] == 0


def test_too_many_bad_samples_stop_the_run_with_one_line(tiny_models, tmp_path, capsys):
    manifests = make_clip_dataset(tmp_path / "clips")
    for row in rows_of(manifests):
        for frame in range(5):  # all of a short video, a quarter of a long one
            corrupt_frame(Path(row.store), row.key, frame, "header")
    drop_checksums(Path(rows_of(manifests)[0].store))  # format-1 store: the decoder finds it
    drop_checksums(Path(rows_of(manifests)[1].store))
    code, meta = run_train(manifests, tmp_path, num_workers=2, max_bad_fraction=0.05, steps_per_epoch=20)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and meta is None
    assert re.fullmatch(r"pipeline train: error: \S+/shard00[01]\.h5: video v[0-9a-f]{20}: frame \d+: "
                        r"undecodable JPEG \(\d+ of \d+ samples bad, above max_bad_fraction 0\.05\)", err[-1]), err[-1]


def test_training_stops_at_once_when_a_store_cannot_be_opened(tiny_models, tmp_path, capsys):
    manifests = make_clip_dataset(tmp_path / "clips")
    store = Path(rows_of(manifests)[1].store)
    store.write_bytes(store.read_bytes()[:3000])
    code, _ = run_train(manifests, tmp_path)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and err.startswith(f"pipeline train: error: {store}: cannot open clip store, truncated or "
                                        "not HDF5 (")


# ---- evaluation -------------------------------------------------------------------------------------------------

def test_evaluation_scores_around_bad_frames_and_leaves_out_unreadable_videos(tiny_models, tmp_path, capsys):
    manifest_path = make_store(tmp_path)
    manifest = pd.read_csv(manifest_path)
    store = Path(manifest["store"][0])
    ckpt = tmp_path / "model.pt"
    save_checkpoint(ckpt, model="tiny_image_eval", state_dict=TinyImage(16).state_dict(), config={}, preprocess={})
    argv = ["evaluate", "--checkpoint", str(ckpt), "--manifest", str(manifest_path), "--testset", "ffpp",
            "--dataset", "ffpp", "--condition", "all", "--out-metrics", str(tmp_path / "m.csv")]
    assert main([*argv, "--out-predictions", str(tmp_path / "clean.csv")]) == 0
    corrupt_frame(store, manifest["key"][0], 3)
    corrupt_video(store, manifest["key"][3])  # a Deepfakes video
    capsys.readouterr()
    assert main([*argv, "--out-predictions", str(tmp_path / "p.csv")]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        f"warning: {store}: video {manifest['key'][0]}: frame 3: {CHECKSUM}; 1 bad frame(s) replaced by the "
        "nearest good frame",
        f"warning: {store}: video {manifest['key'][3]}: frame 0: {CHECKSUM} ({manifest['video_id'][3]}): no "
        "readable frame; no probability",
        "warning: 1 of 6 videos unreadable: left out of the predictions and metrics"]
    clean, predictions = pd.read_csv(tmp_path / "clean.csv"), pd.read_csv(tmp_path / "p.csv")
    assert list(predictions["video_id"]) == [v for i, v in enumerate(manifest["video_id"]) if i != 3]
    assert predictions["probability"].notna().all()
    same = clean.set_index("video_id").loc[predictions["video_id"][1:], "probability"].to_numpy()
    assert np.allclose(predictions["probability"][1:], same)  # videos without bad frames score as before
    metrics = pd.read_csv(tmp_path / "m.csv").set_index(["class", "metric"])["value"]
    assert np.isfinite(metrics[("all", "auc")]) and np.isfinite(metrics[("overall", "accuracy")])
