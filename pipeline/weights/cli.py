"""`python -m pipeline weights ACTION [MODEL ...]`: the models' pretrained weights.

    list                 a table: per model and file its source, where it looks, present, verified
    fetch [MODEL ...]    download what is missing (all models by default), verify, record in the lock
    check MODEL ...      (or verify) exit 0 when every model's weights are present and verified, else
                         one line per model saying what to do, exit 1; `--out FILE` writes the ok line
                         there on success (the workflow's stamp, which every training job waits for)

The lock (`--lock`, default results/weights.lock.json) records the SHA-256 of every fetched file; a
file that changed since is refused by `fetch` and `check`.
"""
from __future__ import annotations

import argparse
import json
import sys

from pipeline.io import atomic_path
from pipeline.weights.check import check_weights
from pipeline.weights.fetch import DEFAULT_TIMEOUT, fetch_model
from pipeline.weights.lock import DEFAULT_LOCK, WeightsLock
from pipeline.weights.registry import WeightFile, WeightsError, model_weights, needed
from pipeline.weights.verify import assess

PROG = "pipeline weights"
ACTIONS = ("list", "fetch", "check", "verify")
EXIT_FAILED, EXIT_USAGE = 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog, parser.formatter_class = __doc__.split("\n\n", 1)[1], argparse.RawDescriptionHelpFormatter
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("models", nargs="*", metavar="MODEL", help="detector names (fetch: default all)")
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                        help="also know the detectors of this plugin (a .py file or a module name; repeatable)")
    parser.add_argument("--lock", default=str(DEFAULT_LOCK), help="weights lock file (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="fetch: seconds before a network operation gives up (default: %(default)s)")
    parser.add_argument("--pretrained", default="{}",
                        help='check: JSON config["pretrained"]: configured paths and allow_random_init')
    parser.add_argument("--out", default=None,
                        help="check: on success write the ok line to this file (nothing is written on failure)")


def status(model: str, weights: WeightFile, lock: WeightsLock) -> tuple[str, str]:
    """(present, verified) cells of one file."""
    path = weights.cached()
    if path is None:
        return "no", "–"
    verdict = assess(model, path, lock)
    if verdict.problem:
        return "yes", f"NO: {verdict.problem}"
    if not verdict.verified_by:
        return "yes", "not yet (no published checksum): run fetch to record it"
    return "yes", f"yes ({', '.join(verdict.verified_by)})"


def list_weights(args: argparse.Namespace) -> int:
    lock, known = WeightsLock(args.lock), model_weights(args.plugin)
    print("| model | source | file | where it looks | present | verified |")
    print("|---|---|---|---|---|---|")
    for model in args.models or known:
        spec = known[model]
        if spec.backbone:
            note = f"none needed: its backbone is the trained {spec.backbone} detector"
            print(f"| {model} | – | – | – | – | {note} |")
        elif not spec.files:
            print(f"| {model} | – | – | – | – | none published: it starts from random weights |")
        for weights in spec.files:
            print(f"| {model} | {weights.url()} | {weights.name} | {weights.looks_in()} | "
                  f"{' | '.join(status(model, weights, lock))} |")
    return 0


def fetch(args: argparse.Namespace) -> int:
    lock, known = WeightsLock(args.lock), model_weights(args.plugin)
    for model in needed(args.models or list(known), known):
        for entry in fetch_model(model, known[model], lock, args.timeout):
            print(f"{model}: {entry.path} sha256 {entry.sha256} ({entry.verified_by})")
        lock.save()
    print(f"lock: {lock.path}")
    return 0


def configured(text: str) -> dict:
    """`config["pretrained"]` from `--pretrained`."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise WeightsError(f"--pretrained: not a JSON object: {text!r}")
    return value


def check(args: argparse.Namespace) -> int:
    pretrained = configured(args.pretrained)
    problems = check_weights(args.models, bool(pretrained.get("allow_random_init")), lock=args.lock,
                             configured={k: v for k, v in pretrained.items() if isinstance(v, str)},
                             plugins=args.plugin)
    for problem in problems:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
    if problems:
        return EXIT_FAILED
    ok = f"ok: {', '.join(args.models)}"
    print(ok)
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text(ok + "\n", encoding="utf-8")
    return 0


def run(args: argparse.Namespace) -> int:
    known = model_weights(args.plugin)
    unknown = [m for m in args.models if m not in known]
    if unknown or (args.action in ("check", "verify") and not args.models):
        what = f"unknown model(s) {', '.join(unknown)}" if unknown else f"{args.action}: name the models"
        print(f"{PROG}: error: {what}; known: {', '.join(known)}", file=sys.stderr)
        return EXIT_USAGE
    action = {"list": list_weights, "fetch": fetch, "check": check, "verify": check}[args.action]
    try:
        return action(args)
    except WeightsError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_FAILED
