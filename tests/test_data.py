"""Training data: manifests, balanced sampling, windows, clip-consistent augmentation, the Dataset."""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import pipeline  # noqa: F401 - sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported
from pipeline.data.augment import ClipAugment, CornerCrop, extra_augmentations
from pipeline.data.dataset import ClipDataset, read_frames, window_indices
from pipeline.data.manifest import COLUMNS, ManifestError, read_manifest, read_training_manifest
from pipeline.data.sampler import BalancedBatchSampler
from pipeline.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize, normalize_batch, resize_frames
from pipeline.io import video_key
from pipeline.store import ClipStore, ClipStoreWriter, VideoCrops, encode_jpeg

torch.set_num_threads(1)


def _frames(n: int, size: int, fake: bool, rng: np.random.Generator) -> list[bytes]:
    """Textured frames, dark for real and bright for fake videos (a separable toy problem)."""
    base = 200 if fake else 50
    return [encode_jpeg(np.clip(base + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8))
            for _ in range(n)]


def make_clip_dataset(root: Path, *, n_real: int = 4, methods: tuple[str, ...] = ("Deepfakes", "FaceSwap"),
                      per_method: int = 2, n_frames: int = 20, short_frames: int = 5, size: int = 48,
                      seed: int = 0) -> Path:
    """Two clip stores and a manifest folder (train.csv = val.csv) of real and fake toy videos.

    The first real and the first fake video have only `short_frames` frames (looped to 16).
    """
    rng = np.random.default_rng(seed)
    videos = [(f"real/{i:03d}.mp4", 0, "real", "real") for i in range(n_real)]
    videos += [(f"{m}/{i:03d}.mp4", 1, m, m) for m in methods for i in range(per_method)]
    stores = [root / "shard000.h5", root / "shard001.h5"]
    rows = []
    writers = [ClipStoreWriter(p, crop_size=size, jpeg_quality=95) for p in stores]
    short = {videos[0][0], videos[n_real][0]}
    for i, (vid, label, method, group) in enumerate(videos):
        n = short_frames if vid in short else n_frames
        writers[i % 2].add(VideoCrops(vid, _frames(n, size, bool(label), rng), np.arange(n) / 3.0,
                                      np.arange(n), np.zeros((n, 4))))
        rows.append(dict(video_id=vid, label=label, method=method, group=group, store=str(stores[i % 2]),
                         key=video_key(vid), n_frames=n))
    for w in writers:
        w.close()
    manifests = root / "manifests"
    manifests.mkdir()
    for split in ("train", "val"):
        write_manifest(manifests / f"{split}.csv", rows)
    return manifests


