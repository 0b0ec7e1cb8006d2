"""`python -m pipeline models`: the registered detectors, their parameter counts and input shapes.

Builds every model with random weights and checks its parameter count against the paper's Table A.5
(to the paper's 3 decimals, in millions); the exit status is 1 when one differs.
"""
from __future__ import annotations

import argparse
import sys

from pipeline.models.pretrained import NO_WEIGHTS
from pipeline.models.registry import build_model, list_models

HEADER = ("model", "kind", "parameters", "(M)", "paper (M)", "trainable", "input", "matches")
NUMERIC = {2, 3, 4, 5}  # right-aligned columns


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="MODEL", help=f"models to list (default: all of "
                        f"{', '.join(list_models())})")


def run(args: argparse.Namespace) -> int:
    unknown = sorted(set(args.names) - set(list_models()))
    if unknown:
        print(f"pipeline models: error: unknown model(s) {', '.join(unknown)}; known: {', '.join(list_models())}",
              file=sys.stderr)
        return 2
    rows, all_match = [], True
    for name in args.names or list_models():
        model, _ = build_model(name, pretrained=NO_WEIGHTS)
        spec = model.spec
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        matches = round(total / 1e6, 3) == spec.paper_params
        all_match &= matches
        rows.append((name, spec.kind, f"{total:,}", f"{total / 1e6:.3f}", f"{spec.paper_params:.3f}",
                     f"{trainable:,}", "x".join(map(str, spec.input_shape())), "yes" if matches else "NO"))
    widths = [max(len(row[i]) for row in (HEADER, *rows)) for i in range(len(HEADER))]
    for row in (HEADER, *rows):
        print("  ".join(cell.rjust(w) if i in NUMERIC else cell.ljust(w)
                        for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
    return 0 if all_match else 1
