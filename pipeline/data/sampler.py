"""Balanced batches (paper §4.1 "Training"): half real, half fake, fakes spread over methods or folders.

Real videos are drawn from a shuffled cycle (every real video once before any repeats). Fake videos
are drawn round-robin over the groups, the group order reshuffled every round, and each group's
videos from their own shuffled cycle: for FF++ the groups are the fake methods (no method dominates
a batch), for DFDC the part folders (identities vary). Odd batch sizes alternate the extra sample
between real and fake.

Every draw is a pure function of (seed, stream, position), so batch b is computed directly without
replaying batches 0..b-1: an epoch, and therefore a resumed run, sees exactly the batches an
uninterrupted run would. Each sample also carries its own seed, which fixes its window or frame and
its augmentation independently of DataLoader workers.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

# Independent random streams derived from the one seed.
_REAL, _GROUP_ORDER, _GROUP, _SAMPLE = 0, 1, 2, 3

SampleKey = tuple[int, int]  # (index into the dataset's rows, sample seed)


class ShuffledCycle:
    """An endless stream over `items`: a fresh permutation for each pass, addressable by position."""

    def __init__(self, items: Sequence[int], seed: int, stream: tuple[int, ...]):
        self.items = np.asarray(items, dtype=np.int64)
        self.seed, self.stream = seed, stream
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, k: int) -> np.ndarray:
        if k not in self._perms:
            if len(self._perms) > 8:  # positions only move forward; keep the few passes in use
                self._perms.clear()
            rng = np.random.default_rng([self.seed, *self.stream, k])
            self._perms[k] = self.items[rng.permutation(len(self.items))]
        return self._perms[k]

    def at(self, position: int) -> int:
        """The item at `position` of the stream."""
        k, i = divmod(position, len(self.items))
        return int(self._perm(k)[i])


class BalancedBatchSampler(Sampler[list[SampleKey]]):
    """Yields `steps` batches of (row index, sample seed); `set_epoch(e)` moves to batches e*steps ...

    `labels[i]` is 1 for fake; `groups[i]` is the fake video's group (ignored for real videos).
    """

    def __init__(self, labels: Sequence[int], groups: Sequence[str], batch_size: int, steps: int, seed: int):
        if batch_size < 2:
            raise ValueError("balanced batches need batch_size >= 2")
        real = [i for i, y in enumerate(labels) if y == 0]
        fake = [i for i, y in enumerate(labels) if y == 1]
        if not real or not fake:
            raise ValueError("balanced batches need both real and fake videos")
        self.group_names = sorted({groups[i] for i in fake})
        self.batch_size, self.steps, self.seed = batch_size, steps, seed
        self.epoch = 0
        self._real = ShuffledCycle(real, seed, (_REAL,))
        self._groups = [ShuffledCycle([i for i in fake if groups[i] == g], seed, (_GROUP, n))
                        for n, g in enumerate(self.group_names)]
        self._order = ShuffledCycle(range(len(self._groups)), seed, (_GROUP_ORDER,))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[list[SampleKey]]:
        for step in range(self.steps):
            yield self.batch(self.epoch * self.steps + step)

    def n_real(self, batch: int) -> int:
        """Real samples in batch number `batch`: half, the odd one out going to real on odd batches."""
        return self.batch_size // 2 + (self.batch_size % 2) * (batch % 2)

    def batch(self, batch: int) -> list[SampleKey]:
        """Batch number `batch` of the endless stream: real samples first, then fake ones."""
        half, odd = divmod(self.batch_size, 2)
        real_before = batch * half + odd * (batch // 2)
        fake_before = batch * self.batch_size - real_before
        n_real = self.n_real(batch)
        rows = [self._real.at(real_before + j) for j in range(n_real)]
        rows += [self._fake_at(fake_before + j) for j in range(self.batch_size - n_real)]
        seeds = np.random.default_rng([self.seed, _SAMPLE, batch]).integers(0, 2**63 - 1, size=len(rows))
        return list(zip(rows, seeds.tolist()))

    def _fake_at(self, position: int) -> int:
        # Round r holds one draw from every group, groups in the order of pass r of `_order`, so a
        # group's r-th draw is its cycle's position r.
        n_groups = len(self._groups)
        rnd, slot = divmod(position, n_groups)
        return self._groups[self._order.at(rnd * n_groups + slot)].at(rnd)
