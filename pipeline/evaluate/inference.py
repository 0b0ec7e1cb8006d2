"""Video-level inference (paper §4.1 "Inference", Appendix A.3).

Image models score every frame of a video and average the fake probabilities. Video models
(`sequence` and `3d`) slide a `clip_len`-frame window over all frames with a given stride (16 on FF++,
2 on DFDC) and average the window probabilities; videos shorter than a window are looped. Units
(frames or windows) of consecutive videos share batches, so short videos still fill a batch.

A stored frame that fails its checksum or does not decode is replaced by the nearest good frame of its
video, with a one-line warning per video; a video without any good frame gets no probability: a warning
names its store and key, it is left out of the predictions (so the metrics stay valid, over the videos
scored) and a last warning counts such videos.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from pipeline.checkpoint import load_checkpoint
from pipeline.data.transforms import loop_to_length, to_model_input
from pipeline.runtime import Placement, select_device
from pipeline.store import ClipStore, UnreadableVideo

PREDICTION_COLUMNS = ["video_id", "label", "method", "probability", "n_windows"]


@dataclass(frozen=True)
class InferenceParams:
    """`evaluate --params`: window stride for video models, decision threshold, units per forward pass."""

    stride: int = 16
    threshold: float = 0.5
    batch_size: int = 8


def load_model(path: str | os.PathLike, device: torch.device | None = None) -> tuple[nn.Module, dict]:
    """Rebuild a trained model from its checkpoint (architecture from its card, weights from the file), placed
    on `device` (default: CUDA when available) as its training run recorded: bf16 setting, memory format."""
    from pipeline.models.registry import build_model  # heavy import, only when a model is needed

    ckpt = load_checkpoint(path)
    config = ckpt.get("config") or {}
    train = {**config.get("train", {}), **config.get("hparams", {})}  # a model's hparams win (TrainConfig)
    plugins = [config["plugin"]] if config.get("plugin") else []
    model, _ = build_model(ckpt["model"], image_size=train.get("image_size"), clip_len=train.get("clip_len"),
                           pretrained="none", plugins=plugins, hparams=config.get("hparams", {}))
    model.load_state_dict(ckpt["state_dict"])
    model.placement = Placement.for_model(model.spec, train.get("bf16"), device or select_device())
    return model.placement.model(model).eval(), ckpt


def placement_of(model: nn.Module) -> Placement:
    """Where a model runs: as `load_model` placed it, else on its parameters' device with autocast where native."""
    placement = getattr(model, "placement", None)
    return placement or Placement.for_model(model.spec, "auto", next(model.parameters()).device)


def input_size(spec) -> int:
    """Side length of a model's square input (`spec.input_size` may be an int or a shape)."""
    size = spec.input_size
    return int(size if isinstance(size, int) else size[-1])


def is_video_model(spec) -> bool:
    return spec.kind != "image"


def window_starts(n_frames: int, clip_len: int, stride: int) -> list[int]:
    """Start frames of the sliding windows; a last window ends at the final frame so every frame is seen."""
    if n_frames <= clip_len:
        return [0]
    starts = list(range(0, n_frames - clip_len + 1, stride))
    if starts[-1] + clip_len < n_frames:
        starts.append(n_frames - clip_len)
    return starts


def frame_tensor(frames: np.ndarray, spec) -> torch.Tensor:
    """Stored crops (N, S, S, 3) uint8 -> normalised (N, 3, H, W) at the model's input size."""
    return to_model_input(frames, input_size(spec), spec.mean, spec.std)


def clip_indices(n_frames: int, start: int, clip_len: int) -> np.ndarray:
    """Frame indices of one window; looped from the start when the video is shorter than a window."""
    if n_frames < clip_len:
        return loop_to_length(np.arange(n_frames), clip_len)
    return np.arange(start, start + clip_len)


def unit_indices(n_frames: int, spec, stride: int) -> list[np.ndarray]:
    """Frame indices of each unit a model scores: one frame each for image models, one window each for
    video models."""
    if not is_video_model(spec):
        return [np.array([i]) for i in range(n_frames)]
    return [clip_indices(n_frames, s, spec.clip_len) for s in window_starts(n_frames, spec.clip_len, stride)]


def video_units(frames: np.ndarray, spec, stride: int) -> torch.Tensor:
    """What a model scores for one video: every frame (3, H, W) or every window (3, T, H, W), stacked."""
    x = frame_tensor(frames, spec)
    if not is_video_model(spec):
        return x
    return torch.stack([x[i].transpose(0, 1) for i in unit_indices(len(x), spec, stride)])


def clip_units(clip: np.ndarray, spec) -> torch.Tensor:
    """One fixed clip (T, S, S, 3) as model units: its T frames for image models, one window for video models."""
    x = frame_tensor(clip, spec)
    return x.transpose(0, 1).unsqueeze(0) if is_video_model(spec) else x


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def checked_frames(store: ClipStore, key: str, indices: np.ndarray | None = None) -> np.ndarray:
    """`store.read`, with a one-line warning naming the store, video and first frame when frames were
    replaced; `UnreadableVideo` when the video has no good frame."""
    frames, bad = store.read_checked(key, indices)
    if bad:
        warn(f"{store.path}: video {key}: frame {bad[0].index}: {bad[0].reason}; {len(bad)} bad frame(s) "
             "replaced by the nearest good frame")
    return frames


