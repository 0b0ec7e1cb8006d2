"""Preprocessing stages (sample, detect, crop, report) on tiny synthetic videos, bad files and, when the
folder is there, the real FaceForensics++ c23 samples."""
from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import h5py
import numpy as np
import pytest

from helpers_videos import FACE, TIME_BASE, face_position, truncate, write_broken_files, write_video
from pipeline.__main__ import main
from pipeline.io import video_key
from pipeline.preprocess.crop import crop_frame, crop_shard, crop_video
from pipeline.preprocess.detect import FaceFinder, detect_shard, detect_video
from pipeline.preprocess.faces import FAN_WEIGHTS, FanLandmarker, build_detector, fan_weights_path
from pipeline.preprocess.filters import filter_boxes, iou
from pipeline.preprocess.geometry import cut_square, square_box
from pipeline.preprocess.params import CropParams, DetectParams, SampleParams
from pipeline.preprocess.precrop import PreCrops, precrops_path
from pipeline.preprocess.problems import StageError
from pipeline.preprocess.sample import sample_shard
from pipeline.preprocess.video import FrameReader, pick_by_time, probe, region_array
from pipeline.store import ClipStore, decode_frames

FFPP = Path(__file__).resolve().parents[2] / "shared" / "data" / "ffpp-samples"


# --------------------------------------------------------------------------- sampling by timestamp
def test_pick_by_time_constant_rate():
    pts = [40 * i for i in range(75)]  # 25 fps, 3 s, ms
    assert pick_by_time(pts, TIME_BASE, 3) == [0, 9, 17, 25, 34, 42, 50, 59, 67]


def test_pick_by_time_variable_rate_and_slow_video():
    pts = [0, 10, 400, 410, 900, 1000, 2333, 2334, 2700, 4000]
    # targets 0, 1/3, 2/3, 1, 4/3, ...: first frame at or after each, every frame at most once
    assert pick_by_time(pts, TIME_BASE, 3) == [0, 2, 4, 5, 6, 7, 8, 9]
    # a video starting at t = 5 s samples relative to its first frame
    assert pick_by_time([5000 + p for p in pts], TIME_BASE, 3) == [0, 2, 4, 5, 6, 7, 8, 9]
    # 1 fps video sampled at 3 fps: each frame once, no duplicates
    assert pick_by_time([0, 1000, 2000], TIME_BASE, 3) == [0, 1, 2]


def test_sample_picks_frames_of_cfr_and_vfr_files(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    write_video(root / "cfr.mp4", n=60)
    vfr = [0, 10, 20, 400, 410, 900, 1000, 1500, 2333, 2334, 2700, 4000]
    write_video(root / "vfr.mp4", pts_ms=vfr)
    write_video(root / "rot.mp4", n=10, rotation=90)
    sample_shard(str(root), [str(p) for p in sorted(root.iterdir())], tmp_path / "index.json",
                 tmp_path / "report.csv", SampleParams(fps=3))
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["fps"] == 3
    videos = {v["video_id"]: v for v in index["videos"]}
    assert list(videos) == ["cfr.mp4", "rot.mp4", "vfr.mp4"]
    cfr = videos["cfr.mp4"]
    assert np.allclose(cfr["times"], [0, 0.36, 0.68, 1.0, 1.36, 1.68, 2.0, 2.36])
    assert (cfr["width"], cfr["height"], cfr["rotation"]) == (320, 240, 0)
    assert cfr["duration"] == pytest.approx(2.4, abs=0.05)
    tb = Fraction(*cfr["time_base"])
    assert [float(p * tb) for p in cfr["pts"]] == cfr["times"]
    # k/3 s for k = 0..9 -> 0, .4, .9, 1.0, 1.5, 2.333 (k = 5, 6), 2.334 (k = 7), 2.7, 4.0 (k = 9)
    assert np.allclose(videos["vfr.mp4"]["times"], [0, 0.4, 0.9, 1.0, 1.5, 2.333, 2.334, 2.7, 4.0])
    assert (videos["rot.mp4"]["width"], videos["rot.mp4"]["height"], videos["rot.mp4"]["rotation"]) == (240, 320, 90)


# --------------------------------------------------------------------------- filters and geometry
def test_filter_drops_zero_iou_jump_and_size_outlier():
    boxes = np.array([[100 + 2 * i, 100, 160 + 2 * i, 160] for i in range(12)], np.float64)
    boxes[3] = [400, 300, 460, 360]  # false detection elsewhere: no overlap with either neighbour
    boxes[7] = [105, 100, 1000, 995]  # overlaps its neighbours but ~15x the median width
    boxes[9] = np.nan  # no face
    keep = filter_boxes(boxes, 10)
    assert keep.tolist() == [i not in (3, 7, 9) for i in range(12)]
    boxes[0] = [0, 0, 10, 10]  # first box overlapping nothing: dropped; its neighbour keeps the next one
    assert filter_boxes(boxes, 10).tolist() == [i not in (0, 3, 7, 9) for i in range(12)]


def test_filter_isolated_and_empty():
    single = np.full((5, 4), np.nan)
    single[2] = [10, 10, 50, 50]
    assert filter_boxes(single, 10).tolist() == [False, False, True, False, False]
    assert not filter_boxes(np.full((3, 4), np.nan), 10).any()
    assert filter_boxes(np.zeros((0, 4)), 10).shape == (0,)
    two_apart = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float64)
    assert not filter_boxes(two_apart, 10).any()
    assert iou(np.array([0, 0, 10, 10.0]), np.array([5, 0, 15, 10.0])) == pytest.approx(1 / 3)


