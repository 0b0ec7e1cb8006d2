"""FTCN + Temporal Transformer (Zheng et al., ICCV 2021): a fully temporal convolution network, then attention over time.

As yinglinzheng/FTCN builds it (`model/classifier/i3d_temporal_var_fix_dropout_tt_cfg.py`, `time_transformer.py`,
`setting/ftcn_tt.yaml`): PySlowFast's I3D ResNet-50 with every spatial kernel set to 1 (the stem's 5x7x7 becomes
5x1x1, every 1x3x3 becomes 1x1x1; each spatial stride becomes a 1x2x2 max pool after its BatchNorm) and stage 5
removed (`stop_point: 5`): `pipeline/models/resnet3d.py` with `spatial_kernel=1, stages=3`. Its 1024-channel map
(T/2 x 14 x 14 at 224 px) is averaged over space per timestep (`patch_type: time`), and the T/2 tokens of width
1024 (`transformer.dim: -1`, the channels) go, after a learned class token and position embedding (dropout
0.1), through one pre-norm transformer layer (`depth: 1`; 16 heads of 64, qkv without bias, MLP 2048 with GELU,
dropout 0.1); the class token's output goes through LayerNorm and a linear layer to one logit.

Differences from the original:
- clips: the released configuration samples 32 frames (`clip_size: 32`, 16 tokens after I3D's temporal pool);
  the protocol's 16 (8 tokens) are the default here. The position embedding has the original's 16 + 1 entries
  (more when a clip gives more than 16 tokens), sliced to the tokens present as the original slices it, so
  `hparams.ftcn.clip_len: 32` gives the original's model with the same parameter count;
- spatial pooling: adaptive mean over (H, W) instead of a fixed 14 x 14 window (the same at 224 px; also at
  demo sizes);
- initialisation: the paper trains from scratch and so does this detector: it publishes no weights. An ImageNet
  ResNet-50 collapsed to 1x1 spatial kernels keeps none of what ImageNet taught its 3x3 kernels, only a
  per-pixel colour transform. (A ResNet-50 state_dict given as `pretrained` still loads, inflated into the 3D
  backbone with each 3x3 kernel summed over space: see `resnet3d.inflate_state_dict`.)
  Random initialisation as SlowFast's (He-normal convolutions, zero-gamma residual branches), the class token
  and position embedding N(0, 1) as the original's `torch.randn`, and a zero output layer;
- one logit trained with BCE, as the original's one sigmoid output; the original's random-patch options
  (`random_select`) do not apply to `patch_type: time` and are left out.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.models.card import Detector
from pipeline.models.pretrained import PretrainedInfo
from pipeline.models.registry import ModelSpec, zero_output_layer, zero_residual_branches
from pipeline.models.resnet3d import ResNet3d50, load_inflated

DETECTOR = Detector(
    name="ftcn",
    display="FTCN",
    family="3d-cnn",
    rank=5,
    input_size=224,
    norm="imagenet",  # FTCN's test_on_raw_video.py normalises with ImageNet's mean and std
    clip_len=16,
    params=14_765_889,
    params_source="yinglinzheng/FTCN's FTCN+TT (setting/ftcn_tt.yaml), counted from its layers: backbone "
                  "6,347,584 (I3D-R50 to res4, 1x1 spatial kernels) + transformer and head 8,418,305 (width 1024, "
                  "16 + 1 position embeddings, one output) = 14,765,889; no published count",
    # setting/ftcn_tt.yaml: trainer.default batch_size 16 and init_lr 3e-4, SOLVER.WEIGHT_DECAY 1e-4 (the trainer
    # is not released; the file's SOLVER block names SGD at lr 0.1, which does not carry over to the workflow's Adam)
    hparams={"lr": 3.0e-4, "batch_size": 16, "weight_decay": 1.0e-4},
    weights=(),  # trained from scratch, as in the paper
    head="fc",
    gradcam_layer="backbone.layer3",
    feature_layer="fc",
)

TOKENS = 16  # the original's time_size: 32 frames after I3D's 2x temporal pool
DIM, HEADS, HEAD_DIM, MLP_DIM, DROPOUT = 1024, 16, 64, 2048, 0.1


class Attention(nn.Module):
    """Multi-head self-attention as FTCN's `time_transformer.Attention` (qkv without bias, output projection)."""

    def __init__(self, dim: int, heads: int, head_dim: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Linear(dim, 3 * heads * head_dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * head_dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.to_qkv(x).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # scale head_dim ** -0.5, as the original
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class TransformerLayer(nn.Module):
    """x + Attention(LayerNorm(x)), then x + MLP(LayerNorm(x)) (FTCN's `Residual(PreNorm(...))` pair)."""

    def __init__(self, dim: int, heads: int, head_dim: int, mlp_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, head_dim, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_dim, dim),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class FTCN(nn.Module):
    """FTCN + Temporal Transformer: (B, 3, T, H, W) -> (B,) logits."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.backbone = ResNet3d50(stages=3, spatial_kernel=1)
        zero_residual_branches(self.backbone.residual_branch_ends())
        tokens = max(TOKENS, spec.clip_len // 2)
        self.cls_token = nn.Parameter(torch.randn(1, 1, DIM))
        self.pos_embedding = nn.Parameter(torch.randn(1, tokens + 1, DIM))
        self.dropout = nn.Dropout(DROPOUT)
        self.transformer = nn.Sequential(TransformerLayer(DIM, HEADS, HEAD_DIM, MLP_DIM, DROPOUT))
        self.norm = nn.LayerNorm(DIM)
        self.fc = nn.Linear(DIM, 1)
        zero_output_layer(self.fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.backbone.forward_features(x).mean(dim=(3, 4)).transpose(1, 2)  # (B, T/2, 1024)
        n = x.shape[1]
        if n + 1 > self.pos_embedding.shape[1]:
            raise ValueError(f"ftcn: {n} timesteps exceed the {self.pos_embedding.shape[1] - 1} position embeddings "
                             f"it was built for (clip_len {self.spec.clip_len})")
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding[:, :n + 1]
        x = self.transformer(self.dropout(x))
        return self.fc(self.norm(x[:, 0])).squeeze(1)


def build(spec: ModelSpec, *, pretrained: str | None = None) -> tuple[FTCN, PretrainedInfo]:
    """FTCN, randomly initialised (no published weights); a given ResNet-50 file inflates into its backbone."""
    model = FTCN(spec)
    return model, load_inflated(model, DETECTOR, pretrained, published_into=model.backbone)
