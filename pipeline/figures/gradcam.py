"""`gradcam`: Grad-CAM of a 3D model over an original clip and altered ones (Figure 5, §4.4).

Grad-CAM (Selvaraju et al.) weights each channel of the model's last convolutional block
(the card's `gradcam_layer`) by the mean gradient of the fake logit over time and space, sums the
channels, keeps the positive part and upsamples it to the clip's frames and pixels. All rows share
one colour scale, so stronger activations on altered clips show as such. Each row's title gives the
predicted probability of being fake.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from pipeline.data.transforms import resize_frames  # noqa: E402
from pipeline.evaluate.cliutils import parse_params  # noqa: E402
from pipeline.gpu import add_gpu_argument, claim_device  # noqa: E402
from pipeline.evaluate.inference import clip_units, first_frames, input_size, load_model, placement_of  # noqa: E402
from pipeline.models.registry import gradcam_module  # noqa: E402
from pipeline.evaluate.flips import flip_frames, shuffle_frames  # noqa: E402
from pipeline.io import atomic_path  # noqa: E402
from pipeline.store import ClipStore  # noqa: E402


@dataclass(frozen=True)
class GradcamParams:
    """`gradcam --params`: which manifest row, seed of the alterations, clip length, every n-th frame shown."""

    video_index: int = 0
    seed: int = 0
    clip_len: int | None = None  # None: the model's own clip length
    show_every: int = 2


def gradcam(model: nn.Module, clip: torch.Tensor) -> tuple[np.ndarray, float]:
    """Grad-CAM map (T, H, W) of one clip (3, T, H, W), unnormalised, and the model's fake probability."""
    store: dict[str, torch.Tensor] = {}

    def hook(_module, _inputs, output):
        store["act"] = output
        output.register_hook(lambda grad: store.__setitem__("grad", grad))

    placement = placement_of(model)
    handle = gradcam_module(model).register_forward_hook(hook)
    try:
        with torch.enable_grad(), placement.autocast():
            x = placement.inputs(clip.unsqueeze(0)).requires_grad_(True)
            logit = model(x).reshape(-1)[0]
            model.zero_grad(set_to_none=True)
            logit.backward()
    finally:
        handle.remove()
    act, grad = store["act"].detach().float(), store["grad"].detach().float()  # (1, C, t, h, w)
    weights = grad.mean(dim=(2, 3, 4), keepdim=True)
    cam = F.relu((weights * act).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=tuple(clip.shape[1:]), mode="trilinear", align_corners=False)
    return cam[0, 0].float().cpu().numpy(), float(torch.sigmoid(logit.detach().float()))


def altered_clips(clip: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The rows of Figure 5: the original clip, 5 random frames flipped, the frames shuffled."""
    rng = np.random.default_rng(seed)
    return {"original": clip, "5 frames flipped": flip_frames(clip, 5, rng), "shuffled": shuffle_frames(clip, rng)}


def plot_rows(rows: dict[str, tuple[np.ndarray, np.ndarray, float]], show_every: int, out: str) -> None:
    """One row per sequence: frames (T, H, W, 3) uint8 with their Grad-CAM maps overlaid on a shared scale."""
    vmax = max(float(cam.max()) for _, cam, _ in rows.values()) or 1.0
    n_cols = len(range(0, len(next(iter(rows.values()))[0]), show_every))
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(1.3 * n_cols, 1.55 * len(rows)), squeeze=False)
    for r, (name, (frames, cam, p)) in enumerate(rows.items()):
        for c, t in enumerate(range(0, len(frames), show_every)):
            ax = axes[r][c]
            ax.imshow(frames[t])
            ax.imshow(cam[t], cmap="jet", alpha=0.45, vmin=0.0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_xlabel(f"t={t}", fontsize=7)
                ax.xaxis.set_label_position("top")
        axes[r][0].set_title(f"{name}: p(fake) = {p:.2f}", loc="left", fontsize=9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a video detector whose card names a `gradcam_layer`")
    parser.add_argument("--manifest", required=True, help="test manifest; the video is picked by video_index")
    parser.add_argument("--out", required=True, help="PNG")
    parser.add_argument("--params", default="{}", help=f"JSON, keys of {asdict(GradcamParams())}")
    add_gpu_argument(parser)


def run(args: argparse.Namespace) -> int:
    params = parse_params(GradcamParams, args.params)
    claim_device(args)
    model, ckpt = load_model(args.checkpoint)
    if gradcam_module(model) is None:
        raise ValueError(f"{args.checkpoint}: {ckpt['model']} declares no gradcam_layer; Grad-CAM needs one")
    manifest = pd.read_csv(args.manifest)
    if not 0 <= params.video_index < len(manifest):
        raise ValueError(f"{args.manifest}: video_index {params.video_index} is outside its {len(manifest)} videos")
    row = manifest.iloc[params.video_index]
    store = ClipStore(row["store"])
    clip = first_frames(store, row["key"], params.clip_len or model.spec.clip_len)
    store.close()
    size = input_size(model.spec)
    rows = {}
    for name, frames in altered_clips(clip, params.seed).items():
        cam, p = gradcam(model, clip_units(frames, model.spec)[0])
        rows[name] = (resize_frames(frames, size), cam, p)
    plot_rows(rows, params.show_every, args.out)
    print(f"Grad-CAM of {ckpt['model']} on {row['video_id']} (label {row['label']}): "
          + ", ".join(f"{k} p={v[2]:.3f}" for k, v in rows.items()) + f" -> {args.out}")
    return 0
