"""`predict`: score any video with a trained checkpoint.

    python -m pipeline predict VIDEO_OR_FOLDER... --checkpoint model.pt [--out predictions.json]
        [--gradcam DIR] [--stride 16]

Each video goes through the workflow's own preprocessing with the parameters recorded in the checkpoint
(`sample` by timestamp at `fps`, `detect` faces and landmarks, `crop` with the Appendix A.1 filters and a
JPEG round trip, as in the clip stores), then through the evaluation's inference: per-frame average for
image models, sliding `clip_len`-frame windows (looped when shorter) for video models.

stdout gets one line per scored video, `<path>\\t<probability fake>\\t<fake|real>\\t<n windows>`; a video
that cannot be scored (no usable face, an unreadable file, a model that gives a non-finite score) gets one
line on stderr naming it and no probability. Paths in these lines have their control and other unprintable
characters escaped (`printable`), so each stays one line; the JSON holds the exact paths. Exit status 0 when
at least one video was scored, 1 when none was, 2 for an unusable checkpoint or `--out`, found before any
video is read: an `--out` where no file can be written, a checkpoint that cannot be loaded safely, or one
whose recorded settings the workflow's config schema would refuse (`check_settings`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.checkpoint import CheckpointError, code_version
from pipeline.evaluate.inference import (InferenceParams, forward, input_size, load_model, placement_of,
                                         probability_fn, unit_indices, video_units)
from pipeline.io import atomic_path
from pipeline.models.registry import gradcam_module
from pipeline.preprocess.crop import crop_video
from pipeline.preprocess.detect import FaceFinder, detect_video
from pipeline.preprocess.params import CropParams, DetectParams, SampleParams, StageParams
from pipeline.preprocess.precrop import PreCrops
from pipeline.preprocess.problems import StageError
from pipeline.preprocess.sample import sample_video
from pipeline.preprocess.video import VideoError, check_utf8, one_line
from pipeline.store import decode_frames

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
CONFIG_SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


@dataclass
class Prediction:
    """The result for one input file: a probability with its windows, or an error."""

    path: str
    probability: float | None = None
    label: str | None = None
    windows: list[dict] = field(default_factory=list)  # {"start", "end", "probability"}, times in seconds
    frame_times: list[float] = field(default_factory=list)  # the cropped frames that were scored
    warnings: list[str] = field(default_factory=list)
    gradcam: str | None = None
    error: str | None = None

    def as_json(self) -> dict:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        out = {"path": self.path, "probability": self.probability, "label": self.label,
               "n_windows": len(self.windows), "windows": self.windows,
               "frames": {"n": len(self.frame_times), "times": self.frame_times}}
        if self.warnings:
            out["warnings"] = self.warnings
        if self.gradcam:
            out["gradcam"] = self.gradcam
        return out


@dataclass(frozen=True)
class Preprocessing:
    """The three stages' parameters, from a checkpoint's `preprocess` record (the workflow's config slice)."""

    sample: SampleParams
    detect: DetectParams
    crop: CropParams

    @classmethod
    def from_record(cls, record: dict) -> Preprocessing:
        """The stages' parameters; `ValueError` naming the first setting the workflow would refuse: one the
        config schema refuses, or a `precrop_margin` below `margin` (detect's pre-crops must hold the crops)."""
        def pick(params: type[StageParams]) -> StageParams:
            names = {f.name for f in dataclasses.fields(params)} - {"strict"}
            return params(**{k: v for k, v in record.items() if k in names})

        check_settings({"preprocess": record})
        prep = cls(pick(SampleParams), pick(DetectParams), pick(CropParams))
        if prep.detect.precrop_margin < prep.crop.margin:
            raise ValueError(f"preprocess.precrop_margin = {prep.detect.precrop_margin!r}: below preprocess.margin "
                             f"{prep.crop.margin!r} (the pre-crops must hold the crops)")
        return prep

    def as_json(self) -> dict:
        return {k: v for stage in (self.sample, self.detect, self.crop)
                for k, v in dataclasses.asdict(stage).items() if k != "strict"}


def check_settings(settings: dict) -> None:
    """`ValueError` naming the first of `settings` (sections of the workflow config, e.g. a checkpoint's
    `{"preprocess": {...}}`) that the config schema refuses, as `<section>.<key> = <value>: <why>`: a
    checkpoint's recorded settings are held to the rules of the config they came from."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(CONFIG_SCHEMA.read_text(encoding="utf-8"))
    sections = {**schema, "required": [], "properties": {k: schema["properties"][k] for k in settings}}
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(sections).iter_errors(settings))
    if error is not None:
        key = ".".join(map(str, error.absolute_path))
        raise ValueError(f"{key} = {error.instance!r}: {' '.join(error.message.split())}")
    for section, values in settings.items():  # NaN and inf pass the schema's bounds; they are no JSON either
        for key, value in values.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{section}.{key} = {value!r}: not a finite number")


def printable(path: str) -> str:
    """`path` for a one-line message: characters that would break or hide in the line (newline, tab, CR, ESC
    and every other unprintable one) escaped as Python writes them (\\n, \\t, \\r, \\x1b, \\u2028), and
    bytes that are not UTF-8 as \\udcXX, instead of failing to print."""
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in path)


def unwritable(path: Path) -> str | None:
    """Why no file can be written at `path`, or None: a folder is there, or its folder (or, while that does not
    exist, the nearest one above, where the write would create it) takes no new file. Checked before any
    video is scored, so that the results are not lost at the end."""
    if path.is_dir():
        return "it is a folder"
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        with tempfile.TemporaryFile(dir=folder):  # unnamed where the system allows: nothing left behind
            return None
    except OSError as e:
        return e.strerror or str(e)


def expand_inputs(paths: list[str]) -> list[str]:
    """Files as given; folders replaced by the videos below them (by suffix, recursively, sorted)."""
    out = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in VIDEO_SUFFIXES and f.is_file())
            if not found:
                print(f"predict: {printable(path)}: folder holds no {'/'.join(VIDEO_SUFFIXES)} videos",
                      file=sys.stderr)
            out += found
        else:
            out.append(path)
    return out


def face_crops(path: str, prep: Preprocessing, find: FaceFinder) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decoded face crops (N, S, S, 3) of one video, their times (N,) and warnings; `VideoError` when none."""
    check_utf8(path)
    entry, warning = sample_video(path, path, prep.sample.fps)
    det = detect_video(entry, find, prep.detect.precrop_margin)
    precrops = PreCrops.from_jpegs(entry["pts"], det.precrops)
    crops, problem = crop_video(entry, det.boxes, det.landmarks, (det.width, det.height), prep.crop, precrops)
    warnings = list(dict.fromkeys(w for w in (warning, det.problem, problem) if w))  # detect and crop may agree
    if crops is None:
        raise VideoError(problem or "no usable face")
    frames, n_bad = decode_frames(crops.jpegs)  # the stores' JPEG round trip
    if n_bad:
        warnings.append(f"{n_bad} face crop(s) did not decode; replaced by the nearest good crop")
    return frames, np.asarray(crops.times), warnings


def score_units(model: nn.Module, units: torch.Tensor, batch_size: int) -> np.ndarray:
    """Fake probability of every unit (frame or window) of one video."""
    fn, placement = probability_fn(model), placement_of(model)
    return torch.cat([forward(fn, units[i:i + batch_size], placement)
                      for i in range(0, len(units), batch_size)]).numpy()


def predict_video(path: str, model: nn.Module, prep: Preprocessing, find: FaceFinder, params: InferenceParams,
                  gradcam_png: Path | None = None) -> Prediction:
    """Score one video; with `gradcam_png`, also draw the Grad-CAM of its most fake-looking window there."""
    frames, times, warnings = face_crops(path, prep, find)
    spec = model.spec
    units = video_units(frames, spec, params.stride)
    probs = score_units(model, units, params.batch_size)
    if not np.isfinite(probs).all():
        raise VideoError(f"model gave a non-finite score ({int((~np.isfinite(probs)).sum())} of {len(probs)} "
                         "windows)")
    indices = unit_indices(len(frames), spec, params.stride)
    windows = [{"start": float(times[idx[0]]), "end": float(times[idx[-1]]), "probability": float(p)}
               for idx, p in zip(indices, probs, strict=True)]
    probability = float(probs.mean())
    label = "fake" if probability >= params.threshold else "real"
    pred = Prediction(path, probability, label, windows, [float(t) for t in times], warnings)
    if gradcam_png is not None:
        best = int(np.argmax(probs))
        title = f"{Path(path).name}, {windows[best]['start']:.1f}-{windows[best]['end']:.1f} s"
        write_gradcam(model, frames[indices[best]], units[best], title, gradcam_png)
        pred.gradcam = str(gradcam_png)
    return pred


def write_gradcam(model: nn.Module, frames: np.ndarray, clip: torch.Tensor, title: str, out: Path) -> None:
    """One Figure-5-style row: the window's frames (T, S, S, 3) with the Grad-CAM of `clip` (3, T, H, W)."""
    from pipeline.data.transforms import resize_frames
    from pipeline.figures.gradcam import GradcamParams, gradcam, plot_rows

    cam, p = gradcam(model, clip)
    rows = {title: (resize_frames(frames, input_size(model.spec)), cam, p)}
    plot_rows(rows, GradcamParams.show_every, str(out))


def gradcam_paths(paths: list[str], folder: Path | None) -> list[Path | None]:
    """`folder/<video stem>.png` per video, numbered where two videos share a stem."""
    if folder is None:
        return [None] * len(paths)
    out, used = [], set()
    for i, path in enumerate(paths):
        name = f"{Path(path).stem}.png"
        if name in used:
            name = f"{Path(path).stem}-{i}.png"
        used.add(name)
        out.append(folder / name)
    return out


def write_json(path: Path, ckpt: dict, checkpoint: str, prep: Preprocessing, params: InferenceParams,
               predictions: list[Prediction]) -> None:
    record = {
        "checkpoint": checkpoint, "model": ckpt["model"], "checkpoint_code_version": ckpt["code_version"],
        "checkpoint_epoch": ckpt.get("epoch"), "code_version": code_version(), "preprocess": prep.as_json(),
        "stride": params.stride, "threshold": params.threshold,
        "videos": [p.as_json() for p in predictions],
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n", encoding="ascii")  # NaN is no JSON


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_FOLDER",
                        help=f"video files, or folders searched for {'/'.join(VIDEO_SUFFIXES)}")
    parser.add_argument("--checkpoint", required=True, help="trained model (model.pt)")
    parser.add_argument("--out", type=Path, default=None, help="JSON with per-video and per-window results")
    parser.add_argument("--gradcam", type=Path, default=None, metavar="DIR",
                        help="write a Grad-CAM overlay PNG per video here (3D models only)")
    parser.add_argument("--stride", type=int, default=InferenceParams.stride,
                        help="window stride in sampled frames for video models (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    if args.stride < 1:
        print(f"pipeline predict: error: --stride must be at least 1, got {args.stride}", file=sys.stderr)
        return 2
    if args.out is not None and (why := unwritable(args.out)):
        print(f"pipeline predict: error: {args.out}: cannot write the results there ({why})", file=sys.stderr)
        return 2
    try:
        model, ckpt = load_model(args.checkpoint)
    except CheckpointError as e:
        print(f"pipeline predict: error: {e}", file=sys.stderr)
        return 2
    except (RuntimeError, KeyError, ValueError) as e:  # weights that do not fit the model the file names
        print(f"pipeline predict: error: {args.checkpoint}: cannot rebuild its model ({one_line(e)[:300]})",
              file=sys.stderr)
        return 2
    try:  # the model's own settings, then the preprocessing's, as the config schema allows them
        check_settings({"train": {"clip_len": model.spec.clip_len, "image_size": input_size(model.spec)}})
        prep = Preprocessing.from_record(ckpt["preprocess"])
    except (ValueError, StageError) as e:
        print(f"pipeline predict: error: {args.checkpoint}: impossible recorded setting {e}", file=sys.stderr)
        return 2
    try:
        find = FaceFinder(prep.detect)
    except StageError as e:  # a detector or landmark model this machine lacks
        print(f"pipeline predict: error: {e}", file=sys.stderr)
        return 2
    params = InferenceParams(stride=args.stride)
    gradcam_dir = args.gradcam
    if gradcam_dir is not None and gradcam_module(model) is None:
        print(f"predict: {ckpt['model']} declares no Grad-CAM layer; no Grad-CAM written", file=sys.stderr)
        gradcam_dir = None
    paths = expand_inputs(args.inputs)
    pngs = gradcam_paths(paths, gradcam_dir)
    if pngs and pngs[0] is not None and (why := unwritable(pngs[0])):
        print(f"pipeline predict: error: {gradcam_dir}: cannot write Grad-CAM images there ({why})", file=sys.stderr)
        return 2
    predictions = []
    for path, png in zip(paths, pngs, strict=True):
        try:
            pred = predict_video(path, model, prep, find, params, png)
        except VideoError as e:
            pred = Prediction(path, error=str(e))
        except Exception as e:  # noqa: BLE001 - one bad file never stops the others
            pred = Prediction(path, error=f"failed: {one_line(e)}")
        predictions.append(pred)
        if pred.error is not None:
            print(f"predict: {printable(path)}: {printable(pred.error)}", file=sys.stderr)
            continue
        for warning in pred.warnings:
            print(f"predict: {printable(path)}: warning: {printable(warning)}", file=sys.stderr)
        print(f"{printable(path)}\t{pred.probability:.4f}\t{pred.label}\t{len(pred.windows)}", flush=True)
    if args.out is not None:
        write_json(args.out, ckpt, args.checkpoint, prep, params, predictions)
    return 0 if any(p.error is None for p in predictions) else 1