def write_manifest(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> Path:
    return make_clip_dataset(tmp_path_factory.mktemp("clips"))


# ---- manifests -------------------------------------------------------------------------------------------------

def test_read_manifest(manifests):
    rows = read_manifest(manifests / "train.csv")
    assert len(rows) == 8 and {r.method for r in rows} == {"real", "Deepfakes", "FaceSwap"}
    assert sorted(r.n_frames for r in rows)[:2] == [5, 5]


def test_manifest_errors_name_the_file(tmp_path, manifests):
    empty = tmp_path / "val.csv"
    write_manifest(empty, [])
    with pytest.raises(ManifestError, match=r"val\.csv: manifest has no videos"):
        read_manifest(empty)
    with pytest.raises(ManifestError, match="no such manifest"):
        read_manifest(tmp_path / "missing.csv")
    only_real = tmp_path / "train.csv"
    write_manifest(only_real, [r for r in csv.DictReader((manifests / "train.csv").open()) if r["label"] == "0"])
    with pytest.raises(ManifestError, match=r"train\.csv: manifest has no fake videos"):
        read_training_manifest(only_real)


# ---- sampler ---------------------------------------------------------------------------------------------------

LABELS = [0] * 5 + [1] * 9
GROUPS = ["real"] * 5 + ["Deepfakes"] * 2 + ["Face2Face"] * 3 + ["FaceSwap"] * 4


def test_batches_are_exactly_half_fake():
    sampler = BalancedBatchSampler(LABELS, GROUPS, batch_size=8, steps=40, seed=0)
    for batch in sampler:
        assert len(batch) == 8 and sum(LABELS[i] for i, _ in batch) == 4


def test_odd_batches_alternate_the_extra_sample():
    sampler = BalancedBatchSampler(LABELS, GROUPS, batch_size=3, steps=10, seed=0)
    fakes = [sum(LABELS[i] for i, _ in batch) for batch in sampler]
    assert fakes == [2, 1] * 5


def test_fake_methods_round_robin():
    sampler = BalancedBatchSampler(LABELS, GROUPS, batch_size=2, steps=60, seed=3)
    fake_groups = [GROUPS[i] for batch in sampler for i, _ in batch if LABELS[i]]
    # every consecutive round of 3 fakes holds each method once, in a shuffled order
    rounds = [tuple(fake_groups[k:k + 3]) for k in range(0, 60, 3)]
    assert all(sorted(r) == ["Deepfakes", "Face2Face", "FaceSwap"] for r in rounds)
    assert len(set(rounds)) > 1
    assert set(Counter(fake_groups).values()) == {20}


def test_cycles_cover_every_video_before_repeating():
    sampler = BalancedBatchSampler(LABELS, GROUPS, batch_size=2, steps=5, seed=1)
    reals = [i for batch in sampler for i, _ in batch if not LABELS[i]]
    assert sorted(reals) == [0, 1, 2, 3, 4]
    sampler = BalancedBatchSampler(LABELS, GROUPS, batch_size=2, steps=12, seed=1)
    face_swaps = [i for batch in sampler for i, _ in batch if GROUPS[i] == "FaceSwap"]
    assert sorted(face_swaps) == [10, 11, 12, 13]


def test_sampler_is_seeded_and_epoch_addressable():
    a = BalancedBatchSampler(LABELS, GROUPS, batch_size=4, steps=6, seed=7)
    b = BalancedBatchSampler(LABELS, GROUPS, batch_size=4, steps=6, seed=7)
    a.set_epoch(2)
    assert list(a) == [b.batch(12 + s) for s in range(6)]
    assert list(a) != list(BalancedBatchSampler(LABELS, GROUPS, batch_size=4, steps=6, seed=8))
    seeds = [s for batch in b for _, s in batch]
    assert len(set(seeds)) == len(seeds) and all(isinstance(s, int) for s in seeds)


def test_sampler_needs_both_classes():
    with pytest.raises(ValueError, match="both real and fake"):
        BalancedBatchSampler([1, 1], ["a", "b"], batch_size=2, steps=1, seed=0)


# ---- windows and frames ----------------------------------------------------------------------------------------

def test_random_window_within_bounds():
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(200):
        w = window_indices(20, 16, rng)
        assert len(w) == 16 and w[0] >= 0 and w[-1] <= 19 and (np.diff(w) == 1).all()
        starts.add(int(w[0]))
    assert starts == set(range(5))
    assert (window_indices(16, 16, rng) == np.arange(16)).all()


def test_short_video_loops():
    w = window_indices(5, 16, np.random.default_rng(0))
    assert w.tolist() == [0, 1, 2, 3, 4] * 3 + [0]


def test_read_frames_matches_store(manifests):
    row = next(r for r in read_manifest(manifests / "train.csv") if r.n_frames == 5)
    store = ClipStore(row.store)
    looped = window_indices(5, 16, np.random.default_rng(0))
    assert (read_frames(store, row.key, looped) == store.read(row.key, looped)).all()
    assert (read_frames(store, row.key, np.array([3, 1, 4])) == store.read(row.key, [3, 1, 4])).all()
    store.close()


# ---- augmentation ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def still_clip() -> np.ndarray:
    rng = np.random.default_rng(0)
    frame = np.clip(rng.normal(120, 50, (32, 32, 3)), 0, 255).astype(np.uint8)
    return np.stack([frame] * 16)


@pytest.mark.parametrize("index", range(len(extra_augmentations(32))))
def test_each_augmentation_is_identical_across_frames(still_clip, index):
    aug = ClipAugment(32, p_flip=0.0, p_extra=1.0, extras=[extra_augmentations(32)[index]])
    changed = 0
    for seed in range(4):
        out = aug(still_clip, seed)
        assert out.shape == still_clip.shape and out.dtype == np.uint8
        assert all((f == out[0]).all() for f in out)
        changed += int((out[0] != still_clip[0]).any())
    assert changed == 4


def test_corner_crop_keeps_size_and_zooms_a_corner():
    img = np.zeros((40, 40, 3), np.uint8)
    img[:20, :20] = 255
    t = CornerCrop(p=1.0)
    out = t.apply(img, corner="top_left", fraction=0.5)
    assert out.shape == img.shape and out.min() == 255
    assert t.apply(img, corner="bottom_right", fraction=0.5).max() == 0


def test_clip_augment_is_seeded(still_clip):
    aug = ClipAugment(32, p_flip=0.5, p_extra=1.0)
    assert (aug(still_clip, 5) == aug(still_clip, 5)).all()
    assert any((aug(still_clip, s) != aug(still_clip, 5)).any() for s in range(6, 10))


# ---- dataset ---------------------------------------------------------------------------------------------------

def test_dataset_video_and_image_samples(manifests):
    rows = read_manifest(manifests / "train.csv")
    clips = ClipDataset(rows, clip_len=16, size=32, augment=ClipAugment(32))
    x, y = clips[(0, 123)]
    assert x.shape == (3, 16, 32, 32) and x.dtype == torch.uint8 and y.item() == 0.0
    images = ClipDataset(rows, clip_len=1, size=40)
    x, y = images[(5, 9)]
    assert x.shape == (3, 40, 40) and y.item() == 1.0
    assert (images[(5, 9)][0] == x).all()  # no augmentation: a key always gives the same sample


def test_loader_workers_do_not_change_batches(manifests):
    rows = read_manifest(manifests / "train.csv")
    ds = ClipDataset(rows, clip_len=16, size=32, augment=ClipAugment(32))

    def batches(workers: int) -> list[torch.Tensor]:
        sampler = BalancedBatchSampler(ds.labels, ds.groups, batch_size=4, steps=3, seed=0)
        loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, num_workers=workers)
        return [x for x, _ in loader]

    assert all((a == b).all() for a, b in zip(batches(0), batches(2)))


def test_resize_and_normalize_batch_match_reference():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, 48, 48, 3), dtype=np.uint8)
    assert resize_frames(frames, 32).shape == (4, 32, 32, 3)
    assert resize_frames(frames, 48) is frames
    batch = torch.from_numpy(frames).permute(3, 0, 1, 2)[None]  # (1, 3, T, H, W)
    ours = normalize_batch(batch, IMAGENET_MEAN, IMAGENET_STD)[0].transpose(0, 1)
    reference = (frames / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)  # (T, H, W, 3)
    reference = torch.from_numpy(reference.transpose(0, 3, 1, 2)).float()
    assert torch.allclose(ours, reference, atol=1e-5)
    assert torch.allclose(normalize(frames, IMAGENET_MEAN, IMAGENET_STD), reference, atol=1e-5)
