"""Names shared by the tables: test sets, display names, and the FF++ leave-out conditions of §4.2."""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.datasets import dataset_cards
from pipeline.models import card
from pipeline.models.card import Detector

FFPP, DFDC, DEEPERFORENSICS, CELEBDF, DFD = "ffpp", "dfdc", "deeperforensics", "celebdf", "dfd"
TESTSET_NAMES = {name: card.display for name, card in dataset_cards().items()}  # the datasets' cards

_PLUGINS: list[str] = []  # detector plugins whose names the tables also know (`use_plugins`)

METHODS = {"Deepfakes": "DF", "Face2Face": "F2F", "FaceSwap": "FS", "NeuralTextures": "NT", "FaceShifter": "FShi"}

# Table 1 / B.6: each run leaves one method out of training and validation.
LEAVE_ONE_OUT = {f"wo_{short}": method for method, short in METHODS.items()}


@dataclass(frozen=True)
class LeftOutGroup:
    """A Table 3 run: the methods left out together, and the name of their average column."""

    condition: str
    label: str
    methods: tuple[str, ...]


# Table 3, top: architecture (morphable mask vs learned decoder); bottom: task (swap vs reenactment).
GROUPS_ARCHITECTURE = (
    LeftOutGroup("wo_MM", "MM", ("Face2Face", "FaceSwap")),
    LeftOutGroup("wo_decoder", "learned", ("Deepfakes", "NeuralTextures", "FaceShifter")),
)
GROUPS_TASK = (
    LeftOutGroup("wo_swap", "swap", ("Deepfakes", "FaceSwap", "FaceShifter")),
    LeftOutGroup("wo_reenact", "reenact", ("Face2Face", "NeuralTextures")),
)


def use_plugins(plugins: list[str]) -> None:
    """Make the tables name and order the detectors of these plugins too."""
    _PLUGINS[:] = plugins


def cards() -> dict[str, Detector]:
    """Every detector's card, in table order (family, then the paper's order)."""
    return card.catalogue(tuple(_PLUGINS))


def model_name(model: str) -> str:
    """A detector's display name (its card's), or its key when no card declares it."""
    found = cards().get(model)
    return found.display if found else model


def model_order(models: set[str] | list[str]) -> list[str]:
    """Models in table order (image, sequence, 3D CNN, video transformer), unknown ones after them alphabetically."""
    known = [m for m in cards() if m in models]
    return known + sorted(set(models) - set(known))
