"""`python -m pipeline demo --out DIR --params JSON`: write the synthetic demo datasets."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from pipeline.demo.config import DemoConfig
from pipeline.demo.generate import generate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder that receives the four datasets")
    parser.add_argument("--params", default="{}", help="JSON of the config's demo section (unknown keys ignored)")
    parser.add_argument("--workers", type=int, default=min(2, len(os.sched_getaffinity(0))),
                        help="processes rendering videos (the output does not depend on it)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    generate(args.out, DemoConfig.from_params(json.loads(args.params)), workers=args.workers)
    return 0
