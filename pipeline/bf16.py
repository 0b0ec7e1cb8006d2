"""Where bf16 autocast pays: shared by training and inference so that both run a model the same way."""
from __future__ import annotations

import torch


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes in bf16 natively: CUDA, or a CPU with AMX tiles or AVX-512 BF16.

    On an AVX2-only CPU, bf16 is emulated and ~10x slower than float32, so autocast stays off there.
    """
    if device.type == "cuda":
        return True
    return device.type == "cpu" and (torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
