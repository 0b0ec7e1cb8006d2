"""Tiny H.264 test videos: a moving 'talking head' (the astronaut's face over a blurred background), with
optional variable frame rate, display-matrix rotation, odd sizes and truncation, plus broken files."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import skimage.data

TIME_BASE = Fraction(1, 1000)
FACE = cv2.resize(skimage.data.astronaut()[20:240, 110:330], (110, 110))  # HOG finds this face at 320x240


def face_position(i: int) -> tuple[int, int]:
    """Top-left corner of the face sprite in frame i of a synthetic video."""
    return 60 + int(50 * np.sin(i / 20)), 60 + int(15 * np.cos(i / 15))


def write_video(path: Path, n: int = 50, fps: int = 25, pts_ms: list[int] | None = None, rotation: int = 0,
                size: tuple[int, int] = (320, 240), face: bool = True, faststart: bool = False,
                preset: str = "ultrafast") -> list[int]:
    """An H.264 'talking head' (the astronaut's face moving over a blurred background). Frame i is shown
    at `pts_ms[i]` milliseconds (default: constant `fps`). With `rotation` the frames are stored rotated
    and a display matrix turns them back upright. x264's `preset` "medium" adds B-frames, some of which
    no other frame references. Returns the pts in milliseconds."""
    pts_ms = pts_ms or [round(1000 * i / fps) for i in range(n)]
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), (31, 31), 0)
    k = round(rotation / 90)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = (size[1], size[0]) if k % 2 else size
        stream.pix_fmt, stream.options = "yuv420p", {"preset": preset}
        stream.time_base = stream.codec_context.time_base = TIME_BASE
        if rotation:
            stream.set_display_rotation(rotation)
        for i, pts in enumerate(pts_ms):
            image = background.copy()
            if face:
                x, y = face_position(i)
                image[y:y + FACE.shape[0], x:x + FACE.shape[1]] = FACE
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.rot90(image, -k)), format="rgb24")
            frame.pts, frame.time_base = pts, TIME_BASE
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return pts_ms


def truncate(path: Path, fraction: float = 0.5) -> None:
    """Keep only the first `fraction` of a file's bytes (a download cut short)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def write_broken_files(folder: Path) -> list[Path]:
    """A zero-byte file, random bytes and a text file, all named .mp4."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / "zero.mp4", folder / "garbage.mp4", folder / "text.mp4"]
    files[0].write_bytes(b"")
    files[1].write_bytes(np.random.default_rng(1).bytes(4000))
    files[2].write_text("this is not a video\n")
    return files
