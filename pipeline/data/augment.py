"""Training augmentations (Appendix A.4), applied with the same parameters to every frame of a clip.

A horizontal flip with p = 0.5, then with p = 0.5 one of: a random or corner crop resized back,
JPEG compression, Gaussian noise, blur, downscaling, brightness, contrast or a colour shift.
albumentations draws a transform's parameters once per call, so passing the clip's frames as the
`images` target gives every frame the identical flip, crop, noise map and colour change; a clip
whose frames were augmented independently would flicker, a temporal artefact real videos lack.
"""
from __future__ import annotations

import random
from typing import Any

import albumentations as A
import cv2
import numpy as np

CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


class CornerCrop(A.ImageOnlyTransform):
    """Crop a random fraction of the image anchored at a random corner, then resize back to the input size."""

    def __init__(self, scale: tuple[float, float] = (0.75, 0.95), p: float = 1.0):
        super().__init__(p=p)
        self.scale = scale

    def get_params(self) -> dict[str, Any]:
        return {"corner": self.py_random.choice(CORNERS), "fraction": self.py_random.uniform(*self.scale)}

    def apply(self, img: np.ndarray, corner: str = "top_left", fraction: float = 1.0, **params: Any) -> np.ndarray:
        h, w = img.shape[:2]
        ch, cw = max(1, round(h * fraction)), max(1, round(w * fraction))
        y0 = 0 if corner.startswith("top") else h - ch
        x0 = 0 if corner.endswith("left") else w - cw
        return cv2.resize(img[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("scale",)


def extra_augmentations(size: int) -> list[A.BasicTransform]:
    """The pool the additional augmentation is drawn from (each with p = 1; the caller gates them)."""
    return [
        A.OneOf([
            A.RandomResizedCrop(size=(size, size), scale=(0.6, 0.95), ratio=(1.0, 1.0), p=1.0),
            CornerCrop(scale=(0.75, 0.95), p=1.0),
        ], p=1.0),
        A.ImageCompression(quality_range=(40, 90), p=1.0),
        A.GaussNoise(std_range=(0.02, 0.08), p=1.0),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 7), p=1.0), A.MotionBlur(blur_limit=(3, 7), p=1.0)], p=1.0),
        A.Downscale(scale_range=(0.35, 0.7), p=1.0),
        A.RandomBrightnessContrast(brightness_limit=0.25, contrast_limit=0.0, p=1.0),
        A.RandomBrightnessContrast(brightness_limit=0.0, contrast_limit=0.25, p=1.0),
        A.OneOf([A.RGBShift(15, 15, 15, p=1.0), A.HueSaturationValue(10, 20, 10, p=1.0)], p=1.0),
    ]


class ClipAugment:
    """Augment a clip (N, H, W, 3) uint8 of square frames with one draw of parameters for all N frames.

    Every call takes a seed, so a sample's augmentation depends only on its seed (not on the worker
    or on how many samples came before it): training is reproducible and resumable.
    """

    def __init__(self, size: int, p_flip: float = 0.5, p_extra: float = 0.5,
                 extras: list[A.BasicTransform] | None = None):
        self.compose = A.Compose([
            A.HorizontalFlip(p=p_flip),
            A.OneOf(extra_augmentations(size) if extras is None else extras, p=p_extra),
        ])

    def __call__(self, frames: np.ndarray, seed: int) -> np.ndarray:
        # set_random_state shares ONE generator pair among all transforms; set_random_seed would give
        # every transform its own identically-seeded generator, correlating the flip with the extra choice.
        self.compose.set_random_state(np.random.default_rng(seed), random.Random(seed))
        return self.compose(images=frames)["images"]
