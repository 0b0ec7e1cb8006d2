"""The seven DeeperForensics-1.0 perturbations at their five severity levels, on uint8 RGB frames.

Source: Jiang et al., "DeeperForensics-1.0: A Large-Scale Dataset for Real-World Face Forgery Detection"
(CVPR 2020), §3.2 and Fig. 5, and its published code, github.com/EndlessSora/DeeperForensics-1.0 at commit
7589587e381aa51d48683d881a62c30b150e3ef8: `perturbation/add_distortion_to_video.py`,
`get_distortion_parameter` (the parameter of each level) and `perturbation/distortions.py` (the
functions). Each entry below names the function it follows and its `--type` code there.

Differences from that code, all deliberate:
- frames are RGB (DeeperForensics works on OpenCV's BGR; every function here is symmetric in R and B);
- DeeperForensics writes the perturbed frames to a video again (XVID, then FFmpeg's default H.264) and
  so adds a mild compression to every type; here the perturbed frames are cropped directly;
- saturation scales chroma around OpenCV's grey point 0.5; DeeperForensics' double range mapping in
  `bgr2ycbcr`/`ycbcr2bgr` moves that point by 0.0022 grey levels (not reproduced);
- random draws come from a numpy `Generator` (DeeperForensics uses the global `random`/`np.random`).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

LEVELS = (1, 2, 3, 4, 5)
FrameFn = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """Clip and truncate to uint8, as DeeperForensics' `astype(np.uint8)` after its float arithmetic."""
    return np.clip(image, 0, 255).astype(np.uint8)


def color_saturation(frame: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """`color_saturation` (CS): Cb and Cr scaled by `factor` towards grey, luma kept (factor 0: grey image)."""
    ycrcb = cv2.cvtColor(frame.astype(np.float32), cv2.COLOR_RGB2YCrCb)
    ycrcb[..., 1:] = 0.5 + (ycrcb[..., 1:] - 0.5) * factor  # float YCrCb: chroma centred on 0.5
    return _to_uint8(cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB))


def color_contrast(frame: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """`color_contrast` (CC): every channel multiplied by `factor` < 1 (a darker, flatter picture)."""
    return _to_uint8(frame.astype(np.float32) * factor)


BLOCK, BLOCK_GREY = 8, 128  # `block_wise`: 8x8 blocks of grey 128


def block_wise(frame: np.ndarray, per_256: float, rng: np.random.Generator) -> np.ndarray:
    """`block_wise` (BW): `min(H, W) // 256 * per_256` grey 8x8 blocks at uniform random positions.

    As in DeeperForensics the count is per 256 pixels of the shorter side, so frames shorter than 256
    pixels get no block at all.
    """
    out = frame.copy()
    h, w = frame.shape[:2]
    for _ in range(min(h, w) // 256 * int(per_256)):
        x, y = rng.integers(0, w - BLOCK), rng.integers(0, h - BLOCK)  # randint(0, W - 1 - 8), inclusive
        out[y:y + BLOCK, x:x + BLOCK] = BLOCK_GREY
    return out


# `gaussian_noise_color` adds N(0, variance) to YCbCr scaled to [0, 1]; its `bgr2ycbcr` applies the studio
# range mapping (x * 219 + 16) / 255 (luma) and (x * 224 + 16) / 255 (chroma) to values in 0..255, so the
# noise's standard deviation in 0..255 pixel units is sqrt(variance) * 255² / 219 (luma) and / 224 (chroma).
NOISE_SCALE = np.array([255.0 ** 2 / 219, 255.0 ** 2 / 224, 255.0 ** 2 / 224], np.float32)  # Y, Cr, Cb


def gaussian_noise(frame: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """`gaussian_noise_color` (GNC): white Gaussian noise of `variance` on luma and both chroma channels."""
    ycrcb = cv2.cvtColor(frame.astype(np.float32), cv2.COLOR_RGB2YCrCb)
    ycrcb += (math.sqrt(variance) * NOISE_SCALE) * rng.standard_normal(ycrcb.shape, np.float32)
    return _to_uint8(cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB))


def gaussian_blur(frame: np.ndarray, kernel: float, rng: np.random.Generator) -> np.ndarray:
    """`gaussian_blur` (GB): a `kernel` x `kernel` Gaussian of sigma kernel / 6."""
    k = int(kernel)
    return cv2.GaussianBlur(frame, (k, k), k / 6)


def pixelation(frame: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """`jpeg_compression` (JPEG; a pixelation despite its name): resized to (W // f, H // f) and back,
    bilinear both ways (OpenCV's default)."""
    h, w = frame.shape[:2]
    f = int(factor)
    small = cv2.resize(frame, (w // f, h // f))
    return cv2.resize(small, (w, h))


@dataclass(frozen=True)
class Perturbation:
    """One DeeperForensics distortion: its `--type` code, the parameter of levels 1-5, a display label, and
    the frame function (None for video compression, which re-encodes the whole clip:
    `pipeline.robustness.compression`)."""

    code: str
    label: str
    parameters: tuple[float, ...]
    frame_fn: FrameFn | None

    def parameter(self, level: int) -> float:
        if level not in LEVELS:
            raise ValueError(f"severity level {level} is not one of {LEVELS}")
        return self.parameters[level - 1]


# Parameters: `get_distortion_parameter` of add_distortion_to_video.py (commit above), levels 1..5.
PERTURBATIONS: dict[str, Perturbation] = {
    "color_saturation": Perturbation("CS", "colour saturation", (0.4, 0.3, 0.2, 0.1, 0.0), color_saturation),
    "color_contrast": Perturbation("CC", "colour contrast", (0.85, 0.725, 0.6, 0.475, 0.35), color_contrast),
    "block_wise": Perturbation("BW", "local block-wise", (16, 32, 48, 64, 80), block_wise),
    "gaussian_noise": Perturbation("GNC", "white Gaussian noise", (0.001, 0.002, 0.005, 0.01, 0.05), gaussian_noise),
    "gaussian_blur": Perturbation("GB", "Gaussian blur", (7, 9, 13, 17, 21), gaussian_blur),
    "pixelation": Perturbation("JPEG", "pixelation", (2, 3, 4, 5, 6), pixelation),
    "video_compression": Perturbation("VC", "video compression (CRF)", (30, 32, 35, 38, 40), None),
}


def perturb_frame(name: str, frame: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Frame `frame` (H, W, 3 uint8 RGB) under perturbation `name` at `level`; level 0 is the frame itself."""
    if level == 0:
        return frame
    spec = PERTURBATIONS[name]
    if spec.frame_fn is None:
        raise ValueError(f"{name} re-encodes whole clips, not single frames")
    return spec.frame_fn(frame, spec.parameter(level), rng)
