"""The training loop: balanced epochs, fixed validation, LR schedule, early stopping and resume.

After every epoch the full run state (model, optimiser, scheduler, best-so-far, metrics) is written
atomically to `state_dir/last.pt`, and the best model to `state_dir/best.pt`. Batches, windows,
augmentations and dropout are all seeded from (seed, epoch), so a run resumed after epoch k repeats
exactly what an uninterrupted run would have done from epoch k + 1.
"""
from __future__ import annotations

import logging
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from pipeline.checkpoint import save_atomic, save_checkpoint
from pipeline.data.augment import ClipAugment
from pipeline.data.dataset import BadSampleTally, CheckedLoader, ClipDataset
from pipeline.data.manifest import ManifestRow
from pipeline.data.sampler import BalancedBatchSampler
from pipeline.data.transforms import normalize_batch
from pipeline.runtime import Placement
from pipeline.train.config import TrainConfig

log = logging.getLogger("pipeline.train")

STATE_FORMAT = "stdd-train-state"
METRIC_COLUMNS = ("epoch", "train_loss", "val_loss", "val_acc", "lr", "seconds")


@dataclass(frozen=True)
class Runtime:
    """A detector's placement (device, memory format, autocast) and its input normalisation."""

    placement: Placement
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def prepare(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A uint8 batch from the loader -> normalised float input and float targets on the device."""
        device = self.placement.device
        x = self.placement.inputs(normalize_batch(x.to(device, non_blocking=True), self.mean, self.std))
        return x, y.to(device, non_blocking=True)

    def autocast(self) -> torch.autocast:
        return self.placement.autocast()


@dataclass
class RunState:
    """Everything needed to continue a run after `epoch` (1-based; 0 = nothing done yet)."""

    fingerprint: str
    epoch: int = 0
    best_epoch: int = 0
    best_val_loss: float = math.inf
    diverged: bool = False
    metrics: list[dict] = field(default_factory=list)
    bad: dict = field(default_factory=dict)  # BadSampleTally.counts() so far

    def stop_reason(self, cfg: TrainConfig) -> str:
        """Why the run must not train another epoch ("" if it may)."""
        if self.diverged:
            return "diverged"
        if self.best_epoch and self.epoch - self.best_epoch >= cfg.early_stop_patience:
            return "early_stopping"
        if self.epoch >= cfg.epochs:
            return "max_epochs"
        return ""


@dataclass(frozen=True)
class FitResult:
    best_epoch: int
    best_val_loss: float
    stopped_because: str
    metrics: list[dict]
    best_checkpoint: Path
    bad: dict = field(default_factory=dict)  # samples drawn and those with replaced frames or videos


def seed_everything(seed: int, epoch: int) -> None:
    """Seed python, numpy and torch from (seed, epoch): an epoch's dropout does not depend on earlier epochs."""
    derived = int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
    random.seed(derived)
    np.random.seed(derived)
    torch.manual_seed(derived)


def build_loader(rows: list[ManifestRow], cfg: TrainConfig, *, size: int, clip_len: int, steps: int,
                 augment: bool, device: torch.device) -> CheckedLoader:
    """`steps` balanced batches per epoch over `rows` (augmented for training); samples with replaced frames
    or videos are counted against `cfg.max_bad_fraction` in this process (`CheckedLoader`)."""
    dataset = ClipDataset(rows, clip_len=clip_len, size=size, augment=ClipAugment(size) if augment else None,
                          flags=True)
    sampler = BalancedBatchSampler(dataset.labels, dataset.groups, cfg.batch_size, steps, cfg.seed)
    if cfg.num_workers > 0:
        # One decode thread per worker (the workers are the parallelism), set before they fork: a forked
        # child that resizes OpenCV's thread pool waits forever on the parent's pool threads, which it lacks.
        cv2.setNumThreads(1)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.num_workers,
                        persistent_workers=cfg.num_workers > 0, pin_memory=device.type == "cuda")
    return CheckedLoader(loader, BadSampleTally(cfg.max_bad_fraction))


