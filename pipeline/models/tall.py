"""TALL-Swin (Xu et al., ICCV 2023, "Thumbnail Layout"): four frames tiled 2x2 into one image for a Swin-B.

As rainy-xu/TALL4Deepfake trains it (`my_models/tall_swin.py`, README recipe `--input-size 112 --duration 4
--thumbnail_rows 2 --cutout True --hpe_to_token`): each of 4 consecutive face frames is resized to half the
input side (112 of 224) and the four are tiled row by row (frames 0 1 / 2 3) into one input-size image; during
training the same 16 x 16 block (of a 112 px frame, so 1/7 of its side; `GroupCutout(n_holes=1, length=16)`) is
set to 0 in every frame of a clip after normalisation, its centre drawn uniformly over the frame and the block
clipped at the borders, a new centre per clip; no mask at evaluation. The image goes through timm's Swin-B
(`swin_base_patch4_window7_224`: embed 128, depths 2-2-18-2, heads 4-8-16-32, stochastic depth 0.1) with a
learned position embedding per frame (`frame_pos_embed`, 4 x 128, N(0, 0.02) truncated) added to the patch
tokens of that frame's quadrant after the patch embedding (`hpe_to_token`), then timm's average pool and one
linear output. Initialisation: Swin-B trained on ImageNet-22k, the file TALL loads
(`swin_base_patch4_window7_224_22k.pth`, on the timm hub as `.ms_in22k`; not the 22k -> 1k fine-tuned
`.ms_in22k_ft_in1k`); its 21,841-class head is dropped, the frame embedding and our head start as described (the
head at zero).

Differences from the original:
- windows of 7 in every stage (timm's Swin-B as published) instead of TALL's [14, 14, 14, 7], whose 224 px
  weights had their relative-position tables interpolated to 27 x 27;
- at input sizes other than 224 (demo sizes) timm pads feature maps to whole windows and, in stages whose map is
  smaller than a window, shrinks the window to the map (64 px: windows 7, 7, 4, 2); the published
  relative-position tables are then resized to those windows when loaded (timm's `checkpoint_filter_fn`, as
  timm does for a pretrained model created at another size), so the parameter count at such sizes is below the
  card's; at 224 px nothing is resized;
- frames are resized to half the input side here (antialiased, from whatever size the clip has); the original's
  data pipeline crops them at 112 and its model resizes each to 224, tiles and resizes the 448 px image to 224
  (bilinear, no antialiasing);
- one logit trained with BCE instead of two classes with cross-entropy; the workflow's Adam with L2 weight decay
  on every tensor instead of AdamW (weight decay 1e-5, none on the position tables), cosine schedule and warm-up;
- the original samples 8 clips of 4 frames per video and averages them at test time; here the workflow's own
  sampling and sliding windows of 4 frames apply.
"""
from __future__ import annotations

import timm
import torch
import torch.nn.functional as F
from timm.layers import trunc_normal_
from timm.models.swin_transformer import checkpoint_filter_fn
from torch import nn

from pipeline.models.card import Detector, Weights
from pipeline.models.pretrained import (NO_WEIGHTS, PretrainedInfo, find_cached, load_matching, load_pretrained,
                                        read_weights)
from pipeline.models.registry import ModelSpec, zero_output_layer

DETECTOR = Detector(
    name="tall",
    display="TALL-Swin",
    family="video-transformer",
    rank=0,
    input_size=224,
    norm="imagenet",
    clip_len=4,
    params=86_744_761,
    params_source="timm swin_base_patch4_window7_224 with 1000 classes: 87,768,224; one output: 86,744,249; "
                  "plus TALL's frame position embedding 4 x 128: 86,744,761",
    # rainy-xu/TALL4Deepfake README recipe: --lr 1.5e-5 --batch-size 4 (AdamW), main.py's default --weight-decay
    # 1e-5; 4-frame clips (--duration 4)
    hparams={"lr": 1.5e-5, "batch_size": 4, "weight_decay": 1.0e-5, "clip_len": 4},
    # TALL_SWIN's pretrained file, swin_base_patch4_window7_224_22k.pth (ImageNet-22k), as timm publishes it
    weights=(Weights(kind="hf", name="model.safetensors", origin="timm/swin_base_patch4_window7_224.ms_in22k"),),
    head="head",
    gradcam_layer="",  # no (B, C, t, h, w) map: one 2D image of four frames, attention blocks
    # Swin's only convolution is the 4x4 patch embedding; its blocks run on (B, H, W, C) tokens already
    channels_last=False,
    feature_layer="net.head.fc",
    options={"cutout": 16},  # block side in pixels of a 112 px frame (video_dataset_aug.py); 0: no mask
)

