"""What a detector declares about itself: its card, read by everything else in the workflow.

A detector is one module of `pipeline/models/` (or a plugin file) holding a module-level
`DETECTOR = Detector(...)` and a `build(spec, *, pretrained, ...)` function. The card says what the
data pipeline, the weights tools, the tables and the tests must know; nothing else names the model.

Standard library only: the Snakefile reads the cards while it builds its DAG, without importing
torch. `read_card` therefore reads a card from the module's source (its syntax tree), so a card is
written with literals only (strings, numbers, tuples, lists, dicts, and `Weights(...)` calls).
"""
from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the `pipeline` package
MODELS_DIR = Path(__file__).resolve().parent
CARD = "DETECTOR"

# Family: what the tables and figures group detectors by (and the order they list them in).
FAMILIES = ("image", "sequence", "3d-cnn", "video-transformer")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
NORMALISATIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "inception": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # [-1, 1]: TensorFlow-trained Inception/Xception
    "kinetics": ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)),  # torchvision's video models
}
WEIGHT_KINDS = ("hf", "torchvision", "raw")
REQUIRED_HPARAMS = ("lr", "batch_size", "weight_decay")


class CardError(ValueError):
    """A detector card that cannot be read or makes no sense: one line naming the file."""


@dataclass(frozen=True)
class Weights:
    """One published weights file the detector starts from.

    kind: "hf" (file `name` of the Hugging Face repo `origin`; the hub publishes its SHA-256 as the
    ETag), "torchvision" (a torch.hub file at `origin/name` whose name carries a SHA-256 prefix) or
    "raw" (a file at `origin/name` with no published checksum: the lock vouches for it after the
    first fetch). `sha256` is a full published checksum where one is known.
    """

    kind: str
    name: str
    origin: str
    sha256: str = ""


@dataclass(frozen=True)
class Detector:
    """A detector's card.

    name: the config's name; display: the tables' name.
    family: one of FAMILIES; `image` detectors score single frames, the others clips of `clip_len`.
    input_size: square input side; norm: a key of NORMALISATIONS.
    params: reference parameter count with one output; params_source: where that count comes from.
    hparams: the paper config's defaults (lr, batch_size, weight_decay, and any `train` key or option);
        the config's `hparams.<name>` overrides them key by key.
    weights: published initialisation, in the order the detector tries them (all are fetched).
    head: the module whose tensors are left random when a weights file's shapes differ (its classes).
    backbone: a detector whose trained checkpoint initialises this one (trained first, same run).
    gradcam_layer: module whose activations Grad-CAM weighs ("" when the figure does not apply).
    feature_layer: module whose input is the pre-classifier feature vector (t-SNE, Figure 4).
    channels_last: whether weights and frame inputs use channels-last memory (2D convolutions).
    options: the builder's own settings with their defaults (hparams may override them).
    rank: position within the family in tables and figures (the paper's order for its six).
    """

    name: str
    display: str
    family: str
    input_size: int
    norm: str
    params: int
    params_source: str
    hparams: Mapping[str, Any]
    clip_len: int = 1
    weights: tuple[Weights, ...] = ()
    head: str = ""
    backbone: str = ""
    gradcam_layer: str = ""
    feature_layer: str = ""
    channels_last: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    rank: int = 0
    module: str = ""  # filled in by `read_card`: the dotted module name, or a plugin's file path
    path: str = ""  # filled in by `read_card`: the source file

    def __post_init__(self) -> None:
        where = self.path or self.name
        if self.family not in FAMILIES:
            raise CardError(f"{where}: family {self.family!r} is not one of {', '.join(FAMILIES)}")
        if self.norm not in NORMALISATIONS:
            raise CardError(f"{where}: norm {self.norm!r} is not one of {', '.join(NORMALISATIONS)}")
        if missing := [k for k in REQUIRED_HPARAMS if k not in self.hparams]:
            raise CardError(f"{where}: hparams lack {', '.join(missing)}")
        if (self.family == "image") != (self.clip_len == 1):
            raise CardError(f"{where}: image detectors take clip_len 1, video detectors more")
        for w in self.weights:
            if w.kind not in WEIGHT_KINDS:
                raise CardError(f"{where}: weights kind {w.kind!r} is not one of {', '.join(WEIGHT_KINDS)}")

    @property
    def kind(self) -> str:
        """The input layout: "image" takes (B, 3, H, W) frames, "video" (B, 3, T, H, W) clips."""
        return "image" if self.family == "image" else "video"

    @property
    def mean(self) -> tuple[float, float, float]:
        return NORMALISATIONS[self.norm][0]

    @property
    def std(self) -> tuple[float, float, float]:
        return NORMALISATIONS[self.norm][1]


