"""The `python -m pipeline` commands: name -> (module, one-line help). Each module exposes
`add_arguments(parser)` and `run(args) -> int` and is imported only when its command runs.

Standard library only: the Snakefile reads this table to declare each rule's code inputs.
"""
from __future__ import annotations

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("pipeline.demo.cli", "generate the synthetic demo datasets"),
    "sample": ("pipeline.preprocess.sample", "pick frames at N fps by timestamp for one shard"),
    "detect": ("pipeline.preprocess.detect", "detect faces and landmarks on the sampled frames of one shard"),
    "crop": ("pipeline.preprocess.crop", "filter boxes and write 40%-margin face crops to an HDF5 clip store"),
    "report": ("pipeline.preprocess.report", "merge per-shard problem lists into a dataset report"),
    "manifests": ("pipeline.manifests", "write per-split manifests for every condition of a dataset"),
    "models": ("pipeline.models.cli", "list the registered models with parameter counts"),
    "train": ("pipeline.train.cli", "train one model on one dataset and condition"),
    "evaluate": ("pipeline.evaluate.cli", "predict a test set with a trained model and compute metrics"),
    "perturb": ("pipeline.evaluate.perturb", "temporal perturbation experiment (Table 4)"),
    "robustness": ("pipeline.robustness.cli", "FF++ test under DeeperForensics perturbations at 5 levels (sweep, report)"),
    "tsne": ("pipeline.figures.tsne", "t-SNE of pre-classifier features (Figure 4)"),
    "gradcam": ("pipeline.figures.gradcam", "Grad-CAM of a 3D model on altered sequences (Figure 5)"),
    "families": ("pipeline.figures.families", "in-domain AUC against mean left-out accuracy per detector family"),
    "collect": ("pipeline.evaluate.collect", "concatenate metric files into one tidy table"),
    "tables": ("pipeline.tables.cli", "assemble the paper's tables from a tidy metrics table"),
    "predict": ("pipeline.predict", "score new videos with a trained checkpoint"),
    "check-data": ("pipeline.checkdata", "count the listed videos present per dataset, method and split (preflight)"),
    "weights": ("pipeline.weights.cli", "fetch, verify and list the models' pretrained weights"),
}
