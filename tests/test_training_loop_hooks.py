"""What the training loop (`fit`, run through the `train` command) does between epochs: with
`train.precise_bn_batches` > 0 the saved model's BatchNorm statistics are those of precise BN, re-estimated with
the epoch's final weights; without it they are the running averages of training."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import pipeline.models.registry
from pipeline.__main__ import main
from pipeline.checkpoint import load_checkpoint
from pipeline.models.card import IMAGENET_MEAN, IMAGENET_STD
from pipeline.models.pretrained import PretrainedInfo
from pipeline.models.registry import ModelSpec
from test_data import make_clip_dataset

torch.set_num_threads(1)

STEPS, PRECISE = 3, 2  # training batches per epoch; batches precise BN averages over


class TinyBNNet(nn.Module):
    """conv -> BatchNorm -> pooled logit; keeps a copy of the input of every gradient-taking (training) step."""

    def __init__(self):
        super().__init__()
        self.spec = ModelSpec(name="tiny", kind="image", input_size=32, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                              clip_len=16)
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 1)
        self.steps: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and torch.is_grad_enabled():
            self.steps.append(x.detach().float().cpu().clone())
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(2).mean(-1)).squeeze(1)


@pytest.fixture
def built(monkeypatch) -> list[TinyBNNet]:
    """The registry builds TinyBNNet; the list gets the instance each `train` run trains."""
    models: list[TinyBNNet] = []

    def build(name, **kwargs):
        models.append(TinyBNNet())
        return models[-1], PretrainedInfo(False, "test")
    monkeypatch.setattr(pipeline.models.registry, "build_model", build)
    return models


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> Path:
    return make_clip_dataset(tmp_path_factory.mktemp("clips"))


def train(manifests: Path, out: Path, precise_bn_batches: int) -> dict:
    """Two epochs of the `train` command in float32 (no bf16 autocast); the best model's checkpoint."""
    train = dict(seed=0, epochs=2, steps_per_epoch=STEPS, val_steps=2, early_stop_patience=8, scheduler="plateau",
                 scheduler_patience=5, milestones=[10], gamma=0.1, clip_len=16, image_size=None, num_workers=0,
                 threads=1, bf16=False, precise_bn_batches=precise_bn_batches)
    params = {"hparams": {"lr": 1e-2, "batch_size": 4, "weight_decay": 1e-5}, "train": train,
              "pretrained": "none", "preprocess": {"crop_size": 48}}
    assert main(["train", "--model", "tiny_image", "--dataset", "ffpp", "--condition", "all", "--manifests",
                 str(manifests), "--out", str(out), "--state", str(out / "state"), "--params",
                 json.dumps(params)]) == 0
    return load_checkpoint(out / "model.pt")


def precise_statistics(ckpt: dict, steps: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """BatchNorm's input mean and (unbiased) variance with the checkpoint's weights, averaged over the first
    PRECISE training batches of the checkpoint's epoch: the statistics precise BN defines."""
    assert len(steps) == 2 * STEPS  # two epochs of training steps
    first = steps[(ckpt["epoch"] - 1) * STEPS:][:PRECISE]
    conv = nn.Conv2d(3, 4, 3)
    conv.load_state_dict({k[len("conv."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("conv.")})
    with torch.no_grad():
        feats = [conv(x) for x in first]
    mean = torch.stack([f.mean((0, 2, 3)) for f in feats]).mean(0)
    var = torch.stack([f.var((0, 2, 3), unbiased=True) for f in feats]).mean(0)
    return mean, var


def test_saved_model_has_the_precise_bn_statistics_of_its_epoch(built, manifests, tmp_path):
    ckpt = train(manifests, tmp_path / "precise", PRECISE)
    mean, var = precise_statistics(ckpt, built[-1].steps)
    state = ckpt["state_dict"]
    # tolerances allow for TF32 convolutions where the run used CUDA; the control below misses by far more
    torch.testing.assert_close(state["bn.running_mean"], mean, rtol=2e-3, atol=1e-4)
    torch.testing.assert_close(state["bn.running_var"], var, rtol=2e-3, atol=1e-4)
    assert int(state["bn.num_batches_tracked"]) == PRECISE  # reset, then one count per re-estimation batch


def test_without_precise_bn_the_statistics_are_the_training_running_averages(built, manifests, tmp_path):
    """The control: the same run without precise BN saves other statistics (momentum averages over all the steps
    so far, lagging the weights), so the check above tells the two apart."""
    ckpt = train(manifests, tmp_path / "plain", 0)
    mean, var = precise_statistics(ckpt, built[-1].steps)
    state = ckpt["state_dict"]
    assert int(state["bn.num_batches_tracked"]) == ckpt["epoch"] * STEPS
    miss = max((state["bn.running_mean"] - mean).abs().max(), (state["bn.running_var"] - var).abs().max())
    assert miss > 0.05, float(miss)
