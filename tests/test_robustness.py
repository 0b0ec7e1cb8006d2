"""The DeeperForensics perturbations do what they say at each level; the null perturbation reproduces the clean
evaluation exactly; the table and figure build from sweep files; the command's help and errors."""
from __future__ import annotations

import json
import math

import av
import cv2
import h5py
import numpy as np
import pandas as pd
import pytest

from helpers_videos import write_video
from pipeline.__main__ import main
from pipeline.io import video_key
from pipeline.preprocess.crop import crop_video
from pipeline.preprocess.params import CropParams
from pipeline.preprocess.video import probe
from pipeline.robustness.compression import encode_h264, reencode
from pipeline.distortions import LEVELS, PERTURBATIONS, perturb_frame, pixelation
from pipeline.robustness.report import write_report
from pipeline.robustness.sweep import METRIC_COLUMNS, recompressed_frames, sampled_frames
from pipeline.store import ClipStore, ClipStoreWriter


# The published parameters of levels 1..5, written out here (not read from PERTURBATIONS) so that a wrong value in
# the code's table fails: DeeperForensics-1.0 (Jiang et al., CVPR 2020), `get_distortion_parameter` in
# github.com/EndlessSora/DeeperForensics-1.0 perturbation/add_distortion_to_video.py (read at commit 4f6ecffd).
# name: (`--type` code there, levels 1..5)
PUBLISHED = {
    "color_saturation": ("CS", (0.4, 0.3, 0.2, 0.1, 0.0)),  # chroma factor
    "color_contrast": ("CC", (0.85, 0.725, 0.6, 0.475, 0.35)),  # pixel factor
    "block_wise": ("BW", (16, 32, 48, 64, 80)),  # 8x8 grey blocks per 256 px of the shorter side
    "gaussian_noise": ("GNC", (0.001, 0.002, 0.005, 0.01, 0.05)),  # variance, YCbCr in [0, 1]
    "gaussian_blur": ("GB", (7, 9, 13, 17, 21)),  # kernel size
    "pixelation": ("JPEG", (2, 3, 4, 5, 6)),  # down-and-up resize factor
    "video_compression": ("VC", (30, 32, 35, 38, 40)),  # x264 CRF
}


def published(name: str, level: int) -> float:
    return PUBLISHED[name][1][level - 1]


