"""Reading videos with PyAV: cheap timestamp probing, sampling by time, one-pass decoding of chosen frames.

Frames are addressed by their presentation timestamp (`pts`, stream time base) everywhere, so the frames
picked by `sample` are found again by `detect` (and `predict`) without trusting frame counts or frame rates
(which are wrong for variable-frame-rate files). Sampling times are measured from the first frame,
stored `times` are absolute (`pts * time_base`, equal to PyAV's `frame.time`).
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np


class VideoError(Exception):
    """A video that cannot be used; the message is one line for the problem report."""


@dataclass
class VideoInfo:
    """What `probe` learns about a video's first video stream without decoding it."""

    time_base: Fraction
    width: int
    height: int
    rotation: int  # counter-clockwise degrees of the display matrix (0, 90, 180, -90)
    duration: float  # seconds
    pts: list[int]  # presentation timestamps of every frame, sorted
    warning: str | None = None  # the file is damaged but its first frames are usable


def _open(path: str) -> av.container.InputContainer:
    try:
        return av.open(path, mode="r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise VideoError(f"cannot open: {one_line(e)}") from e


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise VideoError("no video stream")
    return container.streams.video[0]


def one_line(error: BaseException) -> str:
    """`Type: message` on a single line, for CSV reports and logs (FFmpeg errors without the file name)."""
    text = error.strerror if isinstance(error, av.error.FFmpegError) else str(error)
    text = " ".join(str(text).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def check_utf8(name: str) -> None:
    """Refuse a file name that is not valid UTF-8 (Python keeps its bytes as surrogates): ids and paths
    go into HDF5 attributes, CSV and JSON files as UTF-8 text."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise VideoError(f"file name is not valid UTF-8 (rename it): {ascii(name)}") from None


def probe(path: str) -> VideoInfo:
    """Timestamps of all frames from demuxed packets (no decoding but the first frame, for the rotation).

    Falls back to a full decode pass when packets carry no pts. A damaged or truncated file keeps the
    frames read so far and says so in `warning`; a video with no frame at all raises `VideoError`.
    """
    with _open(path) as container:
        stream = _video_stream(container)
        pts: list[int] = []
        rotation: int | None = None
        missing_pts = False
        warning = None
        n_packets = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                n_packets += 1
                if packet.is_discard:
                    continue
                if packet.pts is None:
                    missing_pts = True
                    break
                pts.append(packet.pts)
                if rotation is None:
                    rotation = next((f.rotation for f in _decode_packet(stream, packet)), None)
        except av.error.FFmpegError as e:
            warning = f"damaged: demuxing stopped after {len(pts)} frames ({one_line(e)})"
        if missing_pts:
            container.seek(0)
            pts, rotation = _decode_pts(container, stream)
        if not pts:
            raise VideoError("no video frames")
        time_base = stream.time_base or Fraction(1, 1)
        pts = sorted(set(pts))
        if stream.duration:
            duration = float(stream.duration * time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = float((pts[-1] - pts[0]) * time_base)
        if warning is None and stream.frames > n_packets:
            warning = f"truncated: {n_packets} of {stream.frames} frames present"
        cc = stream.codec_context
        return VideoInfo(time_base, cc.width, cc.height, rotation or 0, duration, pts, warning)


def _decode_packet(stream: av.video.stream.VideoStream, packet: av.Packet) -> list[av.VideoFrame]:
    try:
        return stream.decode(packet)
    except av.error.FFmpegError:
        return []


def _decode_pts(container: av.container.InputContainer, stream) -> tuple[list[int], int]:
    """Fallback for streams without packet timestamps: decode everything and read frame pts."""
    pts, rotation = [], 0
    for packet in container.demux(stream):
        for frame in _decode_packet(stream, packet):
            if frame.pts is None:
                raise VideoError("frames carry no presentation timestamps")
            rotation = rotation or frame.rotation
            pts.append(frame.pts)
    return pts, rotation


def pick_by_time(pts: Sequence[int], time_base: Fraction, fps: float) -> list[int]:
    """Indices into sorted `pts` of the frames sampled at `fps`: for k = 0, 1, ... the first frame whose
    time since the first frame is >= k / fps. Exact rational arithmetic; a frame is picked at most once,
    so a video slower than `fps` yields each of its frames once instead of duplicates.
    """
    if not pts:
        return []
    rate = Fraction(fps).limit_denominator(1000)
    picked, k = [], 0
    for i, p in enumerate(pts):
        position = (p - pts[0]) * time_base * rate  # time since the first frame, in sampling periods
        if position >= k:
            picked.append(i)
            k = math.floor(position) + 1
    return picked


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display-matrix rotation (counter-clockwise degrees) so the picture is shown as intended."""
    k = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


def upright_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    """(width, height) of the frame after `upright`."""
    return (height, width) if round(rotation / 90) % 2 else (width, height)


# log2 of the chroma subsampling (x, y) of the 8-bit planar formats whose planes `region_array` can cut.
_CHROMA_SHIFT = {"yuv420p": (1, 1), "yuvj420p": (1, 1), "yuv422p": (1, 0), "yuvj422p": (1, 0),
                 "yuv444p": (0, 0), "yuvj444p": (0, 0)}
_REGION_PAD = 8  # luma pixels of context around a cut region: chroma interpolation sees its neighbours
# swscale's grey from limited-range (16-235) luma, bit for bit; full-range luma is the grey itself.
_LIMITED_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


def clip_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The integer part (x0, y0, x1, y1) of `box` inside a `width` x `height` frame (empty when outside)."""
    x0, y0 = min(max(int(box[0]), 0), width), min(max(int(box[1]), 0), height)
    return x0, y0, max(min(int(box[2]), width), x0), max(min(int(box[3]), height), y0)


def region_array(frame: av.VideoFrame, x0: int, y0: int, x1: int, y1: int, pixel_format: str = "rgb24") -> np.ndarray:
    """Pixels [y0:y1, x0:x1] of the upright frame in `pixel_format` ("rgb24", "gray"; the box must lie
    inside the frame), identical to slicing `upright(frame.to_ndarray(format=pixel_format), frame.rotation)`.

    A face is a small part of the frame: for common 8-bit planar formats without rotation the planes of
    the box (plus a few pixels of context) are copied into a small frame and only that is converted,
    several times cheaper than converting the whole picture; grey is read off the luma plane.
    """
    shift = _CHROMA_SHIFT.get(frame.format.name)
    if pixel_format == "gray" and shift is not None and not frame.rotation:
        luma = np.frombuffer(frame.planes[0], np.uint8).reshape(-1, frame.planes[0].line_size)[y0:y1, x0:x1]
        full_range = frame.format.name.startswith("yuvj") or frame.color_range == 2  # AVCOL_RANGE_JPEG
        return luma.copy() if full_range else _LIMITED_TO_FULL[luma]
    if shift is None or frame.rotation or x1 <= x0 or y1 <= y0 or frame.width % 2 or frame.height % 2:
        # (odd frame sizes take another swscale path, whose output a part cannot reproduce)
        return upright(frame.to_ndarray(format=pixel_format), frame.rotation)[y0:y1, x0:x1]
    align_x, align_y = _REGION_PAD << shift[0], _REGION_PAD << shift[1]
    px0, py0 = max(x0 - align_x, 0) // align_x * align_x, max(y0 - align_y, 0) // align_y * align_y
    px1 = min(-(-(x1 + align_x) // align_x) * align_x, frame.width)  # even sizes, as the frame's
    py1 = min(-(-(y1 + align_y) // align_y) * align_y, frame.height)
    part = av.VideoFrame(px1 - px0, py1 - py0, frame.format.name)
    part.colorspace, part.color_range = frame.colorspace, frame.color_range
    for k, (src, dst) in enumerate(zip(frame.planes, part.planes)):
        sx, sy = (0, 0) if k == 0 else shift
        source = np.frombuffer(src, np.uint8).reshape(-1, src.line_size)
        target = np.frombuffer(dst, np.uint8).reshape(-1, dst.line_size)
        target[:dst.height, :dst.width] = source[py0 >> sy:(py0 >> sy) + dst.height,
                                                 px0 >> sx:(px0 >> sx) + dst.width]
    return part.to_ndarray(format=pixel_format)[y0 - py0:y1 - py0, x0 - px0:x1 - px0]


class FrameReader:
    """Decode one video once and yield `(index, frame)` for the frames whose pts are in `wanted`.

    Packets of unwanted frames are decoded with `skip_frame = NONREF`: a frame that no other frame
    references is then dropped by the decoder, which saves about a third of H.264 decoding at 3 fps from
    25-30 fps video and leaves every decoded picture bit-identical. Should a wanted frame have been in a
    skipped packet (containers whose packet pts are not the frame's), a second, full pass fetches it.
    Stops as soon as every wanted frame was seen. Errors are caught per packet so a damaged file gives
    the frames that decoded; afterwards `error` holds the first error message (or None), `found` the
    number of wanted frames yielded and `decoded` the number of frames the decoder returned.
    """

    def __init__(self, path: str, wanted: Sequence[int]):
        self.path = path
        self.wanted = {int(p): i for i, p in enumerate(wanted)}
        self.error: str | None = None
        self.found = 0
        self.decoded = 0

    def __iter__(self) -> Iterator[tuple[int, av.VideoFrame]]:
        missing = dict(self.wanted)
        for skip in (True, False):
            if not missing or self.error:
                return
            yield from self._decode(missing, skip)

    def _decode(self, missing: dict[int, int], skip: bool) -> Iterator[tuple[int, av.VideoFrame]]:
        with _open(self.path) as container:
            stream = _video_stream(container)
            codec = stream.codec_context
            packets = container.demux(stream)
            while missing:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.error.FFmpegError as e:
                    self.error = self.error or f"demuxing failed: {one_line(e)}"
                    break
                if skip:
                    codec.skip_frame = "DEFAULT" if packet.pts in missing else "NONREF"
                try:
                    frames = stream.decode(packet)
                except av.error.FFmpegError as e:
                    self.error = self.error or f"decoding failed: {one_line(e)}"
                    continue
                self.decoded += len(frames)
                for frame in frames:
                    index = missing.pop(frame.pts, None)
                    if index is not None:
                        self.found += 1
                        yield index, frame

    def problem(self) -> str | None:
        """One-line description when some wanted frames were not decoded, else None."""
        if self.found == len(self.wanted):
            return None
        reason = f"incomplete decode: {self.found} of {len(self.wanted)} sampled frames decoded"
        return f"{reason} ({self.error})" if self.error else reason
