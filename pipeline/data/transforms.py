"""Turn stored face crops into normalised model input tensors."""
from __future__ import annotations

import cv2
import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """Resize (N, H, W, 3) uint8 square crops to (N, size, size, 3); the whole crop (with its margin) is kept."""
    if frames.shape[1] == size and frames.shape[2] == size:
        return frames
    interp = cv2.INTER_AREA if frames.shape[1] > size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (size, size), interpolation=interp) for f in frames])


def normalize(frames: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32, scaled to [0, 1] then standardised per channel."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - m) / s


def to_model_input(frames: np.ndarray, size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Stored crops (N, S, S, 3) uint8 -> normalised (N, 3, size, size) float tensor."""
    return normalize(resize_frames(frames, size), mean, std)


def loop_to_length(indices: np.ndarray, length: int) -> np.ndarray:
    """Repeat a too-short frame sequence from its start until it has `length` entries (Appendix A.3)."""
    if len(indices) == 0:
        raise ValueError("cannot loop an empty frame sequence")
    reps = -(-length // len(indices))
    return np.tile(indices, reps)[:length]
