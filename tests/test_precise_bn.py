"""Precise BN (train.precise_bn_batches): BatchNorm statistics re-estimated from training batches."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from pipeline.runtime import Placement
from pipeline.train.loop import Runtime, precise_bn


def batches(n: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [((torch.rand(4, 3, 8, 8, generator=g) * 255).to(torch.uint8), torch.zeros(4)) for _ in range(n)]


# bf16 autocast rounds the convolution's output to ~3 significant digits before BatchNorm sees it (measured: a
# running mean 3e-4 off float32's); float32 agrees to rounding
TOLERANCE = {False: dict(rtol=1.3e-6, atol=1e-5), True: dict(rtol=2e-2, atol=2e-3)}


@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bf16"])
def test_statistics_are_the_average_over_the_first_batches_and_momentum_is_restored(bf16):
    model = nn.Sequential(nn.Conv2d(3, 5, 3), nn.BatchNorm2d(5, momentum=0.01), nn.ReLU())
    rt = Runtime(Placement(torch.device("cpu"), bf16=bf16), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    data = batches(5)
    precise_bn(model, data, rt, batches=3)
    bn = model[1]
    with torch.no_grad():
        feats = [model[0](rt.prepare(x, y)[0]) for x, y in data[:3]]
    expected_mean = torch.stack([f.mean((0, 2, 3)) for f in feats]).mean(0)
    expected_var = torch.stack([f.var((0, 2, 3), unbiased=True) for f in feats]).mean(0)
    torch.testing.assert_close(bn.running_mean, expected_mean, **TOLERANCE[bf16])
    torch.testing.assert_close(bn.running_var, expected_var, **TOLERANCE[bf16])
    assert bn.momentum == 0.01 and int(bn.num_batches_tracked) == 3


def test_frozen_batchnorm_keeps_its_statistics():
    class Frozen(nn.Sequential):
        def train(self, mode: bool = True):
            super().train(mode)
            self[1].eval()
            return self

    model = Frozen(nn.Conv2d(3, 5, 3), nn.BatchNorm2d(5), nn.ReLU())
    model[1].running_mean.fill_(0.3)
    rt = Runtime(Placement(torch.device("cpu")), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    precise_bn(model, batches(2), rt, batches=2)
    assert torch.all(model[1].running_mean == 0.3)
