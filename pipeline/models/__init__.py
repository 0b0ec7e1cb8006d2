"""The paper's six detectors behind one registry (docs/architecture.md, "Models").

`build_model(name)` returns `(model, PretrainedInfo)`; every model has `.spec` (a `ModelSpec`),
`forward(x) -> (B,)` logits of the "fake" class and `features(x) -> (B, D)`, the classifier's input.
"""
from pipeline.models.pretrained import PretrainedError, PretrainedInfo
from pipeline.models.registry import ModelSpec, build_model, get_spec, list_models, register
from pipeline.models import image, recurrent, r3d, i3d  # noqa: F401 - registers the models, in the paper's order

__all__ = ["ModelSpec", "PretrainedError", "PretrainedInfo", "build_model", "get_spec", "list_models", "register"]