def _progress(loader: DataLoader, desc: str) -> tqdm:
    interactive = sys.stderr.isatty()
    return tqdm(loader, desc=desc, leave=False, dynamic_ncols=True, mininterval=1.0 if interactive else 60.0)


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
               rt: Runtime) -> float:
    """One optimisation step on a prepared batch; the loss, or NaN (and no update) when it is not finite."""
    with rt.autocast():
        logits = model(x)
    loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), y)
    if not torch.isfinite(loss):
        return math.nan
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def train_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, rt: Runtime,
                desc: str, first_step: int = 0) -> float:
    """One pass over the loader's batches; the mean loss, or NaN as soon as a loss is not finite.

    A detector that defines `before_step(step)` (e.g. one that alternates which weights train) is called
    before each of its steps, counted over the whole run from `first_step`.
    """
    model.train()
    before_step = getattr(model, "before_step", None)
    total, n = 0.0, 0
    with _progress(loader, desc) as bar:
        for i, (x, y) in enumerate(bar):
            if before_step is not None:
                before_step(first_step + i)
            loss = train_step(model, *rt.prepare(x, y), optimizer, rt)
            if not math.isfinite(loss):
                return math.nan
            total, n = total + loss * len(y), n + len(y)
            bar.set_postfix(loss=f"{total / n:.4f}", refresh=False)
    return total / n


@torch.no_grad()
def precise_bn(model: nn.Module, loader: DataLoader, rt: Runtime, batches: int) -> None:
    """Replace the running BatchNorm statistics by their average over the first `batches` training batches.

    Running averages lag the weights by ~1/momentum steps (10 for momentum 0.1; 100 for I3D's TF-style 0.01),
    so a run of a few dozen steps evaluates with statistics of an older network, and the predictions of the
    eval-mode model collapse towards a constant. Re-estimating them with the current weights ("precise BN",
    Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm") fixes that; long runs are unaffected. Frozen
    BatchNorm layers (eval mode under `model.train()`) keep their statistics.
    """
    model.train()
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    momenta = [m.momentum for m in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over the batches below
    for i, (x, y) in enumerate(loader):
        if i == batches:
            break
        x, _ = rt.prepare(x, y)
        with rt.autocast():
            model(x)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum


@torch.no_grad()
def validate(model: nn.Module, loader: DataLoader, rt: Runtime) -> tuple[float, float]:
    """Mean BCE loss and accuracy (threshold 0.5) over the fixed validation batches."""
    model.eval()
    loss, correct, n = 0.0, 0, 0
    for x, y in loader:
        x, y = rt.prepare(x, y)
        with rt.autocast():
            logits = model(x).float()
        loss += nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="sum").item()
        correct += int(((logits > 0).float() == y).sum())
        n += len(y)
    return loss / n, correct / n


def build_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Adam:
    """Adam (Appendix A.4), in PyTorch's fused implementation: one kernel for all parameters instead of a
    loop of small ones, the same update, faster steps (docs/benchmarks.md)."""
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=cfg.gamma,
                                                          patience=cfg.scheduler_patience)
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.milestones), gamma=cfg.gamma)


