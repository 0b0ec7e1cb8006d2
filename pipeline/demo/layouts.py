"""What the demo datasets contain and where it goes: the real datasets' exact on-disk layouts.

A plan lists scenes (one original video each, plus the fakes made from it) and the text files (split
lists, metadata) of every dataset. Identities are numbered in plan order: FF++ ids first (so the two
high-resolution photos are FF++ 000 and 001), then DeeperForensics actors, DFDC actors, Celeb-DF people,
and last the DFD actors (inside the FF++ folder, as FF++ ships DFD).
"""
from __future__ import annotations

import itertools
import json
import string
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from pipeline.demo.config import DemoConfig
from pipeline.demo.manipulations import DFDC_METHODS, FFPP_METHODS, MANIPULATIONS, DFVAE
from pipeline.demo.scene import scene_rng

FFPP = "FaceForensics++"
DFOR = "DeeperForensics-1.0"
DFDC = "DFDC"
CELEBDF = "Celeb-DF-v2"
DATASET_DIRS = (FFPP, DFOR, DFDC, CELEBDF)
SPLITS = ("train", "val", "test")
# DFD: a handful of actors, one scene each, and one face-swapped fake of each (the real DFD: 28 actors, 363
# scenes, 3,068 fakes), named as DFD names its files.
DFD_SCENES = ("exit_phone_room", "kitchen_pan", "outside_talking_still_laughing", "podium_speech_happy")
DFD_METHOD = "Deepfakes"


@dataclass(frozen=True)
class Output:
    """One video file made from a scene: the original, or a fake by `method` using identity `source`."""

    path: str  # relative to the output folder
    method: str | None = None
    source: int | None = None
    driver: str | None = None  # scene key whose mouth motion drives a reenactment


@dataclass(frozen=True)
class SceneJob:
    key: str  # seeds the scene's motion, room and noise
    identity: int
    outputs: tuple[Output, ...]


@dataclass
class Plan:
    scenes: list[SceneJob] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # relative path -> file content
    n_identities: int = 0

    @property
    def n_videos(self) -> int:
        return sum(len(s.outputs) for s in self.scenes)


def split_pairs(pairs: list[tuple[str, str]], val: int = 0, test: int = 0) -> dict[str, list[tuple[str, str]]]:
    """`val` and `test` pairs for those splits, the rest for training; 0: FF++'s proportions (360/70/70 pairs:
    72/14/14 %), at least one pair in val and in test."""
    n_eval = max(1, round(0.14 * len(pairs)))
    val, test = val or n_eval, test or n_eval
    n_train = len(pairs) - val - test
    return {"train": pairs[:n_train], "val": pairs[n_train:n_train + val], "test": pairs[n_train + val:]}


def build_plan(cfg: DemoConfig) -> Plan:
    plan = Plan()
    people = itertools.count()
    _ffpp_and_deeperforensics(cfg, plan, people)
    _dfdc(cfg, plan, people)
    _celebdf(cfg, plan, people)
    _dfd(cfg, plan, people)
    plan.n_identities = next(people)
    return plan


