"""Generate the four demo datasets: plan, identities, then one rendering pass per scene."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import multiprocessing
import shutil
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
from tqdm import tqdm

from pipeline.demo.config import DemoConfig
from pipeline.demo.faces import Identity, build_identities
from pipeline.demo.layouts import DATASET_DIRS, Plan, SceneJob, build_plan
from pipeline.demo.manipulations import MANIPULATIONS
from pipeline.demo.scene import Scene, mouth_track, scene_rng
from pipeline.demo.video import video_writer
from pipeline.io import atomic_path

log = logging.getLogger("pipeline.demo")


def render_scene(job: SceneJob, people: list[Identity], cfg: DemoConfig, out: Path) -> int:
    """Render one original video and write it with every fake made from it; returns the videos written."""
    n = cfg.n_frames
    target = people[job.identity]
    scene = Scene(target, job.key, cfg.seed, n, cfg.fps, cfg.width, cfg.height)
    edits = [None if o.method is None else MANIPULATIONS[o.method](
        target, people[o.source], mouth_track(cfg.seed, o.driver, n, cfg.fps), scene_rng(cfg.seed, o.path, "fake"),
        cfg.fps) for o in job.outputs]
    with contextlib.ExitStack() as stack:
        writers = [stack.enter_context(video_writer(out / o.path, cfg.fps, cfg.width, cfg.height)) for o in job.outputs]
        for frame in scene.frames():
            for write, edit in zip(writers, edits):
                write(frame.rgb if edit is None else edit(frame))
    return len(job.outputs)


_WORKER: tuple[list[Identity], DemoConfig, Path] | None = None


def _init_worker(people: list[Identity], cfg: DemoConfig, out: Path) -> None:
    global _WORKER
    cv2.setNumThreads(1)
    _WORKER = (people, cfg, out)


def _render_in_worker(job: SceneJob) -> int:
    return render_scene(job, *_WORKER)


def counts(plan: Plan) -> dict[str, int]:
    """Videos per dataset, and real and fake videos overall."""
    c = Counter(o.path.split("/", 1)[0] for s in plan.scenes for o in s.outputs)
    c.update("fake" if o.method else "real" for s in plan.scenes for o in s.outputs)
    return dict(c, identities=plan.n_identities, videos=plan.n_videos)


def generate(out: Path, cfg: DemoConfig, workers: int = 1) -> dict[str, int]:
    """Write the four datasets under `out` (replacing earlier ones) and return their counts.

    Every video depends only on the seed and its own path, so the files are byte-identical whatever
    `workers` is; each mp4 is written under a temporary name and renamed when complete.
    """
    start = time.perf_counter()
    out = Path(out)
    plan = build_plan(cfg)
    for name in DATASET_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)
    people = build_identities(plan.n_identities, cfg.seed)
    for rel, text in plan.texts.items():
        with atomic_path(out / rel) as tmp:
            tmp.write_text(text)
    for job in plan.scenes:  # writers of several processes may create the same folder at once
        for o in job.outputs:
            (out / o.path).parent.mkdir(parents=True, exist_ok=True)

    with tqdm(total=plan.n_videos, desc="demo videos", unit="video", mininterval=2.0) as bar:
        if workers <= 1:
            for job in plan.scenes:
                bar.update(render_scene(job, people, cfg, out))
        else:
            # spawn, not fork: forking after OpenCV and dlib have started threads can deadlock the children
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, context, initializer=_init_worker, initargs=(people, cfg, out)) as pool:
                for done in pool.map(_render_in_worker, plan.scenes):
                    bar.update(done)

    summary = counts(plan)
    with atomic_path(out / "demo.json") as tmp:
        tmp.write_text(json.dumps({"config": dataclasses.asdict(cfg), "counts": summary}, indent=1, sort_keys=True))
    log.info("demo datasets in %s: %s in %.1f s", out, ", ".join(f"{k} {v}" for k, v in sorted(summary.items())),
             time.perf_counter() - start)
    return summary