def test_square_box_and_black_padding():
    landmarks = np.array([[40, 60], [120, 60], [80, 150]], np.float32)
    box = square_box(np.array([50, 50, 110, 110]), landmarks, margin=0.4)
    # union extent x 40..120, y 50..150 -> side 100 * 1.4 = 140 around (80, 100)
    assert box.tolist() == [10, 30, 150, 170]
    image = np.full((100, 100, 3), 200, np.uint8)
    crop = cut_square(image, np.array([-50, -50, 50, 50]), 64)
    assert crop.shape == (64, 64, 3)
    assert crop[:28, :28].max() == 0 and crop[36:, 36:].min() == 200


# --------------------------------------------------------------------------- a shard with bad inputs
@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    """sample -> detect -> crop on one shard of good and bad files; returns (root, out dir)."""
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "good.mp4", n=60)
    write_video(root / "name with spaces 'quoted' é.mp4", n=40)
    write_video(root / "rotated.mp4", n=40, rotation=-90)
    write_video(root / "one_frame.mp4", n=1)
    write_video(root / "noface.mp4", n=30, face=False)
    write_video(root / "huge.mp4", n=2, size=(3840, 2160))
    write_video(root / "moov_at_end.mp4", n=30)
    write_video(root / "front_index.mp4", n=60, faststart=True)
    for name in ("moov_at_end.mp4", "front_index.mp4"):  # cut both files in half
        truncate(root / name)
        (root / name).rename(root / f"truncated_{name}")
    write_broken_files(root)
    out = tmp_path_factory.mktemp("out")
    videos = [str(p) for p in sorted(root.iterdir())]
    assert main(["sample", "--root", str(root), "--out", str(out / "index.json"), "--report",
                 str(out / "sample.csv"), "--params", '{"fps": 3, "strict": false}', *videos]) == 0
    assert main(["detect", "--index", str(out / "index.json"), "--out", str(out / "det.h5"), "--report",
                 str(out / "detect.csv"), "--params", json.dumps(vars(DetectParams()))]) == 0
    crop_params = {"size_outlier_threshold": 10, "margin": 0.4, "crop_size": 96, "jpeg_quality": 95,
                   "min_frames": 6, "strict": False}
    assert main(["crop", "--index", str(out / "index.json"), "--detections", str(out / "det.h5"),
                 "--out", str(out / "crops.h5"), "--summary", str(out / "crops.csv"),
                 "--report", str(out / "crop.csv"), "--params", json.dumps(crop_params)]) == 0
    assert main(["report", "--out", str(out / "report.csv"),
                 *(str(out / f"{s}.csv") for s in ("sample", "detect", "crop"))]) == 0
    return root, out


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_bad_files_are_reported_and_good_files_go_through(shard):
    _, out = shard
    problems = {row["video"]: (row["stage"], row["reason"]) for row in read_csv(out / "report.csv")}
    assert {v: s for v, (s, _) in problems.items()} == {
        "zero.mp4": "sample", "garbage.mp4": "sample", "text.mp4": "sample",
        "truncated_moov_at_end.mp4": "sample", "truncated_front_index.mp4": "sample", "noface.mp4": "crop",
        "huge.mp4": "crop",  # decoded fine; its 110 px face is 14 px after downscaling to 480 px for detection
    }
    assert problems["text.mp4"][1].startswith("cannot open: InvalidDataError")
    assert problems["truncated_front_index.mp4"][1].startswith("truncated:")
    assert problems["noface.mp4"][1] == "no face: none in 4 sampled frames"
    summary = {row["video_id"]: row for row in read_csv(out / "crops.csv")}
    assert sorted(summary) == sorted(["good.mp4", "name with spaces 'quoted' é.mp4", "rotated.mp4",
                                      "one_frame.mp4", "truncated_front_index.mp4"])
    assert (summary["good.mp4"]["n_frames"], summary["good.mp4"]["status"]) == ("8", "ok")
    assert (summary["one_frame.mp4"]["n_frames"], summary["one_frame.mp4"]["status"]) == ("1", "short")
    store = ClipStore(out / "crops.h5")
    assert sorted(store.keys()) == sorted(row["key"] for row in summary.values())
    assert store.read(summary["good.mp4"]["key"]).shape == (8, 96, 96, 3)
    assert store.attrs(summary["rotated.mp4"]["key"])["source_width"] == 320  # upright size (coded: 240)


