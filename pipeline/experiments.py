"""The experiment matrix of a config: which training runs, evaluations, figures and sweeps exist.

The Snakefile asks this module what to run; it knows no paths. Runs follow the cards: a dataset whose card
`trains` gets a run per model (per leave-out condition where its card has `conditions`), and every
training set's `all` models are evaluated on each enabled test set whose card lists it in `tested_by`
("every" model, or the `evaluate.cross_dataset.models`). Standard library only.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from pipeline.datasets.base import DatasetCard
from pipeline.models.card import Detector, effective_hparams

ALL = "all"


class Run(NamedTuple):
    """One training job (before seeds): a model trained on a dataset under a condition."""

    dataset: str
    condition: str
    model: str


class Evaluation(NamedTuple):
    """One evaluation job (before seeds): a trained run scored on a test set."""

    dataset: str
    condition: str
    model: str
    testset: str


@dataclass(frozen=True)
class Experiments:
    """The matrix of one effective config (`pipeline.config.effective_config`) over the detector and
    dataset catalogues."""

    cfg: Mapping[str, Any]
    detectors: Mapping[str, Detector]
    datasets: Mapping[str, DatasetCard]

    @property
    def models(self) -> list[str]:
        return list(self.cfg["models"])

    @property
    def conditions(self) -> list[str]:
        return list(self.cfg["conditions"])

    @property
    def seeds(self) -> list[int]:
        return list(self.cfg["train"]["seeds"])

    @property
    def enabled(self) -> list[str]:
        """Configured and enabled datasets, in catalogue order."""
        sections = self.cfg["datasets"]
        return [d for d in self.datasets if d in sections and sections[d].get("enabled", True)]

    def conditions_of(self, dataset: str) -> list[str]:
        return self.conditions if self.datasets[dataset].conditions else [ALL]

    def train_runs(self) -> list[Run]:
        """Every training job: each enabled training set x its conditions x every model."""
        return [Run(d, c, m) for d in self.enabled if self.datasets[d].trains
                for c in self.conditions_of(d) for m in self.models]

    def cross_models(self) -> list[str]:
        """The models whose `all` runs are tested beyond the paper's cross-dataset tables."""
        cross = self.cfg["evaluate"].get("cross_dataset", {}).get("models")
        return self.models if cross is None else [m for m in cross if m in self.models]

    def testsets(self, dataset: str, model: str) -> list[str]:
        """The enabled test sets, beyond its own, on which the `all` model of `dataset` is evaluated."""
        out = []
        for name in self.enabled:
            which = self.datasets[name].tested_by.get(dataset)
            if which == "every" or (which == "cross" and model in self.cross_models()):
                out.append(name)
        return out

    def evaluations(self) -> list[Evaluation]:
        """Every evaluation job: each run on its own test split, and the `all` runs on their other test sets."""
        out = []
        for run in self.train_runs():
            out.append(Evaluation(*run, run.dataset))
            if run.condition == ALL:
                out += [Evaluation(*run, t) for t in self.testsets(run.dataset, run.model)]
        return out

    def hparams(self, model: str) -> dict[str, Any]:
        """A model's hyper-parameters: its card's defaults with the config's `hparams.<model>` on top."""
        return effective_hparams(self.detectors[model], self.cfg.get("hparams", {}).get(model))

    def backbone(self, model: str) -> str:
        """The detector whose trained checkpoint initialises `model` ("" when none)."""
        return self.detectors[model].backbone

    def _trained(self, dataset: str, models: list[str]) -> list[str]:
        trained = {run.model for run in self.train_runs() if run.dataset == dataset and run.condition == ALL}
        return [m for m in models if m in trained]

    def perturbation_models(self) -> list[str]:
        """Table 4's models (DFDC-trained), when DFDC is trained on."""
        return self._trained("dfdc", list(self.cfg["evaluate"]["perturbation"]["models"]))

    def robustness_models(self) -> list[str]:
        """The FF++ `all` models of the robustness sweep."""
        return self._trained("ffpp", list(self.cfg.get("robustness", {}).get("models", [])))

    def tsne_models(self) -> list[str]:
        """Figure 4's models: every FF++ `all` model."""
        return self._trained("ffpp", self.models)

    def gradcam_run(self) -> Run | None:
        """The run shown in Figure 5: its model trained on DFDC as in the paper, else on FF++."""
        model = self.cfg["evaluate"]["gradcam"]["model"]
        if model not in self.detectors or not self.detectors[model].gradcam_layer:
            return None
        for dataset in ("dfdc", "ffpp"):
            if self._trained(dataset, [model]):
                return Run(dataset, ALL, model)
        return None

    def problems(self, demo: bool) -> tuple[list[str], list[str]]:
        """One line per config error that stops the plan, and per warning where the run can go on."""
        errors, warnings = [], []
        sections = self.cfg["datasets"]
        for name in self.enabled:
            root = sections[name].get("root", "")
            if not demo and not Path(root).is_dir():
                errors.append(f"datasets.{name}.root: {root!r} is not a folder; set it, or `enabled: false`")
        ffpp = sections.get("ffpp", {})
        if "ffpp" in self.enabled and not ffpp.get("methods"):
            errors.append("datasets.ffpp.methods: empty; name at least one FF++ method")
        if not self.train_runs():
            errors.append("nothing to train: enable a training set (ffpp or dfdc) and name models in `models`")
        wanted = {
            "evaluate.perturbation.models": (self.cfg["evaluate"]["perturbation"]["models"],
                                             self.perturbation_models()),
            "robustness.models": (self.cfg.get("robustness", {}).get("models", []), self.robustness_models()),
            "evaluate.gradcam.model": ([self.cfg["evaluate"]["gradcam"]["model"]],
                                       [r.model for r in [self.gradcam_run()] if r]),
            "evaluate.cross_dataset.models": (self.cfg["evaluate"].get("cross_dataset", {}).get("models") or [],
                                              self.cross_models()),
        }
        for key, (asked, kept) in wanted.items():
            if dropped := [m for m in asked if m not in kept]:
                why = ("declares no Grad-CAM layer" if key == "evaluate.gradcam.model" and dropped[0] in self.detectors
                       and not self.detectors[dropped[0]].gradcam_layer
                       else "not trained here (not in `models`, or its training set is off)")
                warnings.append(f"{key}: {', '.join(dropped)} {why}; left out")
        return errors, warnings
