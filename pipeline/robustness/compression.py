"""Video compression (DeeperForensics' VC): the whole clip re-encoded with H.264 and decoded again, in memory.

`video_compression` in DeeperForensics' `perturbation/distortions.py` (commit in
pipeline/distortions.py) runs `ffmpeg -i IN -crf CRF -y OUT.mp4`: libx264 with FFmpeg's
defaults (preset medium), the input's size, frame rate and (where libx264 has it) pixel format; the
CRF of each level is `PERTURBATIONS["video_compression"].parameters`.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction

import av

X264_FORMATS = ("yuv420p", "yuv422p", "yuv444p")


def encode_h264(frames: Iterable[av.VideoFrame], crf: float, time_base: Fraction, rate: Fraction | None,
                threads: int = 0) -> Iterator[av.Packet]:
    """H.264 packets of `frames` (pts in `time_base`) at constant rate factor `crf`, libx264 preset medium.

    Decoded frames keep their picture type, which libx264 would obey; it is reset, as FFmpeg does.
    `threads` 0: libx264's own choice.
    """
    encoder: av.VideoCodecContext | None = None
    for frame in frames:
        if encoder is None:
            encoder = av.CodecContext.create("libx264", "w")
            encoder.width, encoder.height, encoder.time_base = frame.width, frame.height, time_base
            encoder.pix_fmt = frame.format.name if frame.format.name in X264_FORMATS else "yuv420p"
            if rate:
                encoder.framerate = rate
            encoder.thread_count = threads
            encoder.options = {"crf": f"{crf:g}", "preset": "medium"}
        if frame.format.name != encoder.pix_fmt:
            frame = frame.reformat(format=encoder.pix_fmt)
        frame.pict_type = av.video.frame.PictureType.NONE
        yield from encoder.encode(frame)
    if encoder is not None:
        yield from encoder.encode(None)


def decode_h264(packets: Iterable[av.Packet]) -> Iterator[av.VideoFrame]:
    """The frames of raw H.264 packets, in presentation order, with the packets' pts."""
    decoder = av.CodecContext.create("h264", "r")
    for packet in packets:
        yield from decoder.decode(packet)
    yield from decoder.decode(None)


def reencode(frames: Iterable[av.VideoFrame], crf: float, time_base: Fraction, rate: Fraction | None,
             threads: int = 0) -> Iterator[av.VideoFrame]:
    """`frames` after an H.264 round trip at `crf` (`video_compression`, VC), streamed: nothing on disk."""
    return decode_h264(encode_h264(frames, crf, time_base, rate, threads))
