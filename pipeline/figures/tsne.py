"""`tsne`: t-SNE of the pre-classifier features of FF++ test videos, one panel per model (Figure 4, §4.3).

Features come from the first 16 frames of each video: image models average their per-frame
descriptors, video models describe the 16-frame clip with one vector. Points are coloured by the
real class and each fake method; the 2-D coordinates are written next to the figure as CSV.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402

from pipeline.evaluate.cliutils import parse_params, write_csv  # noqa: E402
from pipeline.gpu import add_gpu_argument, claim_device  # noqa: E402
from pipeline.io import atomic_path  # noqa: E402
from pipeline.tables.names import METHODS, model_name  # noqa: E402

CLASS_COLORS = {"real": "#1f77b4", "Deepfakes": "#d62728", "Face2Face": "#2ca02c", "FaceSwap": "#ff7f0e",
                "NeuralTextures": "#9467bd", "FaceShifter": "#8c564b"}


@dataclass(frozen=True)
class TsneParams:
    """`tsne --params`: t-SNE perplexity (clipped below the sample count), iterations, seed; clip length."""

    perplexity: float = 40.0
    iterations: int = 2500
    seed: int = 0
    frames: int = 16
    batch_size: int = 8


def embed(features: np.ndarray, params: TsneParams) -> np.ndarray:
    """2-D t-SNE embedding of (N, D) features; the perplexity is clipped so that tiny sets still work."""
    if len(features) < 2:
        raise ValueError("t-SNE needs at least two videos")
    perplexity = min(params.perplexity, max(1.0, (len(features) - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=perplexity, max_iter=max(250, params.iterations),
                init="pca", random_state=params.seed)
    return tsne.fit_transform(features.astype(np.float64))


def plot_panels(coords: pd.DataFrame, out: str | Path) -> None:
    """One scatter panel per model (column `model`), points coloured by `method`."""
    models = list(dict.fromkeys(coords["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4 * len(models), 4.4), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        rows = coords[coords["model"] == model]
        classes = [c for c in CLASS_COLORS if c in set(rows["method"])]
        classes += sorted(set(rows["method"]) - set(classes))
        for cls in classes:
            pts = rows[rows["method"] == cls]
            ax.scatter(pts["x"], pts["y"], s=8, alpha=0.8, color=CLASS_COLORS.get(cls),
                       label=METHODS.get(cls, cls))
        ax.set_title(model_name(model))
        ax.set_xticks([])
        ax.set_yticks([])
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=150, format="png")
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, nargs="+", help="one checkpoint per panel")
    parser.add_argument("--manifest", required=True, help="FF++ test manifest")
    parser.add_argument("--out", required=True, help="PNG; the coordinates go to the same name with .csv")
    parser.add_argument("--params", default="{}", help=f"JSON, keys of {asdict(TsneParams())}")
    add_gpu_argument(parser)


def run(args: argparse.Namespace) -> int:
    from pipeline.evaluate.inference import clip_features, load_model

    params = parse_params(TsneParams, args.params)
    claim_device(args)
    manifest = pd.read_csv(args.manifest)
    panels = []
    for path in args.checkpoint:
        model, ckpt = load_model(path)
        xy = embed(clip_features(model, manifest, params.frames, params.batch_size), params)
        panels.append(pd.DataFrame({"model": ckpt["model"], "video_id": manifest["video_id"],
                                    "label": manifest["label"], "method": manifest["method"],
                                    "x": xy[:, 0], "y": xy[:, 1]}))
    coords = pd.concat(panels, ignore_index=True)
    plot_panels(coords, args.out)
    write_csv(coords, Path(args.out).with_suffix(".csv"))
    print(f"t-SNE of {len(manifest)} videos x {len(panels)} models -> {args.out}")
    return 0
