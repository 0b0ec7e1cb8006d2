"""A talking-head scene: one identity speaking and moving in front of a blurred room, with sensor noise.

A scene renders the frames of one original video; manipulated videos are made from the same frames, as
real fakes are made from their original. Motion is seeded by a scene key, so a source video's mouth
motion can drive a reenactment of another scene.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.demo.faces import FACE, FACE_CENTRE, FACE_OF_HEIGHT, SPRITE_H, SPRITE_W, Identity
from pipeline.io import stable_hash

NOISE_SIGMA = 2.0
ROOM_SATURATION = 0.45


def scene_rng(seed: int, key: str, part: str) -> np.random.Generator:
    """A generator that depends only on the seed, the scene key and what it is for."""
    return np.random.default_rng([seed, stable_hash(f"{key}/{part}")])


def smooth_signal(rng: np.random.Generator, n: int, fps: float, low: float, high: float, waves: int = 3) -> np.ndarray:
    """A smooth random signal in [-1, 1]: a sum of sinusoids with random frequencies in [low, high] Hz."""
    t = np.arange(n) / fps
    freq, phase, amp = rng.uniform(low, high, waves), rng.uniform(0, 2 * np.pi, waves), rng.uniform(0.5, 1, waves)
    return (amp[:, None] * np.sin(2 * np.pi * freq[:, None] * t + phase[:, None])).sum(0) / amp.sum()


def mouth_track(seed: int, key: str, n: int, fps: float) -> np.ndarray:
    """Mouth openness per frame (0..1): syllables at 3-5 Hz under a slowly varying loudness, with pauses."""
    rng = scene_rng(seed, key, "mouth")
    t = np.arange(n) / fps
    syllables = np.abs(np.sin(np.pi * rng.uniform(3, 5) * t + rng.uniform(0, np.pi))) ** 1.5
    loudness = np.clip(0.55 + 0.7 * smooth_signal(rng, n, fps, 0.1, 0.5), 0, 1)
    return (syllables * loudness).astype(np.float32)


@dataclass(frozen=True)
class HeadTrack:
    """Per-frame head pose: face-centre offset (px), scale factor and roll (degrees)."""

    dx: np.ndarray
    dy: np.ndarray
    scale: np.ndarray
    roll: np.ndarray

    def matrix(self, i: int, width: int, height: int) -> np.ndarray:
        """2x3 affine map from sprite to frame pixels at frame `i`."""
        s = FACE_OF_HEIGHT * height * float(self.scale[i]) / FACE
        centre = (width / 2 + float(self.dx[i]), 0.45 * height + float(self.dy[i]))
        m = cv2.getRotationMatrix2D(FACE_CENTRE, float(self.roll[i]), s)
        m[:, 2] += np.array(centre) - np.array(FACE_CENTRE)
        return m


def head_track(seed: int, key: str, n: int, fps: float, width: int, height: int) -> HeadTrack:
    """Head motion of a speaker: +-8% of the width sideways, +-5% of the height, scale +-8%, roll +-4 deg."""
    rng = scene_rng(seed, key, "head")

    def wobble(low: float, high: float) -> np.ndarray:  # slow motion plus a little faster jitter
        return smooth_signal(rng, n, fps, low, high) + 0.15 * smooth_signal(rng, n, fps, 1.0, 2.0)

    return HeadTrack(0.08 * width * wobble(0.05, 0.4), 0.05 * height * wobble(0.05, 0.4),
                     1.0 + 0.08 * wobble(0.05, 0.3), 4.0 * wobble(0.1, 0.5))


def background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A blurred room: a smooth colour field with a few furniture-like boxes, uint8 (H, W, 3)."""
    room = rng.uniform(30, 220, (3, 4, 3)).astype(np.float32)
    room = cv2.resize(room, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(2, 6))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1, y1 = x0 + int(rng.integers(width // 10, width // 3)), y0 + int(rng.integers(height // 10, height // 2))
        cv2.rectangle(room, (x0, y0), (x1, y1), rng.uniform(20, 235, 3).tolist(), -1)
    room = room.mean(2, keepdims=True) * (1 - ROOM_SATURATION) + room * ROOM_SATURATION
    return np.round(cv2.GaussianBlur(np.clip(room, 0, 255), (0, 0), 0.012 * width + 1)).astype(np.uint8)


def warp_into(image: np.ndarray, matrix: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """`image` mapped by `matrix` (to frame pixels) and cut to `box` = x0, y0, x1, y1 of the frame."""
    x0, y0, x1, y1 = box
    m = matrix.copy()
    m[:, 2] -= (x0, y0)
    out = cv2.warpAffine(image, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return out.reshape(y1 - y0, x1 - x0, -1)


def bounds(points: np.ndarray, width: int, height: int, pad: float = 0.0) -> tuple[int, int, int, int]:
    """Integer box around `points` (N, 2), grown by `pad` of its size on every side, clipped to the frame."""
    lo, hi = points.min(0), points.max(0)
    grow = pad * (hi - lo)
    x0, y0 = np.floor(lo - grow).astype(int)
    x1, y1 = np.ceil(hi + grow).astype(int) + 1
    return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)


def transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to points (N, 2)."""
    return points @ matrix[:, :2].T + matrix[:, 2]


@dataclass(frozen=True)
class Frame:
    """One rendered original frame and what a manipulation needs to know about it."""

    index: int
    rgb: np.ndarray  # (H, W, 3) uint8, noise included
    matrix: np.ndarray  # 2x3 sprite -> frame map of the speaker
    mouth: float  # the speaker's mouth openness


class Scene:
    """Renders the original video of `identity` for scene `key`."""

    def __init__(self, identity: Identity, key: str, seed: int, n_frames: int, fps: float, width: int, height: int):
        self.identity, self.n_frames, self.width, self.height = identity, n_frames, width, height
        self.mouth = mouth_track(seed, key, n_frames, fps)
        self.head = head_track(seed, key, n_frames, fps, width, height)
        rng = scene_rng(seed, key, "look")
        self.room = background(rng, width, height)
        self.noise = np.round(rng.normal(0, NOISE_SIGMA, (height + 16, width + 16, 3))).astype(np.int16)
        self.shifts = rng.integers(0, 17, (n_frames, 2))
        self.corners = np.float32([[0, 0], [SPRITE_W, 0], [0, SPRITE_H], [SPRITE_W, SPRITE_H]])

    def frames(self) -> Iterator[Frame]:
        for i in range(self.n_frames):
            m = self.head.matrix(i, self.width, self.height)
            rgb = self.identity.render(float(self.mouth[i]))
            sprite = np.concatenate([rgb * self.identity.alpha, self.identity.alpha], axis=2)
            x0, y0, x1, y1 = box = bounds(transform(self.corners, m), self.width, self.height)
            layer = warp_into(sprite, m, box)
            frame = self.room.copy()
            roi = frame[y0:y1, x0:x1]
            frame[y0:y1, x0:x1] = np.clip(roi * (1 - layer[..., 3:]) + layer[..., :3], 0, 255)
            sy, sx = self.shifts[i]
            frame = cv2.add(frame, self.noise[sy:sy + self.height, sx:sx + self.width], dtype=cv2.CV_8U)
            yield Frame(i, frame, m, float(self.mouth[i]))
