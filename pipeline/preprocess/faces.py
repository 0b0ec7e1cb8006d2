"""Face detector and 68-point landmark backends (dlib HOG / mmod CNN; dlib shape predictor / FAN).

Model files come from the `face_recognition_models` package (located without importing it: its import
needs `pkg_resources`) and, for FAN, from the torch hub cache. Backends are built once per process.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Protocol

import dlib
import numpy as np

from pipeline.preprocess.problems import StageError

FAN_WEIGHTS = "2DFAN4-11f355bf06.pth.tar"


def dlib_model_path(name: str) -> Path:
    """Path of a model file shipped by `face_recognition_models`."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise StageError("package face_recognition_models is not installed (it ships the dlib model files)")
    path = Path(spec.submodule_search_locations[0]) / "models" / name
    if not path.is_file():
        raise StageError(f"dlib model file missing: {path}")
    return path


def _rect(box: np.ndarray) -> dlib.rectangle:
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    return dlib.rectangle(x0, y0, x1, y1)


class FaceDetector(Protocol):
    def __call__(self, image: np.ndarray, upsample: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 4) x0, y0, x1, y1 and scores (N,) of the faces in an RGB or grey uint8 image,
        searched on the image upsampled `upsample` times (each step doubles its sides)."""


class Landmarker(Protocol):
    pixel_format: str  # the PyAV format of the full-resolution image it wants: "gray" or "rgb24"

    def __call__(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """68 (x, y) landmarks (68, 2) of the face inside `box` (x0, y0, x1, y1) of an image in `pixel_format`."""


class HogDetector:
    """dlib's frontal-face HOG detector (80 px smallest face before upsampling); score = SVM margin."""

    def __init__(self):
        self.detector = dlib.get_frontal_face_detector()

    def __call__(self, image: np.ndarray, upsample: int) -> tuple[np.ndarray, np.ndarray]:
        rects, scores, _ = self.detector.run(image, upsample, 0.0)
        boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]
        return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32)


class MmodDetector:
    """dlib's CNN (max-margin object detection) face detector; much slower on CPU, more pose-robust."""

    def __init__(self):
        self.detector = dlib.cnn_face_detection_model_v1(str(dlib_model_path("mmod_human_face_detector.dat")))

    def __call__(self, image: np.ndarray, upsample: int) -> tuple[np.ndarray, np.ndarray]:
        found = self.detector(image, upsample)
        boxes = [(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()) for d in found]
        return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray([d.confidence for d in found], np.float32)


class DlibLandmarker:
    """dlib's 68-point shape predictor (iBUG 300-W layout), ~1 ms a face; it works on grey levels, so a
    grey frame saves the RGB conversion of the full-resolution picture."""

    pixel_format = "gray"

    def __init__(self):
        self.predictor = dlib.shape_predictor(str(dlib_model_path("shape_predictor_68_face_landmarks.dat")))

    def __call__(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        shape = self.predictor(image, _rect(box))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)


def fan_weights_path() -> Path:
    """Where face-alignment looks for its 2D-FAN weights: `$TORCH_HOME/hub/checkpoints/`."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / FAN_WEIGHTS


class FanLandmarker:
    """face-alignment's 2D-FAN (Bulat and Tzimiropoulos, 2017), the landmark model the paper names.

    Our boxes are passed in (its `folder` detector is a no-op placeholder), no flipping (2x slower),
    no `torch.compile`. The weights must already be in the torch hub cache: jobs run offline.
    """

    pixel_format = "rgb24"

    def __init__(self):
        path = fan_weights_path()
        if not path.is_file():
            raise StageError(
                f"FAN weights not found: {path} (download {FAN_WEIGHTS} from "
                "https://www.adrianbulat.com/downloads/python-fan/ into that folder, or set TORCH_HOME)"
            )
        import face_alignment

        self.model = face_alignment.FaceAlignment(
            face_alignment.LandmarksType.TWO_D, device="cpu", face_detector="folder",
            flip_input=False, compile=False,
        )

    def __call__(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        found = self.model.get_landmarks_from_image(rgb, detected_faces=[np.asarray(box, np.float64)])  # float32 breaks its torch maths
        return np.asarray(found[0], np.float32)[:, :2]


def build_detector(name: str) -> FaceDetector:
    """`hog` or `mmod`."""
    backends = {"hog": HogDetector, "mmod": MmodDetector}
    if name not in backends:
        raise StageError(f"unknown detector {name!r}; choose one of {sorted(backends)}")
    return backends[name]()


def build_landmarker(name: str) -> Landmarker:
    """`dlib68` or `fan`."""
    backends = {"dlib68": DlibLandmarker, "fan": FanLandmarker}
    if name not in backends:
        raise StageError(f"unknown landmark model {name!r}; choose one of {sorted(backends)}")
    return backends[name]()