def frame(h: int = 60, w: int = 60, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def perturbed(name: str, image: np.ndarray, level: int, seed: int = 0) -> np.ndarray:
    return perturb_frame(name, image, level, np.random.default_rng(seed))


def luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(255 ** 2 / np.mean((a.astype(np.float64) - b) ** 2))


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_levels_are_the_published_deeperforensics_parameters(name):
    code, values = PUBLISHED[name]
    spec = PERTURBATIONS[name]
    assert spec.code == code
    for level, value in zip((1, 2, 3, 4, 5), values, strict=True):
        assert spec.parameter(level) == value, f"{name} level {level}"


def test_the_seven_published_perturbations_and_five_levels():
    assert LEVELS == (1, 2, 3, 4, 5)
    assert sorted(PERTURBATIONS) == sorted(PUBLISHED)


def test_level_zero_is_the_frame_itself_and_levels_outside_1_to_5_fail():
    image = frame()
    for name, spec in PERTURBATIONS.items():
        assert perturb_frame(name, image, 0, np.random.default_rng(0)) is image
        assert len(spec.parameters) == len(LEVELS)
        with pytest.raises(ValueError, match="level 6"):
            spec.parameter(6)


@pytest.mark.parametrize("level", LEVELS)
def test_saturation_changes_only_chroma(level):
    image = frame()
    out = perturbed("color_saturation", image, level)
    assert np.abs(luma(out) - luma(image)).max() <= 1.0  # luma kept, up to truncation to uint8
    factor = published("color_saturation", level)
    chroma = lambda x: x.astype(np.float64) - luma(x)[..., None]  # noqa: E731 - R-Y, G-Y, B-Y
    assert np.abs(chroma(out) - factor * chroma(image)).max() <= 1.5
    if factor == 0:
        assert np.ptp(out.astype(int), axis=2).max() <= 1  # grey


def test_contrast_scales_every_channel_and_is_monotone_in_level():
    image = frame()
    stats = []
    for level in LEVELS:
        out = perturbed("color_contrast", image, level)
        factor = published("color_contrast", level)
        assert np.array_equal(out, (image * np.float32(factor)).astype(np.uint8))
        stats.append((out.mean(), out.std()))
    assert all(a[0] > b[0] and a[1] > b[1] for a, b in zip(stats, stats[1:]))


def test_block_wise_puts_more_grey_8x8_blocks_per_level_and_none_below_256_pixels():
    image = frame(512, 640)
    image[image == 128] = 127
    changed = []
    for level in LEVELS:
        out = perturbed("block_wise", image, level, seed=3)
        diff = (out != image).any(axis=2)
        assert (out[diff] == 128).all()
        n_blocks = 512 // 256 * published("block_wise", level)
        assert 64 < diff.sum() <= n_blocks * 64
        changed.append(diff)
    assert all((b >= a).all() and b.sum() > a.sum() for a, b in zip(changed, changed[1:]))
    small = frame(240, 320)
    assert np.array_equal(perturbed("block_wise", small, 5), small)  # DeeperForensics' count is 0 there


def test_noise_grows_with_level_at_the_published_strength():
    grey = np.full((200, 200, 3), 128, np.uint8)
    sigmas = [luma(perturbed("gaussian_noise", grey, level)).std() for level in LEVELS]
    assert all(a < b for a, b in zip(sigmas, sigmas[1:]))
    expected = math.sqrt(published("gaussian_noise", 1)) * 255 ** 2 / 219  # 9.4 grey levels
    assert sigmas[0] == pytest.approx(expected, rel=0.1)


def test_blur_removes_more_detail_per_level():
    image = frame(120, 120)
    for level in LEVELS:  # DeeperForensics' gaussian_blur: a k x k kernel of sigma k / 6
        k = published("gaussian_blur", level)
        assert np.array_equal(perturbed("gaussian_blur", image, level), cv2.GaussianBlur(image, (k, k), k / 6))
    detail = [cv2.Laplacian(perturbed("gaussian_blur", image, level), cv2.CV_64F).var() for level in LEVELS]
    assert all(a > b for a, b in zip([cv2.Laplacian(image, cv2.CV_64F).var(), *detail], detail))


@pytest.mark.parametrize("level", LEVELS)
def test_pixelation_resamples_on_the_level_block_grid(level):
    """A picture constant on the level's f x f blocks comes back as the bilinear upscaling of its blocks,
    as DeeperForensics' down-and-up resize gives (its blocks are bilinear, not flat)."""
    f = int(published("pixelation", level))
    blocks = frame(60 // f, 60 // f, seed=level)
    image = np.repeat(np.repeat(blocks, f, axis=0), f, axis=1)  # 60 x 60: divisible by 2-6
    out = perturbed("pixelation", image, level)
    assert np.array_equal(out, cv2.resize(blocks, (60, 60), interpolation=cv2.INTER_LINEAR))
    other = f + 1 if f < 6 else f - 1
    assert not np.array_equal(out, pixelation(image, other, np.random.default_rng(0)))
    detail = cv2.Laplacian(frame(), cv2.CV_64F).var()
    assert cv2.Laplacian(perturbed("pixelation", frame(), level), cv2.CV_64F).var() < detail / 4


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_video(path, n=25, preset="medium")
    return path


def test_compression_reencodes_at_each_level_crf_with_falling_quality(clip):
    info = probe(str(clip))
    with av.open(str(clip)) as container:
        frames = list(container.decode(video=0))
    quality = []
    for level in LEVELS:
        crf = published("video_compression", level)
        packets = [bytes(p) for p in encode_h264(iter(frames), crf, info.time_base, None, threads=1)]
        assert f"crf={crf:.1f}".encode() in b"".join(packets[:2])  # x264 writes its settings into the stream
        out = list(reencode(iter(frames), crf, info.time_base, None, threads=1))
        assert [f.pts for f in out] == [f.pts for f in frames]
        a = np.stack([f.to_ndarray(format="rgb24") for f in frames])
        b = np.stack([f.to_ndarray(format="rgb24") for f in out])
        assert not np.array_equal(a, b)
        quality.append(psnr(a, b))
    assert all(p > q for p, q in zip(quality, quality[1:])), quality


def test_recompressed_frames_are_the_sampled_frames_of_the_reencoded_clip(clip):
    pts = np.asarray(probe(str(clip)).pts[::4])
    clean = dict(sampled_frames(str(clip), pts))
    recompressed = dict(recompressed_frames(str(clip), pts, 40, threads=1))
    assert sorted(clean) == sorted(recompressed) == list(range(len(pts)))
    for j in clean:
        assert 20 < psnr(clean[j], recompressed[j]) < 60  # the same picture, degraded


# ---- the sweep reproduces the clean evaluation ----------------------------------------------------------

CROP = {"size_outlier_threshold": 10, "margin": 0.4, "crop_size": 64, "jpeg_quality": 95}
INFERENCE = {"stride": 4, "threshold": 0.5, "batch_size": 3}


@pytest.fixture(scope="module")
def clean_test(tmp_path_factory):
    """Four videos through sample -> detect -> crop, a clip store of crops cut from the decoded frames (the
    crop stage's `crop_video` without pre-crops), its test manifest and a random R3D-18 checkpoint."""
    from helpers_evaluate import real_checkpoint

    root, out = tmp_path_factory.mktemp("ffpp"), tmp_path_factory.mktemp("prep")
    videos = {"real/000.mp4": 30, "real/001.mp4": 45, "fake/000_001.mp4": 36, "fake/001_000.mp4": 54}
    for video_id, n in videos.items():
        (root / video_id).parent.mkdir(exist_ok=True)
        write_video(root / video_id, n=n)
    assert main(["sample", "--root", str(root), "--out", str(out / "index.json"), "--report", str(out / "rs.csv"),
                 *(str(root / v) for v in videos)]) == 0
    assert main(["detect", "--index", str(out / "index.json"), "--out", str(out / "det.h5"), "--report",
                 str(out / "rd.csv")]) == 0
    assert main(["crop", "--index", str(out / "index.json"), "--detections", str(out / "det.h5"), "--out",
                 str(out / "stage.h5"), "--summary", str(out / "stage.csv"), "--report", str(out / "rc.csv"),
                 "--params", json.dumps({**CROP, "min_frames": 4})]) == 0
    rows = []
    entries = json.loads((out / "index.json").read_text())["videos"]
    with h5py.File(out / "det.h5") as det, ClipStoreWriter(out / "crops.h5", CROP["crop_size"], 95) as store:
        for entry in entries:
            g = det[video_key(entry["video_id"])]
            crops, _ = crop_video(entry, g["boxes"][()], g["landmarks"][()], (g.attrs["width"], g.attrs["height"]),
                                  CropParams(**CROP))
            fake = entry["video_id"].startswith("fake")
            rows.append({"video_id": entry["video_id"], "label": int(fake), "method": "Deepfakes" if fake else "real",
                         "group": "g", "store": str(out / "crops.h5"), "key": store.add(crops),
                         "n_frames": len(crops.jpegs)})
    pd.DataFrame(rows).to_csv(out / "test.csv", index=False)
    return root, out, scoring_checkpoint(real_checkpoint(out, "r3d_18", size=32))


def scoring_checkpoint(path):
    """The checkpoint with a random classifier (R3D-18's is zero-initialised: every video would score 0.5)."""
    import torch

    from pipeline.checkpoint import load_checkpoint, save_atomic

    ckpt = load_checkpoint(path)
    ckpt["state_dict"]["fc.weight"] = torch.randn(ckpt["state_dict"]["fc.weight"].shape,
                                                  generator=torch.Generator().manual_seed(0))
    save_atomic(ckpt, path)
    return path


def sweep_args(root, out, checkpoint, name: str, params: dict) -> list[str]:
    return ["robustness", "sweep", "--checkpoint", str(checkpoint), "--manifest", str(out / "test.csv"),
            "--detections", str(out / "det.h5"), "--root", str(root), "--perturbation", name,
            "--out-metrics", str(out / f"{name}.metrics.csv"), "--out-predictions", str(out / f"{name}.pred.csv"),
            "--params", json.dumps(params)]


def test_null_perturbation_reproduces_the_clean_evaluation_exactly(clean_test):
    root, out, checkpoint = clean_test
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--manifest", str(out / "test.csv"), "--testset",
                 "ffpp", "--dataset", "ffpp", "--condition", "all", "--out-predictions", str(out / "clean.csv"),
                 "--out-metrics", str(out / "clean.metrics.csv"), "--params", json.dumps(INFERENCE)]) == 0
    assert main(sweep_args(root, out, checkpoint, "color_saturation", {**CROP, **INFERENCE, "levels": [5]})) == 0
    clean = pd.read_csv(out / "clean.csv")
    swept = pd.read_csv(out / "color_saturation.pred.csv")
    level0 = swept[swept["level"] == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(level0[clean.columns], clean)  # identical probabilities, not just close
    grey = swept[swept["level"] == 5].reset_index(drop=True)
    assert list(grey["video_id"]) == list(clean["video_id"])
    assert not np.allclose(grey["probability"], clean["probability"])
    metrics = pd.read_csv(out / "color_saturation.metrics.csv")
    assert list(metrics.columns) == METRIC_COLUMNS
    clean_metrics = pd.read_csv(out / "clean.metrics.csv")
    auc = lambda df: df.loc[df["metric"] == "auc", "value"].iloc[0]  # noqa: E731
    assert auc(metrics[metrics["level"] == 0]) == auc(clean_metrics)
    assert set(metrics.loc[metrics["metric"] == "videos", "value"]) == {4}


def test_clean_crops_are_those_of_the_crop_stage_up_to_its_pre_crop_jpeg_loss(clean_test):
    """The workflow's clip stores are cut from `detect`'s JPEG pre-crops, the sweep's from the decoded frames."""
    _, out, _ = clean_test
    ours, stage = ClipStore(out / "crops.h5"), ClipStore(out / "stage.h5")
    for key in ours.keys():
        a, b = ours.read(key).astype(int), stage.read(key).astype(int)
        assert a.shape == b.shape and np.abs(a - b).mean() < 3


def test_sweep_of_video_compression_and_a_video_cap(clean_test):
    root, out, checkpoint = clean_test
    params = {**CROP, **INFERENCE, "levels": [1, 5], "max_videos": 2}
    assert main(sweep_args(root, out, checkpoint, "video_compression", params)) == 0
    swept = pd.read_csv(out / "video_compression.pred.csv")
    assert sorted(set(swept["level"])) == [0, 1, 5]
    assert all(sorted(labels) == [0, 1] for _, labels in swept.groupby("level")["label"])  # one real, one fake


# ---- table and figure ------------------------------------------------------------------------------------


def sweep_metrics(path, model: str, name: str, aucs: list[float]) -> str:
    rows = []
    for level, auc in enumerate(aucs):
        parameter = PERTURBATIONS[name].parameter(level) if level else math.nan
        rows += [{"model": model, "perturbation": name, "level": level, "parameter": parameter, "class": c,
                  "metric": m, "value": v}
                 for c, m, v in (("all", "auc", auc), ("all", "videos", 12), ("real", "accuracy", 0.5))]
    pd.DataFrame(rows, columns=METRIC_COLUMNS).to_csv(path, index=False)
    return str(path)


def test_table_and_figure_from_sweep_files(tmp_path):
    files = [sweep_metrics(tmp_path / "a.csv", "xception", "gaussian_blur", [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]),
             sweep_metrics(tmp_path / "b.csv", "xception", "pixelation", [0.9, 0.9, 0.9, 0.8, 0.8, 0.8]),
             sweep_metrics(tmp_path / "c.csv", "i3d_rgb", "gaussian_blur", [0.7, 0.7, 0.7, 0.7, 0.7, 0.7])]
    levels = write_report(files, tmp_path / "levels.csv", tmp_path / "table", tmp_path / "fig.png")
    assert len(levels) == 18 and set(levels["videos"]) == {12}
    assert pd.read_csv(tmp_path / "levels.csv").shape == (18, 6)
    table = pd.read_csv(tmp_path / "table.csv").set_index("model")
    assert table.loc["Xception", "clean"] == pytest.approx(90.0)
    assert table.loc["Xception", "Gaussian blur"] == pytest.approx(60.0)  # mean of levels 1-5
    assert table.loc["Xception", "pixelation"] == pytest.approx(84.0)
    assert table.loc["Xception", "mean"] == pytest.approx(72.0)
    assert math.isnan(table.loc["I3D-RGB", "pixelation"]) and table.loc["I3D-RGB", "mean"] == pytest.approx(70.0)
    assert "| Xception" in (tmp_path / "table.md").read_text()
    assert "\\begin{table}" in (tmp_path / "table.tex").read_text()
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- the command -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["sweep", "report"])
def test_actions_have_help(action, capsys):
    with pytest.raises(SystemExit) as done:
        main(["robustness", action, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m pipeline robustness {action}")


def test_a_missing_file_is_one_error_line(tmp_path, capsys):
    assert main(["robustness", "report", "--out-levels", str(tmp_path / "l.csv"), "--out-table",
                 str(tmp_path / "t"), "--out-figure", str(tmp_path / "f.png"), str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pipeline robustness: error: ") and "missing.csv" in err[0], err
    assert not (tmp_path / "l.csv").exists()
