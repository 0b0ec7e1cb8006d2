"""The loss-curve figure of a training run."""
from __future__ import annotations

import os
from collections.abc import Sequence

from pipeline.io import atomic_path


def plot_losses(rows: Sequence[dict], path: str | os.PathLike, title: str = "") -> None:
    """Train and validation loss per epoch (from metrics rows) as a PNG, the best epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(epochs, [r["train_loss"] for r in rows], marker="o", label="train")
    ax.plot(epochs, [r["val_loss"] for r in rows], marker="o", label="validation")
    finite = [r for r in rows if r["val_loss"] == r["val_loss"]]  # NaN != NaN
    if finite:
        best = min(finite, key=lambda r: r["val_loss"])
        ax.axvline(best["epoch"], color="grey", linestyle=":", label=f"best (epoch {best['epoch']})")
    ax.set(xlabel="epoch", ylabel="BCE loss", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
