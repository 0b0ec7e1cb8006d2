"""Names shared by the tables: test sets, display names, and the FF++ leave-out conditions of §4.2."""
from __future__ import annotations

from dataclasses import dataclass

FFPP, DFDC, DEEPERFORENSICS, CELEBDF, DFD = "ffpp", "dfdc", "deeperforensics", "celebdf", "dfd"
TESTSET_NAMES = {FFPP: "FF++", DFDC: "DFDC", DEEPERFORENSICS: "DeeperForensics", CELEBDF: "Celeb-DF", DFD: "DFD"}

MODEL_NAMES = {
    "xception": "Xception",
    "efficientnet_b3": "EfficientNet-B3",
    "efficientnet_b3_lstm": "EffB3+LSTM",
    "efficientnet_b3_bigru": "EffB3+biGRU",
    "r3d_18": "R3D-18",
    "i3d_rgb": "I3D-RGB",
}

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


def model_name(model: str) -> str:
    return MODEL_NAMES.get(model, model)


def model_order(models: set[str] | list[str]) -> list[str]:
    """Models in the paper's order (image, sequence, 3D), unknown ones after them alphabetically."""
    known = [m for m in MODEL_NAMES if m in models]
    return known + sorted(set(models) - set(known))