def load_state(last: Path, best: Path, fingerprint: str) -> dict | None:
    """The run state saved at `last` if it belongs to this run (same fingerprint, best model present)."""
    if not last.exists():
        return None
    try:
        saved = torch.load(last, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - damaged state (a bad byte) costs the epochs done, not the run
        log.warning("%s is unreadable (%s); starting afresh", last, " ".join(str(exc).split())[:200])
        return None
    if saved.get("format") != STATE_FORMAT or saved.get("fingerprint") != fingerprint:
        log.info("%s belongs to another configuration; starting afresh", last)
        return None
    best_epoch = saved["run"]["best_epoch"]
    # A kill between writing best.pt and last.pt leaves a best model the state does not describe.
    if best_epoch and (not best.exists() or torch.load(best, mmap=True, weights_only=True)["epoch"] != best_epoch):
        log.info("%s is missing or not from epoch %d; starting afresh", best, best_epoch)
        return None
    return saved


def save_state(path: Path, state: RunState, model: nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler) -> None:
    payload = {"format": STATE_FORMAT, "fingerprint": state.fingerprint, "model": model.state_dict(),
               "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "run": vars(state)}
    save_atomic(payload, path)


def fit(model: nn.Module, cfg: TrainConfig, *, train_loader: CheckedLoader, val_loader: CheckedLoader, rt: Runtime,
        state_dir: Path, fingerprint: str, checkpoint_meta: dict) -> FitResult:
    """Train until `cfg.epochs`, early stopping or divergence, resuming from `state_dir` when it matches.

    `checkpoint_meta` (model, config, preprocess, pretrained, pretrained_source, spec) goes into the
    best-model checkpoint `state_dir/best.pt` together with its epoch and validation loss.
    """
    rt.placement.model(model)
    optimizer = build_optimizer(model, cfg.lr, cfg.weight_decay)
    scheduler = build_scheduler(optimizer, cfg)
    last, best = state_dir / "last.pt", state_dir / "best.pt"
    state = RunState(fingerprint)
    saved = load_state(last, best, fingerprint)
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = RunState(**saved["run"])
    tally = val_loader.tally = train_loader.tally  # one budget of bad samples for every sample the run draws
    tally.restore(state.bad)
    if state.epoch:
        log.info("resuming after epoch %d (best epoch %d, val loss %.4f)", state.epoch, state.best_epoch,
                 state.best_val_loss)
    sampler: BalancedBatchSampler = train_loader.batch_sampler
    while not state.stop_reason(cfg):
        epoch = state.epoch + 1
        seed_everything(cfg.seed, epoch)
        sampler.set_epoch(epoch - 1)
        lr = optimizer.param_groups[0]["lr"]
        start = time.perf_counter()
        train_loss = train_epoch(model, train_loader, optimizer, rt, desc=f"epoch {epoch}/{cfg.epochs}",
                                 first_step=(epoch - 1) * cfg.steps_per_epoch)
        if cfg.precise_bn_batches and math.isfinite(train_loss):
            precise_bn(model, train_loader, rt, cfg.precise_bn_batches)
        val_loss, val_acc = validate(model, val_loader, rt) if math.isfinite(train_loss) else (math.nan, math.nan)
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc, "lr": lr,
               "seconds": round(time.perf_counter() - start, 3)}
        state.epoch, state.diverged = epoch, not math.isfinite(val_loss)
        state.metrics.append(row)
        state.bad = tally.counts()
        improved = val_loss < state.best_val_loss
        if improved:
            state.best_epoch, state.best_val_loss = epoch, val_loss
            save_checkpoint(best, state_dict=model.state_dict(), epoch=epoch, val_loss=val_loss, **checkpoint_meta)
        if not state.diverged:
            if cfg.scheduler == "plateau":
                scheduler.step(val_loss)
            else:
                scheduler.step()
        if cfg.keep_state or not state.stop_reason(cfg):  # a finished run that frees its state needs none
            save_state(last, state, model, optimizer, scheduler)
        log.info("epoch %d/%d  train_loss %.4f  val_loss %.4f  val_acc %.3f  lr %.2e  %.1fs%s", epoch, cfg.epochs,
                 train_loss, val_loss, val_acc, lr, row["seconds"], "  *best*" if improved else "")
    reason = state.stop_reason(cfg)
    log.info("stopped after epoch %d: %s; best epoch %d, val loss %.4f", state.epoch, reason, state.best_epoch,
             state.best_val_loss)
    return FitResult(state.best_epoch, state.best_val_loss, reason, state.metrics, best, tally.counts())