FRAMES, ROWS = 4, 2  # a 2 x 2 thumbnail layout of 4 frames
CUTOUT_REFERENCE = 112  # the frame side the original's 16 px block refers to


class TALL(nn.Module):
    """TALL-Swin: (B, 3, 4, H, W) clips -> (B,) logits."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        if spec.clip_len != FRAMES:
            raise ValueError(f"tall tiles {FRAMES} frames 2 x 2 into one image; clip_len must be {FRAMES}, "
                             f"got {spec.clip_len}")
        cutout = spec.options.get("cutout", DETECTOR.options["cutout"])
        if isinstance(cutout, bool) or not isinstance(cutout, int) or cutout < 0:
            raise ValueError(f"tall: option cutout must be a whole number of pixels >= 0, got {cutout!r}")
        self.spec = spec
        self.size = spec.input_size
        self.side = spec.input_size // ROWS
        self.cutout = round(cutout * self.side / CUTOUT_REFERENCE) if cutout else 0
        self.net = timm.create_model("swin_base_patch4_window7_224", pretrained=False, num_classes=1,
                                     img_size=spec.input_size, drop_path_rate=0.1)  # never downloads
        zero_output_layer(self.net.get_classifier())
        self.frame_pos_embed = nn.Parameter(torch.zeros(1, FRAMES, self.net.embed_dim))
        trunc_normal_(self.frame_pos_embed, std=0.02)

    def thumbnail(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 4, H, W) clips -> (B, 3, S, S) images: frames resized to S/2, masked (training) and tiled 2 x 2."""
        b, c, t, h, w = x.shape
        if t != FRAMES:
            raise ValueError(f"tall takes clips of {FRAMES} frames, got {t}")
        side = self.side
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        if (h, w) != (side, side):
            frames = F.interpolate(frames, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
        frames = frames.view(b, t, c, side, side)
        if self.training and self.cutout:
            frames = frames.masked_fill(self.block_mask(b, frames.device)[:, None, None], 0.0)
        image = frames.view(b, ROWS, FRAMES // ROWS, c, side, side).permute(0, 3, 1, 4, 2, 5)
        image = image.reshape(b, c, ROWS * side, FRAMES // ROWS * side)
        if image.shape[-2:] != (self.size, self.size):  # an odd input size
            image = F.interpolate(image, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return image

    def block_mask(self, batch: int, device: torch.device) -> torch.Tensor:
        """(B, S/2, S/2) booleans: one block per clip, centre uniform over the frame, clipped at its borders."""
        side, half = self.side, self.cutout // 2
        centre = torch.randint(side, (2, batch, 1), device=device)
        r = torch.arange(side, device=device)
        rows, cols = ((r >= c - half) & (r < c + half) for c in centre)
        return rows[:, :, None] & cols[:, None, :]

    def frame_positions(self, h: int, w: int) -> torch.Tensor:
        """(h, w, C): each patch token's frame embedding (the frame whose quadrant holds it)."""
        device = self.frame_pos_embed.device
        rows = torch.arange(h, device=device) * ROWS // h
        cols = torch.arange(w, device=device) * (FRAMES // ROWS) // w
        return self.frame_pos_embed[0][rows[:, None] * (FRAMES // ROWS) + cols[None, :]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.net.patch_embed(self.thumbnail(x))  # (B, h, w, C)
        tokens = tokens + self.frame_positions(tokens.shape[1], tokens.shape[2]).to(tokens.dtype)
        return self.net.forward_head(self.net.norm(self.net.layers(tokens))).squeeze(1)


def build(spec: ModelSpec, *, pretrained: str | None = None) -> tuple[TALL, PretrainedInfo]:
    """TALL-Swin, its Swin-B initialised from ImageNet-22k weights."""
    model = TALL(spec)
    if pretrained == NO_WEIGHTS:
        return model, load_pretrained(model, DETECTOR, pretrained)
    path = pretrained
    if path is None:
        path, _ = find_cached(DETECTOR)
        if path is None:
            return model, load_pretrained(model, DETECTOR, None)  # random init, naming the places it looked
    state, own = read_weights(path)
    if own:  # one of this workflow's checkpoints: loads in full (or names the detector it belongs to)
        return model, load_pretrained(model, DETECTOR, str(path))
    state = checkpoint_filter_fn(state, model.net)  # relative-position tables resized to this size's windows
    n = load_matching(model.net, state, DETECTOR.head, str(path))
    return model, PretrainedInfo(True, str(path), n)
