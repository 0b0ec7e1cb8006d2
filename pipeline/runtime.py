"""Where and how a model runs: device, memory format and bf16 autocast, for training and inference alike.

`Placement` is the one place that moves weights and batches to the device, lays them out channels-last
for 2D-convolution detectors and decides autocast. Training, evaluation, `predict`, the figures and the
benchmarks all go through it, so a model computes the same way wherever it runs.

bf16 is one setting (`train.bf16`, recorded in every checkpoint and followed by inference): "auto"
autocasts where the hardware computes bf16 natively (CUDA, or a CPU with AMX or AVX-512 BF16; on an
AVX2-only CPU emulated bf16 is far slower than float32), true always, false never. The environment
variable STDD_BF16 (auto, true or false) overrides it for every command, e.g. to run the test suite
through both arithmetic paths on one machine.
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

BF16_ENV = "STDD_BF16"
BF16_CHOICES = ("auto", "true", "false")


def bf16_setting(value: Any) -> str:
    """A config or environment value as one of BF16_CHOICES (None is "auto": configs written before it)."""
    text = "auto" if value is None else str(value).strip().lower()
    if text not in BF16_CHOICES:
        raise ValueError(f"bf16 must be one of {', '.join(BF16_CHOICES)}, got {value!r}")
    return text


def cpu_bf16() -> str:
    """The CPU's native bf16 support: "AMX", "AVX-512 BF16" or "none"."""
    if torch.cpu._is_amx_tile_supported():
        return "AMX"
    return "AVX-512 BF16" if torch.cpu._is_avx512_bf16_supported() else "none"


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes in bf16 natively: CUDA, or a CPU with AMX tiles or AVX-512 BF16."""
    return device.type == "cuda" or (device.type == "cpu" and cpu_bf16() != "none")


def use_bf16(setting: Any, device: torch.device) -> bool:
    """Whether to autocast to bf16 on `device`: the setting, unless $STDD_BF16 overrides it."""
    choice = bf16_setting(os.environ.get(BF16_ENV) or setting)
    return native_bf16(device) if choice == "auto" else choice == "true"


def select_device(threads: int | None = None) -> torch.device:
    """CUDA when available, else the CPU (limited to `threads` threads when given)."""
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick the fastest kernels
        return torch.device("cuda")
    if threads:
        torch.set_num_threads(threads)
    return torch.device("cpu")


def processor_name(device: torch.device) -> str:
    """The GPU's or the CPU's model name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@dataclass(frozen=True)
class Placement:
    """A detector's device, memory format and autocast; `channels_last` for 2D-convolution detectors."""

    device: torch.device
    channels_last: bool = False
    bf16: bool = False

    @classmethod
    def for_model(cls, spec: Any, bf16: Any = "auto", device: torch.device | None = None) -> Placement:
        """The placement of a detector with `spec` under the bf16 setting `bf16`."""
        device = device or select_device()
        return cls(device, bool(getattr(spec, "channels_last", False)), use_bf16(bf16, device))

    def model(self, model: nn.Module) -> nn.Module:
        """Move a model's weights to the device, channels-last where the detector wants it."""
        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Move a batch to the device: frames (4D) channels-last, clips (5D) channels-last in 3D (a clip's
        frames are then channels-last when a sequence model folds time into the batch)."""
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        if self.channels_last and x.dim() == 5:
            return x.contiguous(memory_format=torch.channels_last_3d)
        return x

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    @property
    def arithmetic(self) -> str:
        return "bf16" if self.bf16 else "float32"

    def record(self) -> dict[str, Any]:
        """How the run computed, for meta.json and checkpoints."""
        import timm
        import torchvision

        return {"device": str(self.device), "processor": processor_name(self.device),
                "cpu_bf16": cpu_bf16(), "autocast": self.arithmetic, "channels_last": self.channels_last,
                "threads": torch.get_num_threads(), "torch": str(torch.__version__),
                "torchvision": str(torchvision.__version__), "timm": str(timm.__version__)}