def test_detections_and_crops_are_on_the_face(shard):
    root, out = shard
    index = {v["video_id"]: v for v in json.loads((out / "index.json").read_text())["videos"]}
    store = ClipStore(out / "crops.h5")
    with h5py.File(out / "det.h5") as det:
        for video_id in ("good.mp4", "rotated.mp4"):
            g = det[video_key(video_id)]
            assert (g.attrs["width"], g.attrs["height"]) == (320, 240)
            assert not np.isnan(g["boxes"][()]).any()
            assert g["landmarks"].shape == (len(index[video_id]["pts"]), 68, 2)
            for t, box, marks in zip(g["times"][()], g["boxes"][()], g["landmarks"][()]):
                x, y = face_position(round(t * 25))  # the sprite, upright coordinates
                sprite_centre = np.array([x, y]) + np.array(FACE.shape[1::-1]) / 2
                assert np.abs((box[:2] + box[2:]) / 2 - sprite_centre).max() < 20
                assert np.abs(marks.mean(0) - sprite_centre).max() < 20
            key = video_key(video_id)
            crop_boxes, times = store.h5[key]["boxes"][()], store.times(key)
            marks = dict(zip(g["times"][()], g["landmarks"][()]))
            for t, cb in zip(times, crop_boxes):
                centre = (marks[t].mean(0) - cb[:2]) / (cb[2:] - cb[:2])
                assert ((0.35 < centre) & (centre < 0.65)).all()  # landmark centroid in the crop's centre


# --------------------------------------------------------------------------- pre-crops and tracked search
def test_detect_writes_precrops_that_hold_every_crop(shard):
    _, out = shard
    precrops, store = ClipStore(precrops_path(out / "det.h5")), ClipStore(out / "crops.h5")
    with h5py.File(out / "det.h5") as det:
        with_faces = {k for k in det if not np.isnan(det[k]["boxes"][()]).all()}
        assert set(precrops.keys()) == with_faces  # a video without a face has no group
        for key in store.keys():
            images, bad = precrops.read_each(key)
            assert not bad and len(images) == int((~np.isnan(det[key]["boxes"][()][:, 0])).sum())
            regions = dict(zip(precrops.h5[key]["pts"][()], precrops.h5[key]["boxes"][()]))
            width, height = det[key].attrs["width"], det[key].attrs["height"]
            for p, crop_box in zip(store.h5[key]["pts"][()], store.h5[key]["boxes"][()]):
                inside = np.clip(crop_box, 0, [width, height, width, height])  # the crop's part in the frame
                assert (regions[p][:2] <= inside[:2]).all() and (inside[2:] <= regions[p][2:]).all()
    assert precrops.h5.attrs["precrop_margin"] == DetectParams().precrop_margin


