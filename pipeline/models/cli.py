"""`python -m pipeline models`: the detectors, their parameter counts and input shapes.

Builds every detector with random weights and checks its parameter count against its card's reference
count (Table A.5 for the paper's six); the exit status is 1 when one differs.
"""
from __future__ import annotations

import argparse
import sys

from pipeline.models.pretrained import NO_WEIGHTS
from pipeline.models.registry import build_model, cards

HEADER = ("model", "family", "parameters", "reference", "trainable", "input", "matches")
NUMERIC = {2, 3, 4}  # right-aligned columns


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="MODEL", help="detectors to list (default: all)")
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                        help="also list the detectors of this plugin (a .py file or a module name; repeatable)")


def run(args: argparse.Namespace) -> int:
    known = cards(args.plugin)
    unknown = sorted(set(args.names) - set(known))
    if unknown:
        print(f"pipeline models: error: unknown model(s) {', '.join(unknown)}; known: {', '.join(known)}",
              file=sys.stderr)
        return 2
    rows, all_match = [], True
    for name in args.names or known:
        card = known[name]
        model, _ = build_model(name, pretrained=NO_WEIGHTS, plugins=args.plugin)
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        all_match &= total == card.params
        rows.append((name, card.family, f"{total:,}", f"{card.params:,}", f"{trainable:,}",
                     "x".join(map(str, model.spec.input_shape())), "yes" if total == card.params else "NO"))
    widths = [max(len(row[i]) for row in (HEADER, *rows)) for i in range(len(HEADER))]
    for row in (HEADER, *rows):
        print("  ".join(cell.rjust(w) if i in NUMERIC else cell.ljust(w)
                        for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
    return 0 if all_match else 1
