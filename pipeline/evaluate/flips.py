"""Table 4's alterations of a clip's frame order and alignment (paper §4.4): horizontal flips of 1, 3 and 5
random frames, of every second frame, and a random shuffle. Numpy only: the tables import the names."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

TESTSET = "dfdc_perturb"

Alteration = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def flip_frames(clip: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A copy of `clip` (T, H, W, C) with exactly `k` distinct random frames mirrored horizontally."""
    out = clip.copy()
    idx = rng.choice(len(clip), size=k, replace=False)
    out[idx] = clip[idx, :, ::-1]
    return out


def flip_every_second(clip: np.ndarray) -> np.ndarray:
    """A copy of `clip` with frames 1, 3, 5, ... mirrored horizontally: the most misaligned sequence."""
    out = clip.copy()
    out[1::2] = clip[1::2, :, ::-1]
    return out


def shuffle_frames(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same frames in a random order."""
    return clip[rng.permutation(len(clip))]


ALTERATIONS: dict[str, Alteration] = {
    "original": lambda clip, rng: clip,
    "flip1": lambda clip, rng: flip_frames(clip, 1, rng),
    "flip3": lambda clip, rng: flip_frames(clip, 3, rng),
    "flip5": lambda clip, rng: flip_frames(clip, 5, rng),
    "flip_every2": lambda clip, rng: flip_every_second(clip),
    "shuffle": shuffle_frames,
}


def altered_clips(clip: np.ndarray, seed: int, index: int) -> dict[str, np.ndarray]:
    """Every alteration of one clip; each video has its own random stream, independent of the others."""
    return {name: fn(clip, np.random.default_rng([seed, index, i]))
            for i, (name, fn) in enumerate(ALTERATIONS.items())}
