"""Precise BN (train.precise_bn_batches): BatchNorm statistics re-estimated from training batches."""
from __future__ import annotations

import torch
from torch import nn

from pipeline.train.loop import Runtime, precise_bn


def batches(n: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [((torch.rand(4, 3, 8, 8, generator=g) * 255).to(torch.uint8), torch.zeros(4)) for _ in range(n)]


def test_statistics_are_the_average_over_the_first_batches_and_momentum_is_restored():
    model = nn.Sequential(nn.Conv2d(3, 5, 3), nn.BatchNorm2d(5, momentum=0.01), nn.ReLU())
    rt = Runtime(torch.device("cpu"), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    data = batches(5)
    precise_bn(model, data, rt, batches=3)
    bn = model[1]
    with torch.no_grad():
        feats = [model[0](rt.prepare(x, y)[0]) for x, y in data[:3]]
    expected_mean = torch.stack([f.mean((0, 2, 3)) for f in feats]).mean(0)
    expected_var = torch.stack([f.var((0, 2, 3), unbiased=True) for f in feats]).mean(0)
    torch.testing.assert_close(bn.running_mean, expected_mean)
    torch.testing.assert_close(bn.running_var, expected_var)
    assert bn.momentum == 0.01 and int(bn.num_batches_tracked) == 3


def test_frozen_batchnorm_keeps_its_statistics():
    class Frozen(nn.Sequential):
        def train(self, mode: bool = True):
            super().train(mode)
            self[1].eval()
            return self

    model = Frozen(nn.Conv2d(3, 5, 3), nn.BatchNorm2d(5), nn.ReLU())
    model[1].running_mean.fill_(0.3)
    rt = Runtime(torch.device("cpu"), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    precise_bn(model, batches(2), rt, batches=2)
    assert torch.all(model[1].running_mean == 0.3)