def _ffpp_and_deeperforensics(cfg: DemoConfig, plan: Plan, people: Iterator[int]) -> None:
    """FF++ c23 originals with five fakes per id (pairs swap both ways), and DeeperForensics end_to_end
    fakes of every FF++ original with faces of its own actors."""
    rng = scene_rng(cfg.seed, FFPP, "pairs")
    ids = [f"{i:03d}" for i in range(cfg.identities)]
    person = {i: next(people) for i in ids}
    order = rng.permutation(ids).tolist()
    splits = split_pairs(list(zip(order[0::2], order[1::2])), cfg.val_pairs, cfg.test_pairs)
    partner = {a: b for pairs in splits.values() for p in pairs for a, b in (p, p[::-1])}
    actors = [f"M{k + 1:03d}" for k in range(max(2, cfg.identities // 4))]
    actor_person = {a: next(people) for a in actors}
    actor_of = {t: actors[k % len(actors)] for k, t in enumerate(rng.permutation(ids).tolist())}

    for t in ids:
        s, actor = partner[t], actor_of[t]
        outputs = [Output(f"{FFPP}/original_sequences/youtube/c23/videos/{t}.mp4")]
        outputs += [Output(f"{FFPP}/manipulated_sequences/{m}/c23/videos/{t}_{s}.mp4", m, person[s], f"{FFPP}/{s}")
                    for m in FFPP_METHODS]
        outputs.append(Output(f"{DFOR}/manipulated_videos/end_to_end/{t}_{actor}.mp4", DFVAE.name,
                              actor_person[actor], f"{DFOR}/{actor}"))
        plan.scenes.append(SceneJob(f"{FFPP}/{t}", person[t], tuple(outputs)))

    for split, pairs in splits.items():
        plan.texts[f"{FFPP}/splits/{split}.json"] = json.dumps([list(p) for p in pairs])
        names = sorted(f"{t}_{actor_of[t]}.mp4" for p in pairs for t in p)
        plan.texts[f"{DFOR}/lists/splits/{split}.txt"] = "".join(f"{n}\n" for n in names)


def _dfdc(cfg: DemoConfig, plan: Plan, people: Iterator[int]) -> None:
    """dfdc_train_part_N folders with their own actors: per actor one real video and two fakes of it (generic
    self-blends: the demo pretrains its detectors on DFDC's training split, so it holds no FF++ method)."""
    methods = list(DFDC_METHODS)
    used: set[str] = set()
    for part in range(cfg.dfdc_parts):
        folder = f"{DFDC}/dfdc_train_part_{part}"
        rng = scene_rng(cfg.seed, folder, "names")
        n_actors = -(-cfg.dfdc_videos_per_part // 3)
        cast = [next(people) for _ in range(max(2, n_actors))]  # a lone actor gets a face donor
        metadata: dict[str, dict] = {}
        left = cfg.dfdc_videos_per_part
        for j in range(n_actors):
            real = _random_name(rng, used)
            metadata[real] = {"label": "REAL", "split": "train"}
            outputs = [Output(f"{folder}/{real}")]
            others = cast[:j] + cast[j + 1:]
            for k in range(min(2, left - 1)):
                fake = _random_name(rng, used)
                metadata[fake] = {"label": "FAKE", "split": "train", "original": real}
                outputs.append(Output(f"{folder}/{fake}", str(rng.choice(methods)), others[k % len(others)],
                                      f"{folder}/{fake}"))
            left -= len(outputs)
            plan.scenes.append(SceneJob(f"{folder}/{real}", cast[j], tuple(outputs)))
        plan.texts[f"{folder}/metadata.json"] = json.dumps(dict(sorted(metadata.items())), indent=1)


def _random_name(rng: np.random.Generator, used: set[str]) -> str:
    """A DFDC-like file name: ten random lowercase letters, unique within the dataset."""
    while True:
        name = "".join(rng.choice(list(string.ascii_lowercase), 10)) + ".mp4"
        if name not in used:
            used.add(name)
            return name


def _celebdf(cfg: DemoConfig, plan: Plan, people: Iterator[int]) -> None:
    """Celebrities with several clips each (and one synthesis per clip), plus YouTube-real strangers."""
    rng = scene_rng(cfg.seed, CELEBDF, "methods")
    methods = sorted(m for m in MANIPULATIONS if m not in DFDC_METHODS)
    n = cfg.celebdf_videos
    celebs = [next(people) for _ in range(max(2, -(-n // 2)))]
    labels = []
    for j in range(n):
        c, clip = j % len(celebs), j // len(celebs)
        s = (c + 1) % len(celebs)
        real, fake = f"Celeb-real/id{c}_{clip:04d}.mp4", f"Celeb-synthesis/id{c}_id{s}_{clip:04d}.mp4"
        plan.scenes.append(SceneJob(f"{CELEBDF}/{real}", celebs[c], (
            Output(f"{CELEBDF}/{real}"),
            Output(f"{CELEBDF}/{fake}", str(rng.choice(methods)), celebs[s], f"{CELEBDF}/{fake}"))))
        labels += [f"1 {real}", f"0 {fake}"]
    for j in range(n):
        real = f"YouTube-real/{j:05d}.mp4"
        plan.scenes.append(SceneJob(f"{CELEBDF}/{real}", next(people), (Output(f"{CELEBDF}/{real}"),)))
        labels.append(f"1 {real}")
    plan.texts[f"{CELEBDF}/List_of_testing_videos.txt"] = "".join(f"{line}\n" for line in sorted(labels))


def _dfd(cfg: DemoConfig, plan: Plan, people: Iterator[int]) -> None:
    """DFD in the FF++ folder: `original_sequences/actors` scenes of its own actors, and per scene a fake
    `<actor>_<donor>__<scene>__<CODE>.mp4` in `manipulated_sequences/DeepFakeDetection` with the next actor's face."""
    rng = scene_rng(cfg.seed, f"{FFPP}/DeepFakeDetection", "names")
    cast = [next(people) for _ in DFD_SCENES]
    for k, scene in enumerate(DFD_SCENES):
        donor = (k + 1) % len(cast)
        code = "".join(rng.choice(list(string.ascii_uppercase + string.digits), 8))
        real = f"{FFPP}/original_sequences/actors/c23/videos/{k + 1:02d}__{scene}.mp4"
        fake = (f"{FFPP}/manipulated_sequences/DeepFakeDetection/c23/videos/"
                f"{k + 1:02d}_{donor + 1:02d}__{scene}__{code}.mp4")
        plan.scenes.append(SceneJob(real, cast[k], (Output(real), Output(fake, DFD_METHOD, cast[donor], fake))))
