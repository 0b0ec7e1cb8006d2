"""`python -m pipeline COMMAND ...`: one subcommand per workflow stage.

Each command lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`;
modules are imported only when their command runs, so `--help` stays fast.

An expected failure - a missing or unreadable input file, a CSV without the columns a command needs,
a corrupt checkpoint or clip store, malformed `--params` JSON, a bad argument - ends the command with
exit status 2 and one line on stderr, `pipeline COMMAND: error: <file>: <what is wrong>`, never a
traceback. Set `PIPELINE_TRACEBACK=1` to get the traceback instead (for debugging the code).

Ctrl-C (SIGINT) ends any command with exit status 130 and one line, `pipeline COMMAND: interrupted; rerun
to resume`: outputs are written under temporary names (`pipeline.io.atomic_path`) that are removed as the
interrupt unwinds, so nothing half-written is left under a final name.
"""
from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from pipeline.commands import COMMANDS

EXIT_ERROR = 2  # an expected failure, as for argparse's usage errors
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report a command it stopped


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean a bad input, not a bug: reported as one line.

    OSError covers missing/unreadable files and h5py's unreadable stores; ValueError covers malformed JSON,
    CSV and video files and the project's ManifestError, CheckpointError and PretrainedError; KeyError is
    a CSV or JSON record without a column or key a command needs; StageError a preprocessing setup error.
    """
    errors: list[type[BaseException]] = [OSError, ValueError, KeyError]
    if "pipeline.preprocess.problems" in sys.modules:  # imported by the commands that can raise it
        errors.append(sys.modules["pipeline.preprocess.problems"].StageError)
    return tuple(errors)


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose usage errors read `pipeline COMMAND: error: ...` on one line
    (its sub-parsers, such as a command's own sub-commands, too)."""

    def error(self, message: str):
        where = " ".join(["pipeline", *self.prog.split()[3:]])  # prog: python -m pipeline [COMMAND ...]
        self.exit(EXIT_ERROR, f"{where}: error: {message} (see: {self.prog} --help)\n")


def escape_help(text: str) -> str:
    """`text` as an argparse help string, which argparse %-formats: a literal % must be written %%."""
    return text.replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="python -m pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=argparse.ArgumentParser)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=escape_help(help_text), add_help=False)
    return parser


def command_parser(name: str, module) -> CommandParser:
    parser = CommandParser(prog=f"python -m pipeline {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        if argv and not argv[0].startswith("-"):
            build_parser().error(f"unknown command {argv[0]!r} (choose from {', '.join(COMMANDS)})")
        build_parser().parse_args(argv or ["--help"])
        return EXIT_ERROR
    name, rest = argv[0], argv[1:]
    try:
        if os.environ.get("STDD_PRELOAD_SOCKET"):  # a workflow run's preload server (pipeline/preload.py)
            from pipeline.preload_client import delegate

            status = delegate(argv)
            if status is not None:
                return status
        module = importlib.import_module(COMMANDS[name][0])
        parser = command_parser(name, module)
        args = parser.parse_args(rest)
        try:
            return int(module.run(args) or 0)
        except _expected_errors() as exc:
            if os.environ.get("PIPELINE_TRACEBACK"):
                raise
            print(f"pipeline {name}: error: {describe(exc, args, parser)}", file=sys.stderr)
            return EXIT_ERROR
    except KeyboardInterrupt:  # Ctrl-C: outputs are written under temporary names, removed on the way out
        if os.environ.get("PIPELINE_TRACEBACK"):
            raise
        print(f"pipeline {name}: interrupted; rerun to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


# ---- one line per expected failure, naming the file ------------------------------------------------


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe(exc: BaseException, args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """`<file>: <what is wrong>` for an expected failure, the file found from the error, its traceback or args."""
    if isinstance(exc, json.JSONDecodeError):
        option = _option_holding(exc.doc, args, parser)
        what = f"malformed JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        if option:
            return f"{option}: {what}"
        message = what
    elif isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        names = " -> ".join(os.fsdecode(f) if isinstance(f, str | bytes | os.PathLike) else str(f)
                            for f in (exc.filename, exc.filename2) if f is not None)
        return one_line(f"{names}: {exc.strerror}")
    elif isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else ""
        lacking = _csv_arguments_lacking(key, args)
        if lacking:
            return one_line(f"{lacking[0]}: lacks column {key!r}")
        message = f"missing column or key {key!r}"
    else:
        message = one_line(str(exc)) or type(exc).__name__
    if not _names_a_file(message, args):
        culprit = _culprit_file(exc.__traceback__)
        if culprit is not None and os.fsdecode(culprit) not in message:
            return one_line(f"{os.fsdecode(culprit)}: {message}")
    return message


def _argument_values(args: argparse.Namespace) -> Iterator[str]:
    for value in vars(args).values():
        for item in value if isinstance(value, list | tuple) else [value]:
            text = os.fsdecode(item) if isinstance(item, str | os.PathLike) else None
            if text and "\n" not in text and len(text) < 4096:
                yield text


def _option_holding(text: str, args: argparse.Namespace, parser: argparse.ArgumentParser) -> str | None:
    """The option (e.g. `--params`) whose value is `text`, or the file whose content it is."""
    for action in parser._actions:  # noqa: SLF001 - argparse keeps its actions here
        value = getattr(args, action.dest, None)
        if isinstance(value, str | os.PathLike) and os.fsdecode(value) == text:
            return action.option_strings[-1] if action.option_strings else action.dest
    for value in _argument_values(args):
        path = Path(value)
        try:
            if len(value) < 4096 and path.is_file() and path.stat().st_size < 1 << 24 and path.read_text() == text:
                return value
        except (OSError, UnicodeDecodeError):
            continue
    return None


def _names_a_file(message: str, args: argparse.Namespace) -> bool:
    """Whether `message` mentions one of the command's path arguments (or its file name)."""
    for value in _argument_values(args):
        if value and ("/" in value or Path(value).suffix) and (value in message or Path(value).name in message):
            return True
    return False


def _csv_arguments_lacking(key: object, args: argparse.Namespace) -> list[str]:
    """The command's existing CSV arguments whose header lacks the column `key`."""
    if not isinstance(key, str):
        return []
    out = []
    for value in _argument_values(args):
        if not value.lower().endswith(".csv") or not os.path.isfile(value):
            continue
        try:
            with open(value, newline="", encoding="utf-8", errors="replace") as fh:
                header = next(csv.reader(fh), [])
        except OSError:
            continue
        if key not in header:
            out.append(value)
    return out


PATH_LOCALS = ("path", "filename", "file", "fname", "name", "store", "manifest", "checkpoint", "filepath_or_buffer")


def _culprit_file(tb: TracebackType | None) -> str | os.PathLike | None:
    """The file an error happened on: a local variable holding an existing file's path in the innermost frame
    that has one (`path` in `read_summaries`, `name` in `h5py.File`, ...)."""
    frames = []
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__") != __name__:  # not main()'s own frame
            frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        local = frame.f_locals
        names = [n for n in PATH_LOCALS if n in local] + [n for n in local if n not in PATH_LOCALS]
        for n in names:
            value = local[n]
            if isinstance(value, str | os.PathLike) and _is_file(value):
                return value
    return None


def _is_file(value: str | os.PathLike) -> bool:
    try:
        text = os.fsdecode(value)
        return 0 < len(text) < 4096 and "\n" not in text and os.path.isfile(text)
    except (TypeError, ValueError, OSError):
        return False


if __name__ == "__main__":
    sys.exit(main())