def test_precrops_in_memory_give_the_crops_of_the_store(shard):
    _, out = shard
    entry = next(e for e in json.loads((out / "index.json").read_text())["videos"] if e["video_id"] == "good.mp4")
    det = detect_video(entry, FaceFinder(DetectParams()), DetectParams().precrop_margin)
    params = CropParams(crop_size=96, min_frames=6)
    crops, problem = crop_video(entry, det.boxes, det.landmarks, (det.width, det.height), params,
                                PreCrops.from_jpegs(entry["pts"], det.precrops))
    stored = ClipStore(out / "crops.h5")
    assert problem is None and np.array_equal(stored.read(video_key("good.mp4")), decode_frames(crops.jpegs)[0])


def sample_and_detect(root: Path, out: Path, params: DetectParams = DetectParams()) -> None:
    sample_shard(str(root), [str(p) for p in sorted(root.glob("*.mp4"))], out / "i.json", out / "rs.csv",
                 SampleParams())
    detect_shard(out / "i.json", out / "d.h5", out / "rd.csv", params)


def test_crop_reads_no_video_and_matches_crops_cut_from_the_frames(tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    write_video(root / "a.mp4", n=60)
    write_video(root / "b.mp4", n=40)
    sample_and_detect(root, tmp_path, DetectParams(precrop_margin=5))  # wide: pre-crops clipped to the frame
    with h5py.File(precrops_path(tmp_path / "d.h5")) as h5:
        regions = h5[video_key("a.mp4")]["boxes"][()]
        assert ((regions[:, :2] == 0) | (regions[:, 2:] == [320, 240])).any()
    params = CropParams(margin=4, crop_size=96)  # crops leave the frame: black there
    entries = json.loads((tmp_path / "i.json").read_text())["videos"]
    with h5py.File(tmp_path / "d.h5") as det:
        direct = {e["video_id"]: crop_video(e, det[video_key(e["video_id"])]["boxes"][()],
                                            det[video_key(e["video_id"])]["landmarks"][()], (0, 0), params)[0]
                  for e in entries}
    for video in root.iterdir():
        video.unlink()
    stats = crop_shard(tmp_path / "i.json", tmp_path / "d.h5", tmp_path / "c.h5", tmp_path / "c.csv",
                       tmp_path / "rc.csv", params)
    assert read_csv(tmp_path / "rc.csv") == [] and stats.faces == sum(len(c.jpegs) for c in direct.values())
    store = ClipStore(tmp_path / "c.h5")
    for video_id, crops in direct.items():
        key = video_key(video_id)
        assert np.array_equal(store.h5[key]["boxes"][()], crops.boxes)
        mad = np.abs(store.read(key).astype(int) - decode_frames(crops.jpegs)[0]).mean()
        assert mad < 2, (video_id, mad)  # the pre-crop's JPEG round trip only


def test_crop_reports_bad_precrops_and_refuses_a_wider_margin(tmp_path, caplog):
    root = tmp_path / "videos"
    root.mkdir()
    write_video(root / "a.mp4", n=60)
    sample_and_detect(root, tmp_path)
    with h5py.File(precrops_path(tmp_path / "d.h5"), "a") as h5:
        frames = h5[video_key("a.mp4")]["frames"]
        frames[2] = frames[2][::-1]  # its CRC no longer matches
    crop_shard(tmp_path / "i.json", tmp_path / "d.h5", tmp_path / "c.h5", tmp_path / "c.csv", tmp_path / "rc.csv",
               CropParams(crop_size=64, min_frames=1))
    assert [r["reason"] for r in read_csv(tmp_path / "rc.csv")] == [
        "pre-crops unusable: 1 of 8 usable frames (1 failed their checksum or did not decode)"]
    assert ClipStore(tmp_path / "c.h5").n_frames(video_key("a.mp4")) == 7
    args = ["crop", "--index", str(tmp_path / "i.json"), "--detections", str(tmp_path / "d.h5"), "--out",
            str(tmp_path / "w.h5"), "--summary", str(tmp_path / "w.csv"), "--report", str(tmp_path / "rw.csv"),
            "--params", '{"margin": 0.9}']
    assert main(args) == 1
    assert "crop margin 0.9 exceeds the pre-crops' precrop_margin 0.8" in caplog.text
    assert not (tmp_path / "w.h5").exists()


def count_full_scans(monkeypatch) -> list[int]:
    calls: list[int] = []
    scan = FaceFinder.scan
    monkeypatch.setattr(FaceFinder, "scan", lambda self, frame: calls.append(frame.pts) or scan(self, frame))
    return calls


def test_tracked_search_finds_the_faces_of_the_full_search(tmp_path, monkeypatch):
    root = tmp_path / "videos"
    root.mkdir()
    write_video(root / "a.mp4", n=100)  # 12 sampled frames, the face moving by up to 8 px between them
    sample_and_detect(root, tmp_path / "full", DetectParams(full_scan_every=1))
    scans = count_full_scans(monkeypatch)
    sample_and_detect(root, tmp_path / "tracked", DetectParams(full_scan_every=10))
    assert len(scans) == 2  # sampled frames 0 and 10
    with h5py.File(tmp_path / "full/d.h5") as full, h5py.File(tmp_path / "tracked/d.h5") as tracked:
        a, b = full[video_key("a.mp4")]["boxes"][()], tracked[video_key("a.mp4")]["boxes"][()]
    assert len(a) == 12 and not np.isnan(a).any() and not np.isnan(b).any()
    assert np.abs((a[:, :2] + a[:, 2:]) - (b[:, :2] + b[:, 2:])).max() / 2 < 8  # same face, same place


def write_two_faces(path: Path, n: int, appears: int) -> None:
    """A 480x270 video: a 90 px face on the left, and from frame `appears` on a 150 px one on the right."""
    background = np.full((270, 480, 3), 110, np.uint8)
    small, large = cv2.resize(FACE, (90, 90)), cv2.resize(FACE, (150, 150))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt, stream.options = 480, 270, "yuv420p", {"preset": "ultrafast"}
        for i in range(n):
            image = background.copy()
            image[90:180, 20:110] = small
            if i >= appears:
                image[60:210, 310:460] = large
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


@pytest.mark.parametrize("every", [4, 1000])
def test_periodic_full_scan_finds_a_second_larger_face(tmp_path, every):
    root = tmp_path / "videos"
    root.mkdir()
    write_two_faces(root / "two.mp4", n=125, appears=40)  # 15 sampled frames; the large face from the 5th
    sample_and_detect(root, tmp_path, DetectParams(full_scan_every=every))
    with h5py.File(tmp_path / "d.h5") as det:
        centres = (det[video_key("two.mp4")]["boxes"][()][:, 0] + det[video_key("two.mp4")]["boxes"][()][:, 2]) / 2
    on_large = centres > 240
    assert not on_large[:5].any()
    if every == 4:  # the full scan of sampled frame 8 finds it; tracking stays on it
        assert not on_large[5:8].any() and on_large[8:].all()
    else:  # tracking alone never looks there
        assert not on_large.any()


def test_outputs_exist_when_every_video_fails(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"")
    sample_shard(str(tmp_path), [str(bad)], tmp_path / "i.json", tmp_path / "rs.csv", SampleParams())
    detect_shard(tmp_path / "i.json", tmp_path / "d.h5", tmp_path / "rd.csv", DetectParams())
    crop_shard(tmp_path / "i.json", tmp_path / "d.h5", tmp_path / "c.h5", tmp_path / "c.csv",
               tmp_path / "rc.csv", CropParams())
    assert json.loads((tmp_path / "i.json").read_text())["videos"] == []
    assert ClipStore(tmp_path / "c.h5").keys() == []
    assert (tmp_path / "c.csv").read_text().strip() == "video_id,key,n_frames,status"
    assert len(read_csv(tmp_path / "rs.csv")) == 1 and read_csv(tmp_path / "rc.csv") == []


def test_strict_mode_fails_with_the_message(tmp_path, caplog):
    (tmp_path / "zero.mp4").write_bytes(b"")
    args = ["sample", "--root", str(tmp_path), "--out", str(tmp_path / "i.json"), "--report",
            str(tmp_path / "r.csv"), "--params", '{"fps": 3, "strict": true}', str(tmp_path / "zero.mp4")]
    assert main(args) == 1
    assert "sample: zero.mp4: cannot open" in caplog.text
    assert not (tmp_path / "i.json").exists()


def test_params_reject_unknown_keys():
    assert CropParams.from_json('{"margin": 0.3}').margin == 0.3
    with pytest.raises(StageError, match="unknown SampleParams keys"):
        SampleParams.from_json('{"fsp": 3}')


def test_probe_reads_rotation(tmp_path):
    write_video(tmp_path / "r.mp4", n=5, rotation=180)
    info = probe(str(tmp_path / "r.mp4"))
    assert abs(info.rotation) == 180 and info.warning is None and len(info.pts) == 5


def test_frame_reader_reports_frames_it_could_not_decode(tmp_path):
    write_video(tmp_path / "v.mp4", n=5)
    pts = probe(str(tmp_path / "v.mp4")).pts
    reader = FrameReader(str(tmp_path / "v.mp4"), [pts[3], pts[1], 10**9])
    assert [(i, frame.pts) for i, frame in reader] == [(1, pts[1]), (0, pts[3])]
    assert reader.problem() == "incomplete decode: 2 of 3 sampled frames decoded"


def test_frame_reader_skips_unreferenced_frames_and_returns_identical_pictures(tmp_path):
    path = str(tmp_path / "b.mp4")
    write_video(tmp_path / "b.mp4", n=60, preset="medium")
    pts = probe(path).pts
    wanted = pts[::8]
    reader = FrameReader(path, wanted)
    got = {frame.pts: frame.to_ndarray(format="rgb24") for _, frame in reader}
    with av.open(path) as container:
        full = {f.pts: f.to_ndarray(format="rgb24") for f in container.decode(video=0) if f.pts in got}
    assert sorted(got) == sorted(wanted) and reader.problem() is None
    assert all(np.array_equal(got[p], full[p]) for p in wanted)
    assert reader.decoded < pts.index(wanted[-1]) + 1  # some unwanted frames were never decoded


def test_small_faces_are_found_by_the_retry_with_upsampling():
    image = np.full((240, 320, 3), 90, np.uint8)
    image[80:160, 120:200] = cv2.resize(FACE, (80, 80))  # the face in it is below HOG's 80 px window
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    assert FaceFinder(DetectParams(retry_upsample=False))(frame) is None
    box, _, landmarks = FaceFinder(DetectParams())(frame)
    assert 130 < (box[0] + box[2]) / 2 < 190 and 90 < (box[1] + box[3]) / 2 < 150
    assert landmarks.shape == (68, 2)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p", "yuv444p", "yuvj420p", "rgb24"])
@pytest.mark.parametrize("shape", [(250, 334, 3), (251, 333, 3)])
def test_crop_converts_only_the_box_and_matches_the_full_frame(pix_fmt, shape):
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 255, shape, dtype=np.uint8), (5, 5), 0)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format=pix_fmt)
    full = frame.to_ndarray(format="rgb24")
    boxes = [[0, 0, 333, 251], [-40, -30, 90, 100], [250, 180, 400, 330], [101, 57, 180, 136],
             [500, 500, 600, 600]] + [list(rng.integers(-50, 300, 2)) + [0, 0] for _ in range(20)]
    for box in boxes:
        if box[2] == 0:
            side = int(rng.integers(1, 160))
            box = [box[0], box[1], box[0] + side, box[1] + side]
        box = np.array(box)
        assert np.array_equal(crop_frame(frame, box, 64), cut_square(full, box, 64)), (pix_fmt, box)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p", "yuv444p", "yuvj420p", "rgb24"])
