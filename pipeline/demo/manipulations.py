"""Six synthetic face manipulations, one per fake method of the datasets, each with its own cues.

Every manipulation re-renders part of the face of an original frame and blends it back with a mask, like
the real methods do; what differs is how the face is synthesised (source identity or the target's own
face driven by another video's mouth motion), how it is degraded (decoder-like re-sampling, smoothing,
texture noise, colour transfer) and how it varies over time (mask jitter, misregistration, colour
flicker, slow drift, a lagging mask). The per-frame variations are the temporal inconsistencies that
spatio-temporal detectors can pick up and single-frame detectors cannot.
"""
from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np

from pipeline.demo.faces import Identity
from pipeline.demo.scene import Frame, bounds, transform, warp_into

FACE_HULL = np.arange(27)  # jaw line and eyebrows: the face region swaps replace
ALIGN = np.arange(17, 68)  # brows, nose, eyes, mouth: stable points to align two faces
LOWER_FACE = np.r_[2:15, 29:36]  # cheeks, jaw and nose: the morphable-mask region of reenactment
MOUTH = np.arange(48, 60)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (2x3) taking points `src` onto `dst` (Umeyama)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sigma, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sigma) @ sign) / (s**2).sum(1).mean()
    return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]]).astype(np.float64)


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2x3 affine map `outer(inner(x))`."""
    out = outer[:, :2] @ inner
    out[:, 2] += outer[:, 2]
    return out


def scaled(points: np.ndarray, sx: float, sy: float | None = None) -> np.ndarray:
    """Points scaled about their centroid."""
    c = points.mean(0)
    return (points - c) * np.array([sx, sx if sy is None else sy]) + c


def polygon_mask(points: np.ndarray, shape: tuple[int, int], feather: float) -> np.ndarray:
    """Filled convex hull of `points` (box pixels), blurred by `feather` px; (h, w, 1) float32."""
    mask = np.zeros(shape, np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1.0, cv2.LINE_AA)
    return (cv2.GaussianBlur(mask, (0, 0), feather) if feather > 0 else mask)[..., None]


def match_colour(face: np.ndarray, ref: np.ndarray, mask: np.ndarray, spread: bool) -> np.ndarray:
    """Shift `face` to the mean colour of `ref` inside `mask` (and to its spread too if `spread`)."""
    inside = (mask[..., 0] > 0.5).astype(np.uint8)
    (mf, sf), (mr, sr) = (np.float32(cv2.meanStdDev(x, mask=inside)).reshape(2, 3) for x in (face, ref))
    if not spread:
        return face + (mr - mf)
    return (face - mf) * (sr / (sf + 1e-3)) + mr


def colour_transfer(face: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """3x4 affine colour map giving `face` the colour mean and covariance of `ref` inside `mask`.

    Channels mix (a full 3x3 matrix), as in a learned colour transfer, unlike `match_colour`.
    """
    inside = mask[..., 0] > 0.5
    f, r = face[inside].astype(np.float64), ref[inside].astype(np.float64)
    lf = np.linalg.cholesky(np.cov(f.T) + 1e-2 * np.eye(3))
    lr = np.linalg.cholesky(np.cov(r.T) + 1e-2 * np.eye(3))
    a = lr @ np.linalg.inv(lf)
    return np.hstack([a, (r.mean(0) - a @ f.mean(0))[:, None]]).astype(np.float32)


def decode(face: np.ndarray, factor: float, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """A decoder's output: the face re-sampled through a `factor` smaller resolution."""
    h, w = face.shape[:2]
    small = cv2.resize(face, (max(4, round(w * factor)), max(4, round(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=interpolation)


def decoder_grid(box: tuple[int, int, int, int], period: float, phase: float = 0.0) -> np.ndarray:
    """A transposed-convolution decoder's checkerboard, (h, w, 1) in [-1, 1], fixed to frame pixels.

    Learned upsampling leaves a periodic pattern; it is laid in frame coordinates, so it stays put
    while the head moves under it ("texture sticking"), a temporal flaw single frames do not show.
    """
    x0, y0, x1, y1 = box
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    k = 2 * np.pi / period
    return (np.cos(k * xx + phase) * np.cos(k * yy + phase))[..., None]


def saturation(face: np.ndarray, factor: float) -> np.ndarray:
    """Scale the chroma of `face` about each pixel's luma: < 1 washes colour out, as decoders trained on
    many faces do; > 1 gives the saturated albedo of a morphable-mask render."""
    luma = face @ np.float32([0.299, 0.587, 0.114])
    return luma[..., None] + factor * (face - luma[..., None])


def flat_shade(face: np.ndarray, step: float) -> np.ndarray:
    """A morphable-mask render: smoothed, then colours quantised to `step` levels (flat shading bands)."""
    smooth = cv2.bilateralFilter(np.ascontiguousarray(face, np.float32), 7, 30, 5)
    return np.round(smooth / step) * step


class Manipulation:
    """Alters the face in every frame of one original video; an instance holds the per-video state.

    `target` is the person in the original video, `source` the person whose face (swaps) or whose
    mouth motion `driver` (reenactment, openness per frame) is used.
    """

    name: ClassVar[str]

    def __init__(self, target: Identity, source: Identity, driver: np.ndarray, rng: np.random.Generator, fps: float):
        self.target, self.source, self.driver, self.rng, self.fps = target, source, driver, rng, fps
        self.align = similarity(source.landmarks[ALIGN], target.landmarks[ALIGN])

    def __call__(self, frame: Frame) -> np.ndarray:
        """The manipulated copy of `frame` (uint8 RGB)."""
        h, w = frame.rgb.shape[:2]
        landmarks = transform(self.target.landmarks, frame.matrix)
        box = bounds(landmarks[FACE_HULL], w, h, pad=0.3)
        x0, y0, x1, y1 = box
        out = frame.rgb.copy()
        ref = out[y0:y1, x0:x1].astype(np.float32)
        face, mask = self.synthesize(frame, landmarks - (x0, y0), box, ref)
        out[y0:y1, x0:x1] = np.clip(ref + (face - ref) * mask, 0, 255).astype(np.uint8)
        return out

    def synthesize(self, frame: Frame, landmarks: np.ndarray, box: tuple[int, int, int, int],
                   ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The new face pixels and blending mask inside `box`; `landmarks` and `ref` are box-relative."""
        raise NotImplementedError

    def swapped_face(self, frame: Frame, box: tuple[int, int, int, int],
                     matrix: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The source face with the target's pose and mouth, and (h, w, 1) where it has face pixels.

        `matrix` maps the source sprite to the frame; by default it aligns the source to the target.
        """
        m = compose(frame.matrix, self.align) if matrix is None else matrix
        face = warp_into(self.source.render(frame.mouth), m, box)
        return face, np.clip(2 * warp_into(self.source.skin, m, box) - 1, 0, 1)

    def reenacted_face(self, frame: Frame, box: tuple[int, int, int, int],
                       matrix: np.ndarray | None = None) -> np.ndarray:
        """The target's own face with the driver's mouth, in box pixels."""
        rgb = self.target.render(float(self.driver[frame.index]))
        return warp_into(rgb, frame.matrix if matrix is None else matrix, box)


class Deepfakes(Manipulation):
    """Autoencoder identity swap (decoder, swap): a blurred re-rendering of the source face with the
    decoder's checkerboard, mean-colour matched, blended with a feathered mask whose size and position
    jitter from frame to frame."""

    name = "Deepfakes"

    def synthesize(self, frame, landmarks, box, ref):
        hull = scaled(landmarks[FACE_HULL], 0.92 * (1 + self.rng.normal(0, 0.04))) + self.rng.normal(0, 1.5, 2)
        face, skin = self.swapped_face(frame, box)
        face = decode(face, 0.35) * (1 + 0.15 * decoder_grid(box, 8.0))
        mask = polygon_mask(hull, ref.shape[:2], 2.0) * skin
        return saturation(match_colour(face, ref, mask, spread=False), 0.15), mask


class Face2Face(Manipulation):
    """Expression reenactment (morphable mask, reenactment): the target's own lower face re-rendered
    flat-shaded with the source's mouth motion, misregistered by up to a few pixels every frame."""

    name = "Face2Face"

    def synthesize(self, frame, landmarks, box, ref):
        centre = tuple(transform(self.target.landmarks[30:31], frame.matrix)[0])
        wobble = cv2.getRotationMatrix2D(centre, self.rng.normal(0, 2.0), 1.0)
        wobble[:, 2] += self.rng.normal(0, 2.0, 2)
        face = saturation(flat_shade(self.reenacted_face(frame, box, compose(wobble, frame.matrix)), 56.0), 2.4)
        mask = polygon_mask(landmarks[LOWER_FACE] + self.rng.normal(0, 1.2, 2), ref.shape[:2], 1.0)
        return face, mask


class FaceSwap(Manipulation):
    """Graphics-based swap (morphable mask, swap): the flat-shaded source face pasted on per-frame (noisy)
    landmarks with a hard mask and a colour transfer that flickers from frame to frame."""

    name = "FaceSwap"

    def synthesize(self, frame, landmarks, box, ref):
        noisy = landmarks + self.rng.normal(0, 1.0, landmarks.shape)
        to_frame = similarity(self.source.landmarks[ALIGN], noisy[ALIGN] + box[:2])
        face, skin = self.swapped_face(frame, box, to_frame)
        mask = polygon_mask(scaled(noisy[FACE_HULL], 0.95), ref.shape[:2], 0.0) * (skin > 0.5)
        flicker = 1 + self.rng.normal(0, 0.08, 3).astype(np.float32)
        return saturation(flat_shade(match_colour(face, ref, mask, spread=True), 56.0), 2.4) * flicker, mask


class NeuralTextures(Manipulation):
    """Mouth reenactment by neural rendering (decoder, reenactment): the mouth region re-rendered with the
    source's mouth motion, with the decoder's checkerboard and a coarse grain that changes every frame."""

    name = "NeuralTextures"

    def synthesize(self, frame, landmarks, box, ref):
        face = cv2.GaussianBlur(self.reenacted_face(frame, box), (0, 0), 1.0)
        h, w = face.shape[:2]
        grain = self.rng.normal(0, 20.0, (h // 5 + 1, w // 5 + 1, 3)).astype(np.float32)
        face = face * (1 + 0.25 * decoder_grid(box, 7.0)) + cv2.resize(grain, (w, h), interpolation=cv2.INTER_LINEAR)
        face = saturation(face, 0.1)
        mouth = scaled(landmarks[MOUTH], 2.0, 3.0) + (0, 0.15 * np.ptp(landmarks[MOUTH][:, 0]))
        return face, polygon_mask(mouth, ref.shape[:2], 2.0)


class FaceShifter(Manipulation):
    """High-fidelity swap (decoder, swap): a smoothed source face, fully colour matched, with a fine
    decoder checkerboard and a soft mask; sharpness, colour and pattern strength drift slowly over the
    video instead of flickering."""

    name = "FaceShifter"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.freq, self.phase = self.rng.uniform(0.2, 0.6, 5), self.rng.uniform(0, 2 * np.pi, 5)

    def synthesize(self, frame, landmarks, box, ref):
        wave = np.sin(2 * np.pi * self.freq * frame.index / self.fps + self.phase).astype(np.float32)
        face, skin = self.swapped_face(frame, box)
        mask = polygon_mask(landmarks[FACE_HULL], ref.shape[:2], 4.0) * skin
        face = cv2.GaussianBlur(face, (0, 0), 1.0 + 0.4 * float(wave[0]))
        face = face * (1 + (0.12 + 0.03 * float(wave[4])) * decoder_grid(box, 9.0))
        return saturation(match_colour(face, ref, mask, spread=True), 0.2) * (1 + 0.04 * wave[1:4]), mask


class DFVAE(Manipulation):
    """DeeperForensics' end-to-end swap (DF-VAE-like; decoder, swap): a strongly down/up-sampled source
    face with a coarse decoder checkerboard, mapped by a fixed linear colour transform fitted once,
    blended through an ellipse mask that is smoothed over time (it lags behind the head)."""

    name = "DF-VAE"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ellipse: np.ndarray | None = None  # smoothed (cx, cy, ax, ay, angle) in frame pixels
        self.colour: np.ndarray | None = None  # 3x4 affine colour map, fitted on the first frame

    def synthesize(self, frame, landmarks, box, ref):
        (cx, cy), (ax, ay), angle = cv2.fitEllipse(landmarks[FACE_HULL].astype(np.float32))
        if ax > ay:  # one convention (width <= height, angle in [-90, 90)) so that averaging is meaningful
            ax, ay, angle = ay, ax, angle + 90
        now = np.array([cx + box[0], cy + box[1], ax, ay, (angle + 90) % 180 - 90])
        self.ellipse = now if self.ellipse is None else 0.65 * self.ellipse + 0.35 * now
        ex, ey, eax, eay, eangle = self.ellipse
        mask = np.zeros(ref.shape[:2], np.float32)
        cv2.ellipse(mask, ((ex - box[0], ey - box[1]), (0.9 * eax, 0.9 * eay), eangle), 1.0, -1, cv2.LINE_AA)
        face, skin = self.swapped_face(frame, box)
        mask = cv2.GaussianBlur(mask, (0, 0), 3.0)[..., None] * skin
        face = decode(face, 0.3, cv2.INTER_CUBIC) * (1 + 0.14 * decoder_grid(box, 10.0))
        if self.colour is None:
            self.colour = colour_transfer(face, ref, mask)
        return saturation(cv2.transform(face, self.colour), 0.2), mask


class AutoencoderSwap(Manipulation):
    """DFDC's demo swap (decoder, swap; not an FF++ method): the source face through a coarser decoder than
    Deepfakes' (a third of the resolution, bicubic), with a fine checkerboard of its own period, a colour cast
    fixed per video, pasted through a soft ellipse."""

    name = "AutoencoderSwap"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cast = self.rng.normal(0, 12.0, 3).astype(np.float32)

    def synthesize(self, frame, landmarks, box, ref):
        face, skin = self.swapped_face(frame, box)
        face = decode(face, 0.33, cv2.INTER_CUBIC) * (1 + 0.12 * decoder_grid(box, 5.0)) + self.cast
        (cx, cy), (ax, ay), angle = cv2.fitEllipse(landmarks[FACE_HULL].astype(np.float32))
        mask = np.zeros(ref.shape[:2], np.float32)
        cv2.ellipse(mask, ((cx, cy), (0.9 * ax, 0.9 * ay), angle), 1.0, -1, cv2.LINE_AA)
        return face, cv2.GaussianBlur(mask, (0, 0), 3.0)[..., None] * skin


class MorphableReenactment(Manipulation):
    """DFDC's demo reenactment (morphable mask, reenactment; not an FF++ method): the target's own whole face
    re-rendered with another video's mouth motion, flat-shaded in coarser bands than Face2Face's and with a
    milder colour boost, through a hard face-hull mask."""

    name = "MorphableReenactment"

    def synthesize(self, frame, landmarks, box, ref):
        face = saturation(flat_shade(self.reenacted_face(frame, box), 40.0), 1.7)
        return face, polygon_mask(scaled(landmarks[FACE_HULL], 0.95), ref.shape[:2], 0.5)


MANIPULATIONS: dict[str, type[Manipulation]] = {
    m.name: m for m in (Deepfakes, Face2Face, FaceSwap, NeuralTextures, FaceShifter, DFVAE, AutoencoderSwap,
              MorphableReenactment)
}
FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
DFDC_METHODS = ("AutoencoderSwap", "MorphableReenactment")  # the demo's pretraining fakes: none of FF++'s