def first_frames(store: ClipStore, key: str, length: int) -> np.ndarray:
    """The first `length` frames of a video, looped when it has fewer (t-SNE, perturbation, Grad-CAM input)."""
    idx = loop_to_length(np.arange(min(store.n_frames(key), length)), length)
    return checked_frames(store, key, idx)


def batched_means(fn: Callable[[torch.Tensor], torch.Tensor], units: Iterable[torch.Tensor], batch_size: int,
                  placement: Placement) -> Iterator[tuple[torch.Tensor, int]]:
    """Run `fn` over the units of many videos in shared batches; yield each video's mean output and unit count.

    `units` yields one (U, ...) tensor per video; results come back in the same order, each as soon as
    the video's last unit has been through the model.
    """
    sums: list[torch.Tensor | float] = []
    counts: list[int] = []
    remaining: list[int] = []
    queue: list[torch.Tensor] = []
    owners: list[int] = []
    emitted = 0

    def flush() -> None:
        for row, owner in zip(forward(fn, torch.cat(queue), placement), owners, strict=True):
            sums[owner] = sums[owner] + row
            remaining[owner] -= 1
        queue.clear()
        owners.clear()

    for video in units:
        if len(video) == 0:
            raise ValueError("a video without frames cannot be scored")
        sums.append(0.0)
        counts.append(len(video))
        remaining.append(len(video))
        pos = 0
        while pos < len(video):
            chunk = video[pos:pos + batch_size - len(owners)]
            queue.append(chunk)
            owners.extend([len(sums) - 1] * len(chunk))
            pos += len(chunk)
            if len(owners) == batch_size:
                flush()
        while emitted < len(sums) and remaining[emitted] == 0:
            yield sums[emitted] / counts[emitted], counts[emitted]
            emitted += 1
    if queue:
        flush()
    for i in range(emitted, len(sums)):
        yield sums[i] / counts[i], counts[i]


def forward(fn: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor, placement: Placement) -> torch.Tensor:
    """One no-grad forward pass placed as training ran it (device, memory format, autocast); float32 results
    on the CPU."""
    with torch.inference_mode(), placement.autocast():
        return fn(placement.inputs(batch)).float().cpu()


def probability_fn(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """Fake probability per unit: the sigmoid of the logit, computed in float32."""
    return lambda x: torch.sigmoid(model(x).float())


def manifest_videos(manifest: pd.DataFrame) -> Iterator[tuple[ClipStore, pd.Series]]:
    """Each manifest row with its (shared, lazily opened) clip store; stores are closed at the end."""
    stores: dict[str, ClipStore] = {}
    try:
        for _, row in manifest.iterrows():
            store = stores.setdefault(row["store"], ClipStore(row["store"]))
            yield store, row
    finally:
        for store in stores.values():
            store.close()


def predict_manifest(model: nn.Module, manifest: pd.DataFrame, params: InferenceParams) -> pd.DataFrame:
    """Video-level fake probabilities for every video of a manifest (columns `PREDICTION_COLUMNS`)."""
    scored: list[int] = []  # manifest positions of the videos with a probability

    def units() -> Iterator[torch.Tensor]:
        for position, (store, row) in enumerate(manifest_videos(manifest)):
            try:
                frames = checked_frames(store, row["key"])
            except UnreadableVideo as exc:
                warn(f"{exc} ({row['video_id']}): no readable frame; no probability")
                continue
            scored.append(position)
            yield video_units(frames, model.spec, params.stride)

    results = list(batched_means(probability_fn(model), units(), params.batch_size, placement_of(model)))
    if len(scored) < len(manifest):
        warn(f"{len(manifest) - len(scored)} of {len(manifest)} videos unreadable: left out of the predictions "
             "and metrics")
    kept = manifest.iloc[scored]
    return pd.DataFrame({
        "video_id": kept["video_id"].to_numpy(),
        "label": kept["label"].astype(int).to_numpy(),
        "method": kept["method"].to_numpy(),
        "probability": [float(p) for p, _ in results],
        "n_windows": [n for _, n in results],
    }, columns=PREDICTION_COLUMNS)


def clip_features(model: nn.Module, manifest: pd.DataFrame, length: int, batch_size: int = 8) -> np.ndarray:
    """Pre-classifier features of the first `length` frames of every video (§4.3): image models average
    their per-frame descriptors, video models describe the clip with one vector. Returns (N, D)."""
    from pipeline.models.registry import features

    units = (clip_units(first_frames(store, row["key"], length), model.spec)
             for store, row in manifest_videos(manifest))
    found = batched_means(lambda x: features(model, x), units, batch_size, placement_of(model))
    return torch.stack([f for f, _ in found]).numpy()