@pytest.mark.parametrize("color_range", [1, 2])  # MPEG (limited) and JPEG (full) range
def test_grey_region_matches_the_full_frame(pix_fmt, color_range):
    rng = np.random.default_rng(2)
    image = cv2.GaussianBlur(rng.integers(0, 255, (251, 334, 3), dtype=np.uint8), (5, 5), 0)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format=pix_fmt)
    frame.color_range = color_range
    full = frame.to_ndarray(format="gray")
    for x0, y0, x1, y1 in ([0, 0, 334, 251], [3, 7, 90, 100], [250, 180, 334, 251], [101, 57, 102, 58]):
        assert np.array_equal(region_array(frame, x0, y0, x1, y1, "gray"), full[y0:y1, x0:x1]), (x0, y0)


def test_crop_of_a_rotated_frame_matches_the_upright_picture(tmp_path):
    write_video(tmp_path / "r.mp4", n=3, rotation=90)
    with av.open(str(tmp_path / "r.mp4")) as container:
        frame = next(container.decode(video=0))
    upright_rgb = np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), round(frame.rotation / 90)))
    box = np.array([30, 50, 200, 220])
    assert frame.rotation and np.array_equal(crop_frame(frame, box, 64), cut_square(upright_rgb, box, 64))


def test_mmod_detector_finds_the_face():
    boxes, scores = build_detector("mmod")(cv2.resize(FACE, (220, 220)), 0)
    assert boxes.shape == (1, 4) and scores.shape == (1,)
    assert np.abs((boxes[0, :2] + boxes[0, 2:]) / 2 - 110).max() < 25


