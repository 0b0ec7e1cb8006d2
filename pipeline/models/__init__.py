"""The detectors: one module each, declaring its card (`DETECTOR`, `pipeline/models/card.py`) and `build`.

`pipeline.models.registry.build_model(name)` returns `(model, PretrainedInfo)`; every model has `.spec` (a
`ModelSpec`) and `forward(x) -> (B,)` logits of the "fake" class. Importing this package imports nothing:
the registry imports a detector's module when it builds that detector.
"""