_CONSTRUCTORS = {"Detector": Detector, "Weights": Weights}


def _value(node: ast.expr, path: Path) -> Any:
    """A literal, or a `Weights(...)` call of literals."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CONSTRUCTORS:
        if node.args:
            raise CardError(f"{path}:{node.lineno}: write {node.func.id}(...) with keyword arguments")
        return _CONSTRUCTORS[node.func.id](**{k.arg: _value(k.value, path) for k in node.keywords})
    if isinstance(node, ast.Tuple):
        return tuple(_value(e, path) for e in node.elts)
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise CardError(f"{path}:{node.lineno}: a detector card holds literals only "
                        f"(found {ast.unparse(node)!r})") from None


@cache
def _read(path: Path, module: str, mtime_ns: int) -> Detector | None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == CARD):
            call = node.value
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Detector"):
                raise CardError(f"{path}:{node.lineno}: {CARD} must be a Detector(...) call")
            kwargs = {k.arg: _value(k.value, path) for k in call.keywords}
            names = {f.name for f in fields(Detector)} - {"module", "path"}
            if unknown := sorted(set(kwargs) - names):
                raise CardError(f"{path}:{node.lineno}: Detector() has no field {', '.join(unknown)}")
            try:
                return Detector(**kwargs, module=module, path=str(path))
            except TypeError as exc:
                raise CardError(f"{path}:{node.lineno}: {exc}") from None
    return None


def read_card(path: str | Path, module: str) -> Detector | None:
    """The card of the detector module at `path` (importable as `module`), or None if it declares none."""
    path = Path(path)
    return _read(path, module, path.stat().st_mtime_ns)


def plugin_path(plugin: str, base: str | Path = ".") -> Path:
    """The source file of a plugin: a `.py` path (relative to `base`) or an importable module name."""
    if plugin.endswith(".py"):
        path = Path(base) / plugin
        if not path.is_file():
            raise CardError(f"plugins: {plugin}: no such file (relative to {Path(base).resolve()})")
        return path.resolve()
    sys.path.insert(0, str(Path(base).resolve()))
    try:
        spec = importlib.util.find_spec(plugin)
    except (ImportError, ValueError) as exc:
        raise CardError(f"plugins: {plugin}: cannot be found ({exc})") from None
    finally:
        sys.path.pop(0)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise CardError(f"plugins: {plugin}: no such module (a dotted module name or a .py file)")
    return Path(spec.origin).resolve()


def catalogue(plugins: Iterable[str] = (), base: str | Path = ".") -> dict[str, Detector]:
    """Every detector: the package's own (`pipeline/models/*.py`), then the plugins', in table order
    (family, then rank, then name). A name declared twice is an error."""
    found: list[Detector] = []
    for path in sorted(MODELS_DIR.glob("*.py")):
        card = read_card(path, f"pipeline.models.{path.stem}")
        if card is not None:
            found.append(card)
    for plugin in plugins:
        path = plugin_path(plugin, base)
        card = read_card(path, str(path))
        if card is None:
            raise CardError(f"plugins: {plugin}: {path} declares no {CARD} = Detector(...)")
        found.append(card)
    out: dict[str, Detector] = {}
    for card in sorted(found, key=lambda c: (FAMILIES.index(c.family), c.rank, c.name)):
        if card.name in out:
            raise CardError(f"detector {card.name!r} is declared twice: {out[card.name].path} and {card.path}")
        out[card.name] = card
    return out


def effective_hparams(card: Detector, configured: Mapping[str, Any] | None) -> dict[str, Any]:
    """The card's default hparams with the config's `hparams.<name>` on top (key by key)."""
    return {**card.hparams, **(configured or {})}
