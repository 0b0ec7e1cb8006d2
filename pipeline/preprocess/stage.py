"""What the three per-shard commands share: logging, the error boundary and the summary line."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from tqdm import tqdm

from pipeline.preprocess.problems import StageError

log = logging.getLogger("pipeline.preprocess")
T = TypeVar("T")


def guarded(main: Callable[[], None]) -> int:
    """Run a command body: exit status 0, or 1 with the one-line message of a `StageError`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        main()
    except StageError as e:
        log.error("%s", e)
        return 1
    return 0


def progress(items: Iterable[T], stage: str, total: int) -> Iterator[T]:
    """A per-video progress bar on a terminal, silent in job logs."""
    return iter(tqdm(items, desc=stage, total=total, unit="video", disable=None))


@dataclass
class ShardStats:
    """Counts for the one summary line a command logs per shard."""

    stage: str
    videos: int = 0
    frames: int = 0
    faces: int | None = None  # frames with a (usable) face; None where the stage does not look at faces
    problems: int = 0
    start: float = field(default_factory=time.perf_counter)

    def log(self) -> None:
        faces = ""
        if self.faces is not None:
            faces = f", face in {100 * self.faces / self.frames:.1f}%" if self.frames else ", face in n/a"
        log.info(
            "%s: %d videos, %d frames%s, %d problems, %.1f s",
            self.stage, self.videos, self.frames, faces, self.problems, time.perf_counter() - self.start,
        )
