"""Stage parameters: the `--params` JSON of each preprocessing command, a slice of `config["preprocess"]`."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, TypeVar

from pipeline.preprocess.problems import StageError

P = TypeVar("P", bound="StageParams")


@dataclass(frozen=True)
class StageParams:
    strict: bool = False

    @classmethod
    def from_json(cls: type[P], text: str | None) -> P:
        """Parse `--params`; missing keys take the defaults (those of workflow_config.yaml), unknown keys
        are an error so that a misspelt setting is not silently ignored."""
        values: dict[str, Any] = json.loads(text) if text else {}
        if not isinstance(values, dict):
            raise StageError(f"--params must be a JSON object, got {text!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise StageError(f"unknown {cls.__name__} keys {unknown}; known: {sorted(known)}")
        return cls(**values)


@dataclass(frozen=True)
class SampleParams(StageParams):
    fps: float = 3


@dataclass(frozen=True)
class DetectParams(StageParams):
    detector: str = "hog"  # hog | mmod
    landmarks: str = "dlib68"  # dlib68 | fan
    detect_max_side: int = 640  # frames are downscaled to this longer side before detection
    upsample: int = 0  # dlib upsampling steps on the downscaled frame
    retry_upsample: bool = True  # frames without a face are tried again with one more upsampling step
    full_scan_every: int = 10  # sampled frames between whole-frame scans; the others search near the last face
    precrop_margin: float = 0.8  # pre-crops kept for `crop`: square side = face extent * (1 + precrop_margin)

    def __post_init__(self):
        if self.full_scan_every < 1:
            raise StageError(f"full_scan_every must be >= 1 (1: scan every frame whole), got {self.full_scan_every}")


@dataclass(frozen=True)
class CropParams(StageParams):
    size_outlier_threshold: float = 10  # Appendix A.1
    margin: float = 0.4  # square side = face extent * (1 + margin)
    crop_size: int = 320
    jpeg_quality: int = 95
    min_frames: int = 16  # fewer usable frames: status `short`
