"""Identities of the demo videos: head-and-shoulders sprites built from real face photos.

The only face imagery used ships inside installed packages (nothing is downloaded): scikit-image's
astronaut, matplotlib's Grace Hopper and the 25x25 grey LFW faces of `skimage.data.lfw_subset()`
(upscaled 4x). Each identity gets its own photo, mirroring, skin tone, hair, neck and clothes, and
68 dlib landmarks computed once, which drive the mouth animation and the face manipulations.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import cv2
import dlib
import numpy as np

from pipeline.io import stable_hash
from pipeline.preprocess.faces import dlib_model_path

SPRITE_W, SPRITE_H = 192, 256  # sprite size: head and shoulders, shoulders reach the bottom edge
FACE = 80.0  # side of the HOG face box inside a sprite (px)
FACE_CENTRE = (96.0, 92.0)  # centre of that box inside a sprite
LFW_FACES = 100  # lfw_subset(): the first 100 images are faces, the rest are not
LFW_UPSCALE = 4
FACE_OF_HEIGHT = 0.33  # face-box side in a frame, as a fraction of the frame height
CHECK_SCALE = FACE_OF_HEIGHT * 240 * 0.92 / FACE  # identity check: the smallest face of a 240-px-high frame
CHECK_MARGIN = 1.1  # HOG score an identity must reach there (noise and H.264 cost ~0.5)

SKIN_TONES = np.array([[1.00, 0.84, 0.72], [0.98, 0.78, 0.62], [0.90, 0.68, 0.52],
                       [0.76, 0.55, 0.40], [0.62, 0.43, 0.31]], np.float32)
MOUTH_INSIDE = np.array([70, 25, 30], np.float32)
HAIR = np.array([[25, 20, 18], [60, 40, 28], [110, 75, 45], [200, 170, 110], [150, 145, 140],
                 [140, 60, 30]], np.float32)


@dataclass(frozen=True)
class Portrait:
    """A real face photo with its HOG face box and 68 landmarks (photo pixels)."""

    rgb: np.ndarray  # (H, W, 3) uint8
    gray: bool  # colourless photo: the identity gets a skin tone
    box: np.ndarray  # (4,) x0, y0, x1, y1
    landmarks: np.ndarray  # (68, 2)


@dataclass(frozen=True)
class MouthRig:
    """A jaw-drop warp around the mouth: rows/cols it touches, per-pixel weight and darkening."""

    rows: slice
    cols: slice
    grid_x: np.ndarray  # (h, w) sprite x of each pixel of the block
    grid_y: np.ndarray  # (h, w) sprite y
    weight: np.ndarray  # (h, w) how far each pixel follows the jaw (0..1)
    centre: tuple[float, float]  # mouth centre (sprite px)
    width: float  # mouth width (sprite px)


@dataclass(frozen=True)
class Identity:
    """A person: sprite colours, coverage and landmarks, and the mouth rig that animates it."""

    rgb: np.ndarray  # (SPRITE_H, SPRITE_W, 3) float32, 0..255
    alpha: np.ndarray  # (SPRITE_H, SPRITE_W, 1) float32, 0..1
    skin: np.ndarray  # (SPRITE_H, SPRITE_W) float32, 0..1: the face photo's part, all a face swap may take
    landmarks: np.ndarray  # (68, 2) float32, sprite pixels
    mouth: MouthRig

    def render(self, openness: float) -> np.ndarray:
        """Sprite colours with the mouth opened by `openness` (0 closed .. 1 wide open)."""
        rgb = self.rgb.copy()
        if openness <= 0.01:
            return rgb
        rig = self.mouth
        drop = 0.25 * rig.width * openness
        map_y = rig.grid_y - drop * rig.weight
        block = cv2.remap(self.rgb, rig.grid_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        cx, cy = rig.centre
        gap = np.exp(-(((rig.grid_x - cx) / (0.32 * rig.width)) ** 2)
                     - ((rig.grid_y - cy - 0.45 * drop) / (0.45 * drop + 1.0)) ** 2)
        dark = (0.8 * min(1.0, openness * 1.5) * gap)[..., None]
        rgb[rig.rows, rig.cols] = block * (1.0 - dark) + MOUTH_INSIDE * dark
        return rgb


@functools.cache
def _detector() -> dlib.fhog_object_detector:
    return dlib.get_frontal_face_detector()


@functools.cache
def _predictor() -> dlib.shape_predictor:
    return dlib.shape_predictor(str(dlib_model_path("shape_predictor_68_face_landmarks.dat")))


def detect_face(rgb: np.ndarray, upsample: int = 1) -> np.ndarray | None:
    """The best-scoring dlib HOG face box (x0, y0, x1, y1) in an RGB uint8 image, or None."""
    rects, scores, _ = _detector().run(np.ascontiguousarray(rgb), upsample, 0.0)
    if not rects:
        return None
    r = rects[int(np.argmax(scores))]
    return np.array([r.left(), r.top(), r.right(), r.bottom()], np.float32)


@functools.cache
def _photos() -> list[tuple[np.ndarray, bool]]:
    """The packaged face photos as (RGB uint8, gray) pairs: astronaut, Grace Hopper, then LFW faces."""
    import matplotlib
    import skimage.data

    hopper = cv2.imread(os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg"))
    photos = [(skimage.data.astronaut(), False), (cv2.cvtColor(hopper, cv2.COLOR_BGR2RGB), False)]
    for face in skimage.data.lfw_subset()[:LFW_FACES]:
        up = cv2.resize((face * 255).astype(np.uint8), None, fx=LFW_UPSCALE, fy=LFW_UPSCALE,
                        interpolation=cv2.INTER_CUBIC)
        photos.append((np.repeat(up[..., None], 3, axis=2), True))
    return photos


@functools.cache
def portrait(index: int, mirror: bool) -> Portrait | None:
    """Photo `index` (mirrored or not) with its face box and landmarks; None when HOG finds no face."""
    rgb, gray = _photos()[index]
    if mirror:
        rgb = np.ascontiguousarray(rgb[:, ::-1])
    pad = max(8, min(rgb.shape[:2]) // 8)  # tight LFW crops need a little context around the face
    padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    box = detect_face(padded, upsample=1 if min(rgb.shape[:2]) < 300 else 0)
    if box is None:
        return None
    shape = _predictor()(padded, dlib.rectangle(*(int(v) for v in box)))
    landmarks = np.array([(p.x, p.y) for p in shape.parts()], np.float32) - pad
    return Portrait(rgb, gray, box - pad, landmarks)


def _ellipse(centre: tuple[float, float], axes: tuple[float, float], feather: float) -> np.ndarray:
    """A filled, feathered ellipse on the sprite canvas, float32 0..1."""
    mask = np.zeros((SPRITE_H, SPRITE_W), np.float32)
    cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1]))),
                (int(round(axes[0])), int(round(axes[1]))), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(mask, (0, 0), feather) if feather > 0 else mask


def _mouth_rig(lm: np.ndarray) -> MouthRig:
    """Jaw-drop weights: 0 above the mouth centre, 1 from the lower lip to the chin, fading below."""
    cx, cy = (lm[62] + lm[66]) / 2
    width = float(np.linalg.norm(lm[54] - lm[48]))
    lip, chin = float(lm[66, 1]), float(lm[8, 1])
    fade = 0.35 * (chin - cy) + 2.0
    y0, y1 = int(cy - 0.2 * width), int(min(SPRITE_H, chin + fade + 2))
    x0, x1 = int(max(0, cx - 1.6 * width)), int(min(SPRITE_W, cx + 1.6 * width))
    gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    rise = np.clip((gy - cy) / max(lip - cy, 1.0), 0, 1)
    fall = np.clip(1 - (gy - chin) / fade, 0, 1)
    weight = rise * fall * np.exp(-(((gx - cx) / (0.85 * width)) ** 2))
    return MouthRig(slice(y0, y1), slice(x0, x1), gx, gy, weight.astype(np.float32), (float(cx), float(cy)), width)


def build_identities(n: int, seed: int) -> list[Identity]:
    """Identities 0..n-1: the same seed always gives the same people, whatever `n`.

    Photos are taken in a seeded order (astronaut and Grace Hopper first), one per identity while they
    last, then again with another look; a dressed photo that HOG does not find reliably is skipped.
    """
    order = _photo_order(seed)
    people: list[Identity] = []
    for attempt in range(4 * len(order) + n):
        if len(people) == n:
            break
        rng = np.random.default_rng([seed, stable_hash(f"look/{attempt}")])
        photo = portrait(order[attempt % len(order)], mirror=bool(rng.random() < 0.5))
        if photo is not None:
            person = _dress(photo, rng)
            if _detectable(person):
                people.append(person)
    if len(people) < n:
        raise RuntimeError(f"the packaged face photos gave {len(people)} detectable identities, {n} needed")
    return people


@functools.cache
def _photo_order(seed: int) -> list[int]:
    lfw = np.random.default_rng([seed, stable_hash("photos")]).permutation(np.arange(2, len(_photos())))
    return [0, 1, *lfw.tolist()]


def _detectable(person: Identity) -> bool:
    """HOG finds the face with a margin when small (92% of the usual size), rolled +-4 deg, mouth open."""
    size = np.array([1.7, 1.7]) * FACE * CHECK_SCALE
    rgb = person.render(0.8)
    sprite = np.concatenate([rgb * person.alpha, person.alpha], axis=2)
    for roll in (-4.0, 4.0):
        m = cv2.getRotationMatrix2D(FACE_CENTRE, roll, CHECK_SCALE)
        m[:, 2] += size / 2 - np.array(FACE_CENTRE)
        layer = cv2.warpAffine(sprite, m, (int(size[0]), int(size[1])))
        image = np.clip(120 * (1 - layer[..., 3:]) + layer[..., :3], 0, 255).astype(np.uint8)
        _, scores, _ = _detector().run(image, 1, 0.0)
        if max(scores, default=0.0) < CHECK_MARGIN:
            return False
    return True


def _dress(photo: Portrait, rng: np.random.Generator) -> Identity:
    """Place the photo's face box at FACE_CENTRE with side FACE and add hair, neck and shoulders."""
    x0, y0, x1, y1 = photo.box
    s = FACE / float(x1 - x0)
    shift = np.array(FACE_CENTRE) - s * np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    small = cv2.resize(photo.rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    move = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    face = cv2.warpAffine(small.astype(np.float32), move, (SPRITE_W, SPRITE_H), borderMode=cv2.BORDER_REPLICATE)
    lm = photo.landmarks * s + shift.astype(np.float32)
    inside = np.zeros((SPRITE_H, SPRITE_W), np.float32)  # where the photo has real pixels
    h, w = small.shape[:2]
    x, y = int(shift[0]), int(shift[1])
    cv2.rectangle(inside, (x + 2, y + 2), (x + w - 3, y + h - 3), 1.0, -1)

    if photo.gray:
        tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.97, 1.03, 3).astype(np.float32)
        face = face * (tone / tone.max() * rng.uniform(0.95, 1.1))
    else:
        face = face * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    face = np.clip(face, 0, 255)

    jaw_w = float(lm[16, 0] - lm[0, 0])
    chin, brow = float(lm[8, 1]), float(lm[17:27, 1].min())
    top = brow - rng.uniform(0.45, 0.6) * (chin - brow)
    centre = (float(lm[:17, 0].mean()), (top + chin) / 2)
    axes = (0.5 * jaw_w * rng.uniform(1.02, 1.1), (chin - top) / 2)
    face_area = _ellipse(centre, axes, 2.0) * cv2.GaussianBlur(inside, (0, 0), 1.5)

    nose = face[int(lm[29, 1]):int(lm[33, 1]) + 1, int(lm[31, 0]):int(lm[35, 0]) + 1]
    skin_colour = np.median(nose.reshape(-1, 3), axis=0)
    hair_c = HAIR[rng.integers(len(HAIR))] * rng.uniform(0.85, 1.15)
    cloth_c = rng.uniform(20, 230, 3).astype(np.float32)
    layers = [  # back to front: shoulders, neck, hair (shows where the face ellipse does not cover)
        (_ellipse((centre[0], SPRITE_H + 10), (rng.uniform(0.9, 1.15) * jaw_w, SPRITE_H - chin - 6), 1.5),
         cloth_c),
        (_ellipse((centre[0], chin + 10), (0.3 * jaw_w, 0.35 * (chin - brow)), 1.5), skin_colour * 0.85),
        (_ellipse((centre[0], centre[1] - 0.12 * axes[1]),
                  (axes[0] * rng.uniform(1.05, 1.25), axes[1] * rng.uniform(0.92, 1.05)), 2.0), hair_c),
    ]
    texture = cv2.resize(rng.normal(1.0, 0.08, (SPRITE_H // 8, SPRITE_W // 8)).astype(np.float32),
                         (SPRITE_W, SPRITE_H), interpolation=cv2.INTER_CUBIC)[..., None]
    rgb = np.zeros((SPRITE_H, SPRITE_W, 3), np.float32)
    alpha = np.zeros((SPRITE_H, SPRITE_W, 1), np.float32)
    for a, colour in [*layers, (face_area, None)]:
        a = a[..., None]
        fill = face if colour is None else colour * texture
        rgb = rgb * (1 - a) + fill * a
        alpha = alpha + a * (1 - alpha)
    rgb = np.where(alpha > 1e-3, rgb / np.maximum(alpha, 1e-3), 0).astype(np.float32)
    skin = np.zeros((SPRITE_H, SPRITE_W), np.float32)  # inside the jaw line and brows: no hair, no background
    cv2.fillConvexPoly(skin, cv2.convexHull(np.round(lm[:27]).astype(np.int32)), 1.0, cv2.LINE_AA)
    skin = cv2.GaussianBlur(skin, (0, 0), 1.5) * face_area
    return Identity(rgb, alpha.astype(np.float32), skin, lm.astype(np.float32), _mouth_rig(lm))
