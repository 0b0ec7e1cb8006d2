"""Deterministic H.264 mp4 writing through PyAV, atomically (temporary name, then rename)."""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from pipeline.io import atomic_path

# Byte-identical output needs one x264 thread and no macroblock-tree rate control: with mbtree on, the
# bitstream of the same frames varied between processes here (it reads memory whose content depends on
# earlier allocations; with a fresh process it did not vary).
X264_OPTIONS = {"crf": "23", "preset": "veryfast", "threads": "1", "x264-params": "mbtree=0"}


@contextlib.contextmanager
def video_writer(path: Path, fps: float, width: int, height: int) -> Iterator[Callable[[np.ndarray], None]]:
    """Yield `write(rgb_uint8_frame)`; the mp4 appears under `path` only when the block succeeds."""
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001), options=X264_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"

        def write(rgb: np.ndarray) -> None:
            # OpenCV's I420 conversion equals swscale's BT.601 limited range here, and is ~7x faster.
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
            container.mux(stream.encode(frame))

        yield write
        container.mux(stream.encode(None))
