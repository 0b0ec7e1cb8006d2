"""`python -m pipeline COMMAND ...`: one subcommand per workflow stage.

Each command lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`;
modules are imported only when their command runs, so `--help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("pipeline.demo.cli", "generate the synthetic demo datasets"),
    "sample": ("pipeline.preprocess.sample", "pick frames at N fps by timestamp for one shard"),
    "detect": ("pipeline.preprocess.detect", "detect faces and landmarks on the sampled frames of one shard"),
    "crop": ("pipeline.preprocess.crop", "filter boxes and write 40%-margin face crops to an HDF5 clip store"),
    "report": ("pipeline.preprocess.report", "merge per-shard problem lists into a dataset report"),
    "manifests": ("pipeline.manifests", "write per-split manifests for every condition of a dataset"),
    "models": ("pipeline.models.cli", "list the registered models with parameter counts"),
    "train": ("pipeline.train.cli", "train one model on one dataset and condition"),
    "evaluate": ("pipeline.evaluate.cli", "predict a test set with a trained model and compute metrics"),
    "perturb": ("pipeline.evaluate.perturb", "temporal perturbation experiment (Table 4)"),
    "tsne": ("pipeline.figures.tsne", "t-SNE of pre-classifier features (Figure 4)"),
    "gradcam": ("pipeline.figures.gradcam", "Grad-CAM of a 3D model on altered sequences (Figure 5)"),
    "collect": ("pipeline.evaluate.collect", "concatenate metric files into one tidy table"),
    "tables": ("pipeline.tables.cli", "assemble the paper's tables from a tidy metrics table"),
    "predict": ("pipeline.predict", "score new videos with a trained checkpoint"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        build_parser().parse_args(argv or ["--help"])
        return 2
    name, rest = argv[0], argv[1:]
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"python -m pipeline {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(rest)) or 0)


if __name__ == "__main__":
    sys.exit(main())