# --------------------------------------------------------------------------- FAN weights from the hub cache
def test_fan_backend_loads_cached_weights_and_explains_missing_ones(tmp_path, monkeypatch):
    import torch
    from face_alignment.models import FAN

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(StageError, match=FAN_WEIGHTS):
        FanLandmarker()
    path = fan_weights_path()
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / FAN_WEIGHTS
    path.parent.mkdir(parents=True)
    torch.save(FAN(4).state_dict(), path)
    image = np.zeros((240, 320, 3), np.uint8)
    image[60:170, 100:210] = FACE
    marks = FanLandmarker()(image, np.array([110, 70, 200, 160], np.float32))
    assert marks.shape == (68, 2) and np.isfinite(marks).all()


# --------------------------------------------------------------------------- real FaceForensics++ samples
@pytest.mark.skipif(not FFPP.is_dir(), reason="FaceForensics++ samples not present")
def test_real_ffpp_samples_faces_found_and_centred(tmp_path):
    videos = [FFPP / "original_sequences/youtube/c23/videos/004.mp4",
              FFPP / "manipulated_sequences/NeuralTextures/c23/videos/004_982.mp4"]
    sample_shard(str(FFPP), [str(v) for v in videos], tmp_path / "i.json", tmp_path / "rs.csv", SampleParams())
    stats = detect_shard(tmp_path / "i.json", tmp_path / "d.h5", tmp_path / "rd.csv", DetectParams())
    assert stats.faces >= 0.9 * stats.frames > 0
    crop_shard(tmp_path / "i.json", tmp_path / "d.h5", tmp_path / "c.h5", tmp_path / "c.csv",
               tmp_path / "rc.csv", CropParams(crop_size=160))
    rows = read_csv(tmp_path / "c.csv")
    assert [r["status"] for r in rows] == ["ok", "ok"]
    store = ClipStore(tmp_path / "c.h5")
    with h5py.File(tmp_path / "d.h5") as det:
        for row in rows:
            marks = dict(zip(det[row["key"]]["times"][()], det[row["key"]]["landmarks"][()]))
            for t, cb in zip(store.times(row["key"]), store.h5[row["key"]]["boxes"][()]):
                centre = (marks[t].mean(0) - cb[:2]) / (cb[2:] - cb[:2])
                assert ((0.35 < centre) & (centre < 0.65)).all()
