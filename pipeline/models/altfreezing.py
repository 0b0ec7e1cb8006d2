"""AltFreezing (Wang et al., CVPR 2023): an I3D-R50 whose spatial- and temporal-related weights train in turns.

The network is AltFreezing's `i3d_ori` classifier (ZhendongWang6/AltFreezing, `model/classifier/i3d_ori.py`,
`setting/i3d_ori.yaml`): PySlowFast's I3D ResNet-50 (`pipeline/models/resnet3d.py`) with SlowFast's basic head,
average pooling over (T, H, W), dropout 0.5 and a linear layer to one output.

The weight groups follow the released `temporal_spatial_sep` (`slowfast/models/optimizer.py`): convolutions with
a 1xkxk kernel (k > 1, the `conv2` of every block) are spatial-related; those with a kx1x1 kernel (k > 1, the 3x1x1
`conv1` of the blocks that have one) are temporal-related; everything else belongs to both groups and therefore
always trains: the 5x7x7 stem, the 1x1x1 convolutions (`conv3`, the 1x1x1 `conv1`s and the shortcuts), every
BatchNorm (scale, shift and running statistics) and the head. "Frozen" means `requires_grad=False`: the
training loop zeroes gradients with `set_to_none=True`, so Adam (and its weight decay) skips a frozen tensor
and it keeps its value; its Adam moments wait, unchanged, for its next turn.

`before_step(step)` (called by `pipeline/train/loop.py` before every training step, counted over the run) sets
the groups: in every cycle of `spatial_steps + temporal_steps` steps the first `spatial_steps` train the
spatial-related weights (temporal-related frozen), the next `temporal_steps` the temporal-related ones (spatial-
related frozen). The released configuration alternates with `SOLVER.ALTER_FREQ: 20` (run id
"i3d_ori_all_alter20"); its training loop is not released, so 20 steps of each is our reading of it, and which
group trains first is our choice. `spatial_steps = temporal_steps = 0` trains everything every step (plain I3D).

Differences from the original:
- initialisation: AltFreezing starts from a Kinetics-400 I3D-R50 (SlowFast's `I3D_8x8_R50`, which DeepfakeBench's
  `altfreezing.yaml` loads; the released code loads no file itself), which neither torchvision nor timm
  publishes; here from ImageNet ResNet-50 weights (timm's `resnet50.tv_in1k`, torchvision's IMAGENET1K_V1)
  inflated into the 3D network (`resnet3d.inflate_state_dict`), as I3D and the non-local I3D-R50 were initialised
  before their Kinetics training;
- clips: the released configuration samples 32 frames (`clip_size: 32`); the protocol's 16 are the default here
  (set `hparams.altfreezing.clip_len: 32` for the original's);
- adaptive average pooling instead of SlowFast's fixed (T/2, 7, 7) window (the same at 224 px, and it handles
  demo sizes); one logit trained with BCE, as the original's one sigmoid output;
- optimiser: the original builds two SGD optimisers (lr 0.05, momentum 0.9, weight decay 1e-4, cosine schedule),
  one per group, the shared tensors in both (`construct_optimizer_altertraining`); here the workflow's single
  Adam over all parameters, the frozen ones skipped;
- the video-level augmentations that synthesise fake clips (the paper's second contribution) are not part of
  the detector and are not implemented;
- random initialisation (without weights) uses zero-gamma residual branches and a zero head (SlowFast's
  ZERO_INIT_FINAL_BN; its head is N(0, 0.01)).
"""
from __future__ import annotations

import torch
from torch import nn

from pipeline.models.card import Detector, Weights
from pipeline.models.pretrained import PretrainedInfo
from pipeline.models.registry import ModelSpec, zero_output_layer, zero_residual_branches
from pipeline.models.resnet3d import ResNet3d50, load_inflated

DETECTOR = Detector(
    name="altfreezing",
    display="AltFreezing",
    family="3d-cnn",
    rank=6,
    input_size=224,
    norm="imagenet",  # AltFreezing's demo.py normalises with ImageNet's mean and std, as its ImageNet-born weights
    clip_len=16,
    params=27_225_921,
    params_source="PySlowFast I3D-R50 8x8 with 400 classes: 28.04 M (pytorchvideo model zoo; 28,043,472 by its "
                  "layers); one output: 27,225,921",
    # setting/i3d_ori.yaml: trainer.default batch_size 16 and init_lr 3e-4, SOLVER.WEIGHT_DECAY 1e-4 (its SGD lr 0.05
    # does not carry over to the workflow's Adam: the Adam-scale init_lr of the same file is used)
    hparams={"lr": 3.0e-4, "batch_size": 16, "weight_decay": 1.0e-4},
    # ImageNet ResNet-50 (torchvision's IMAGENET1K_V1 on the timm hub), inflated to 3D when it is loaded
    weights=(Weights(kind="hf", name="model.safetensors", origin="timm/resnet50.tv_in1k"),),
    head="fc",
    gradcam_layer="layer4",
    feature_layer="fc",
    options={"spatial_steps": 20, "temporal_steps": 20},  # setting/i3d_ori.yaml: SOLVER.ALTER_FREQ 20
)


class AltFreezing(ResNet3d50):
    """I3D-R50 with one output: (B, 3, T, H, W) -> (B,) logits; `before_step` alternates the frozen group."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(stages=4, spatial_kernel=3)
        self.spec = spec
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(self.out_channels, 1)
        zero_output_layer(self.fc)
        zero_residual_branches(self.residual_branch_ends())
        steps = {k: spec.options.get(k, DETECTOR.options[k]) for k in DETECTOR.options}
        for key, value in steps.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"altfreezing: option {key} must be a whole number of steps >= 0, got {value!r}")
        self.spatial_steps, self.temporal_steps = steps["spatial_steps"], steps["temporal_steps"]
        self.spatial, self.temporal = weight_groups(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.forward_features(x)).flatten(1)
        return self.fc(self.dropout(x)).squeeze(1)

    def phase(self, step: int) -> str:
        """"spatial" (spatial-related weights train, temporal-related frozen), "temporal" or "all" at `step`."""
        cycle = self.spatial_steps + self.temporal_steps
        if cycle == 0:
            return "all"
        return "spatial" if step % cycle < self.spatial_steps else "temporal"

    def before_step(self, step: int) -> None:
        """Freeze the group that does not train at `step` (0-based, counted over the whole run)."""
        phase = self.phase(step)
        for p in self.spatial:
            p.requires_grad_(phase != "temporal")
        for p in self.temporal:
            p.requires_grad_(phase != "spatial")


def weight_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(spatial-related, temporal-related) parameters, as AltFreezing's `temporal_spatial_sep` splits them: 1xkxk
    convolutions (k > 1) and kx1x1 convolutions (k > 1); all other parameters are in neither list (both groups)."""
    spatial, temporal = [], []
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            t, h, w = m.kernel_size
            group = spatial if t == 1 and h > 1 else temporal if t > 1 and h == 1 else None
            if group is not None:
                group.extend(p for p in m.parameters(recurse=False))
    return spatial, temporal


def build(spec: ModelSpec, *, pretrained: str | None = None) -> tuple[AltFreezing, PretrainedInfo]:
    """AltFreezing's I3D-R50, initialised from an inflated ImageNet ResNet-50."""
    model = AltFreezing(spec)
    return model, load_inflated(model, DETECTOR, pretrained)
