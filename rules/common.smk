# Snakemake glue shared by all the rules: the validated config, the experiment matrix
# (pipeline/experiments.py), paths, code inputs and input functions.
import sys
from pathlib import Path

sys.path.insert(0, workflow.basedir)

from hashlib import sha256

from pipeline.codedeps import file_imports, fingerprint, module_files, write_digest
from pipeline.commands import COMMANDS
from pipeline.config import as_json, effective_config, n_shards
from pipeline.configcheck import (
    ConfigError,
    check_names,
    stop,
    validate as validate_config,
)
from pipeline.datasets import dataset_cards
from pipeline.experiments import Experiments
from pipeline.gpu import gpu_pool, jobs_per_device
from pipeline.io import shard_of
from pipeline.models.card import CardError, catalogue
from snakemake.settings.types import DeploymentMethod

SCHEMA = f"{workflow.basedir}/schemas/config.schema.yaml"

# The config the stages see: `demo.overrides` merged in when the demo is enabled, validated before and after.
try:
    validate_config(config, SCHEMA)
    CFG = effective_config(config)
    validate_config(CFG, SCHEMA)
    DETECTORS = catalogue(tuple(CFG.get("plugins", [])))
    check_names(CFG, DETECTORS, list(dataset_cards()), SCHEMA)
except (ConfigError, CardError) as exc:
    stop(str(exc))

R = CFG["results"]
DEMO = CFG["demo"]["enabled"]
EXP = Experiments(CFG, DETECTORS, dataset_cards())
_errors, _warnings = EXP.problems(demo=DEMO)
if _errors:
    stop(f"config error: {_errors[0]}")
for _warning in _warnings:
    print(f"config warning: {_warning}", file=sys.stderr)

DATASETS_ON = EXP.enabled
MODELS = EXP.models
CONDITIONS = EXP.conditions
# Every run trains and is evaluated once per seed (`seed<N>` folders); figures and Table 4 use the first.
SEEDS = EXP.seeds
PREP = CFG["preprocess"]
# Units (frames of image models, windows of video models) per inference forward pass.
EVAL_BATCH = CFG["evaluate"].get("batch_size", 32)
# Under `--sdm conda` each rule runs the `python` of its environment; otherwise this interpreter.
PY = (
    "python"
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else sys.executable
)
# With GPUs (the pool the profile sizes: $STDD_GPUS, CUDA_VISIBLE_DEVICES or nvidia-smi), each GPU job
# locks a free one and sets CUDA_VISIBLE_DEVICES (pipeline/gpu.py). `gpu_jobs_per_device` (or
# $STDD_GPU_JOBS_PER_DEVICE, which wins) lets N jobs share one GPU.
GPUS = gpu_pool()
GPU_JOBS = jobs_per_device(default=CFG.get("gpu_jobs_per_device", 1))
# Preflight checks of a real-data run (rules/preflight.smk); the demo's data and its initialisation are
# known, so it has neither.
CHECK_DATA = not DEMO
RANDOM_INIT_OK = CFG.get("pretrained", {}).get("allow_random_init", False)
CHECK_WEIGHTS = not DEMO and not RANDOM_INIT_OK
# The demo's pretraining (rules/demo.smk): on the demo DFDC, for `demo.pretrain.models` (default: every detector
# without a backbone detector).
PRETRAIN = bool(DEMO and CFG["demo"].get("pretrain") and "dfdc" in DATASETS_ON)
PRETRAINED = (
    [
        m
        for m in CFG["demo"]["pretrain"].get("models", MODELS)
        if m in MODELS and not EXP.backbone(m)
    ]
    if PRETRAIN
    else []
)
CHECK_DATA_REPORT = f"{R}/check_data.md"
WEIGHTS_STAMP = f"{R}/weights/check.txt"
WEIGHTS_LOCK = f"{R}/weights.lock.json"


wildcard_constraints:
    dataset="|".join(dataset_cards()),
    shard=r"\d{3}",
    model="|".join(MODELS),
    condition="|".join(CONDITIONS),
    testset="|".join(dataset_cards()),
    seed=r"\d+",


# ---- shell-command parameters ---------------------------------------------------------------
# Rules pass the interpreter and the GPU-lock options to their shell commands as params, always
# quoted by Snakemake (`{params.py:q}`, `{params.gpu_locks:q}`: a list, quoted item by item). Both take
# `threads`/`resources`, so Snakemake treats them as derived params: neither a different interpreter
# path (another venv, `--sdm conda`) nor a machine with or without GPUs triggers a rerun.


def python_bin(wildcards, threads):
    """The interpreter that runs `python -m pipeline` (PY)."""
    return PY


def gpu_lock_option(wildcards, resources):
    """`--gpu-lock-dir DIR --gpu-jobs-per-device N` when the run has a GPU pool, else nothing."""
    if not GPUS:
        return []
    return [
        "--gpu-lock-dir",
        f"{R}/.gpu_locks",
        "--gpu-jobs-per-device",
        str(GPU_JOBS),
    ]


# ---- preload server ----------------------------------------------------------------------------
# With `preload` on and the local executor, one server imports torch & co. once and forks every
# `python -m pipeline` job from it (pipeline/preload.py): ~4.5 s less per model job.
_PRELOAD = []


def start_preload():
    """onstart: start the preload server when `preload` is on and jobs run on this machine."""
    plugin = workflow.executor_plugin
    local = plugin is not None and plugin.common_settings.local_exec
    if CFG.get("preload") and local and PY == sys.executable:  # not under --sdm conda
        from pipeline.preload import start_server

        _PRELOAD.append(
            start_server(
                sys.executable, workflow.basedir, Path(log_path("preload", "server"))
            )
        )


def stop_preload():
    """onsuccess/onerror: stop the preload server, if one was started."""
    from pipeline.preload import stop_server

    while _PRELOAD:
        stop_server(_PRELOAD.pop())


def output_dir(name):
    """A params function: the folder of output `name` (a command's `--out`/`--outdir`)."""
    return lambda wildcards, output: str(Path(getattr(output, name)).parent)


# ---- code inputs -----------------------------------------------------------------------------
# A job's code inputs are fingerprints (pipeline/codedeps.py) of the modules its command imports, plus
# its detector's own module for model jobs: a code edit reruns exactly the jobs that run that code.
CODE_DIR = f"{R}/.code"


def fingerprints(files):
    return [
        (
            fingerprint(Path(workflow.basedir) / f, CODE_DIR, f)
            if not Path(f).is_absolute()
            else fingerprint(f, f"{CODE_DIR}/plugins", Path(f).name)
        )
        for f in files
    ]


def code(command, *modules):
    """The code a `python -m pipeline COMMAND` runs (and `modules` besides), as fingerprints."""
    return fingerprints(module_files(workflow.basedir, COMMANDS[command][0], *modules))


def detector_code(model):
    """The code of a detector and what its module imports (a backbone detector's module too)."""
    card = DETECTORS[model]
    if card.module.endswith(".py"):  # a plugin file, and the package modules it imports
        imported = module_files(workflow.basedir, *file_imports(card.module))
        return fingerprints([card.module, *imported])
    return fingerprints(module_files(workflow.basedir, card.module))


def card_fingerprints():
    """What the tables read of the cards (display names, families, order), as one fingerprint per card: a
    renamed detector or dataset rebuilds the tables without rerunning its jobs."""
    shown = [(n, c.display, c.family, c.rank) for n, c in DETECTORS.items()]
    shown += [(n, c.display, c.rank) for n, c in dataset_cards().items()]
    return [
        write_digest(sha256(repr(s).encode()).hexdigest(), f"{CODE_DIR}/cards", s[0])
        for s in shown
    ]


def dataset_code(dataset):
    """The code of a dataset's module (its card and lister)."""
    return fingerprints(module_files(workflow.basedir, f"pipeline.datasets.{dataset}"))


def log_path(rule, name):
    return f"{R}/logs/{rule}/{name}.log"


def bench_path(rule, name):
    return f"{R}/benchmarks/{rule}/{name}.tsv"


# ---- datasets and shards -------------------------------------------------------------------

_LISTINGS = {}


def listing(dataset):
    """The dataset's videos (listed once per Snakemake run; after the demo data exist when it is on)."""
    if DEMO:
        checkpoints.demo_data.get()
    if dataset not in _LISTINGS:
        from pipeline.datasets import list_dataset

        _LISTINGS[dataset] = list_dataset(dataset, CFG["datasets"])
    return _LISTINGS[dataset]


_SHARDS = {}


def shard_videos(wildcards):
    """Video files of one shard: membership depends only on each video's id."""
    key = wildcards.dataset
    if key not in _SHARDS:
        n = n_shards(CFG, key)
        groups = {}
        for ref in listing(key).videos:
            groups.setdefault(shard_of(ref.video_id, n), []).append(str(ref.path))
        _SHARDS[key] = groups
    return sorted(_SHARDS[key].get(int(wildcards.shard), []))


def shard_ids(dataset):
    return [f"{k:03d}" for k in range(n_shards(CFG, dataset))]


def dataset_root(dataset):
    return CFG["datasets"][dataset]["root"]


def ffpp_test_split(wildcards):
    """An input function: FF++'s `splits/test.json` where it chooses DeeperForensics' test fakes
    (`split: ffpp`, the default) and exists; a missing one is a listing gap (check-data, problems.csv).
    """
    datasets = CFG["datasets"]
    split = datasets["deeperforensics"].get("split", "ffpp")
    if split != "ffpp" or "ffpp" not in datasets:
        return []
    if DEMO:
        checkpoints.demo_data.get()
    path = Path(datasets["ffpp"]["root"]) / "splits" / "test.json"
    return [str(path)] if path.is_file() else []


def crop_summaries(dataset):
    return expand(
        f"{R}/preprocess/{dataset}/crops/shard{{shard}}.csv", shard=shard_ids(dataset)
    )


def crop_stores(dataset):
    return expand(
        f"{R}/preprocess/{dataset}/crops/shard{{shard}}.h5", shard=shard_ids(dataset)
    )


def shard_reports(dataset):
    return expand(
        f"{R}/preprocess/{dataset}/reports/{{stage}}/shard{{shard}}.csv",
        stage=["sample", "detect", "crop"],
        shard=shard_ids(dataset),
    )


# ---- experiments: paths of the matrix's jobs ---------------------------------------------------


def checkpoint_path(dataset, condition, model, seed=SEEDS[0]):
    """A trained model; without `seed`, the first seed's (the figures', Table 4's)."""
    return f"{R}/train/{dataset}/{condition}/{model}/seed{seed}/model.pt"


def test_manifest(testset, condition):
    """A test set's manifest: the condition's for datasets with conditions (FF++ keeps every method in
    every condition's test split), `all` for the others."""
    cond = condition if dataset_cards()[testset].conditions else "all"
    return f"{R}/manifests/{testset}/{cond}/test.csv"


def eval_metrics():
    return [
        f"{R}/eval/{e.dataset}/{e.condition}/{e.model}/seed{s}/{e.testset}.metrics.csv"
        for e in EXP.evaluations()
        for s in SEEDS
    ] + perturbation_metrics()


def perturbation_metrics():
    return [
        f"{R}/eval/dfdc/all/{m}/seed{SEEDS[0]}/dfdc_perturb.metrics.csv"
        for m in EXP.perturbation_models()
    ]


def figure_targets():
    targets = [f"{R}/figures/families.png"] if EXP.tsne_models() else []
    if EXP.tsne_models():
        targets.append(f"{R}/figures/figure4_tsne.png")
    if EXP.gradcam_run() is not None:
        targets.append(f"{R}/figures/figure5_gradcam.png")
    return targets


def all_targets():
    return (
        [f"{R}/preprocess/{d}/report.csv" for d in DATASETS_ON]
        + [f"{R}/manifests/{d}/counts.csv" for d in DATASETS_ON]
        + [
            f"{R}/train/{r.dataset}/{r.condition}/{r.model}/seed{s}/loss.png"
            for r in EXP.train_runs()
            for s in SEEDS
        ]
        + [f"{R}/metrics.csv", f"{R}/tables/tables.md"]
        + figure_targets()
        + ROBUSTNESS_TARGETS  # rules/robustness.smk
    )


# ---- inputs and params of single rules ---------------------------------------------------------


def manifest_outputs(dataset):
    """The manifests a dataset's `manifests_<dataset>` rule writes, beside counts.csv."""
    card = dataset_cards()[dataset]
    conditions = EXP.conditions_of(dataset)
    return [
        f"{R}/manifests/{dataset}/{c}/{s}.csv" for c in conditions for s in card.splits
    ]


def preflight(path, needed):
    """`path` as an input when the check is `needed`: `ancient`, so a check that runs again (its
    parameters or code changed) does not rerun the jobs that waited for its first pass.
    """
    return [ancient(path)] if needed else []


def pretrained_setting(model):
    """What a run of `model` starts from: `pretrained.<model>` ("" the card's published weights, `none`, or a
    file), or in the demo with pretraining, the demo's pretraining run of the model."""
    if model in PRETRAINED:
        return f"{R}/pretrain/{model}/model.pt"
    return CFG.get("pretrained", {}).get(model, "")


def pretrained_file(model):
    """The weights file a run of `model` starts from, or "" (its card's published weights, or `none`)."""
    path = pretrained_setting(model)
    return "" if path in ("", "none") else path


def train_inputs(wildcards):
    manifests = f"{R}/manifests/{wildcards.dataset}/{wildcards.condition}"
    inputs = {
        "train": f"{manifests}/train.csv",
        "val": f"{manifests}/val.csv",
        "weights": preflight(WEIGHTS_STAMP, CHECK_WEIGHTS),
        "pretrained": (
            [pretrained_file(wildcards.model)]
            if pretrained_file(wildcards.model)
            else []
        ),
        "code": code("train") + detector_code(wildcards.model),
    }
    if EXP.backbone(wildcards.model):
        inputs["init"] = checkpoint_path(
            wildcards.dataset,
            wildcards.condition,
            EXP.backbone(wildcards.model),
            wildcards.seed,
        )
    return inputs


def plugin_param(model):
    """A plugin detector's file, relative to the working directory when below it (for the job to import)."""
    card = DETECTORS[model]
    if not card.module.endswith(".py"):
        return {}
    path = Path(card.module)
    return {
        "plugin": str(
            path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
        )
    }


def train_params(wildcards):
    """The run's params: `train` with this job's `seed` instead of `seeds` (adding a seed reruns nothing)."""
    train = {k: v for k, v in CFG["train"].items() if k != "seeds"}
    return as_json(
        {
            "hparams": EXP.hparams(wildcards.model),
            "train": {**train, "seed": int(wildcards.seed)},
            "pretrained": pretrained_setting(wildcards.model),
            "preprocess": PREP,
            **plugin_param(wildcards.model),
        }
    )


def pretrain_params(wildcards):
    """A demo pretraining run's params: the model's hparams with `demo.pretrain` on top (its `hparams.<model>`
    last), from random weights, seed 0 (every seed's runs start from this one checkpoint).
    """
    pretrain = CFG["demo"]["pretrain"]
    train = {k: v for k, v in CFG["train"].items() if k != "seeds"}
    own = {k: v for k, v in pretrain.items() if k not in ("hparams", "models")}
    hparams = {
        **EXP.hparams(wildcards.model),
        **own,
        **pretrain.get("hparams", {}).get(wildcards.model, {}),
    }
    return as_json(
        {
            "hparams": hparams,
            "train": {**train, "seed": 0, "keep_state": False},
            "pretrained": "none",
            "preprocess": PREP,
            **plugin_param(wildcards.model),
        }
    )


def init_arg(wildcards, input):
    """`--init CHECKPOINT` for a detector trained from its backbone detector's checkpoint."""
    return ["--init", input.init] if "init" in input.keys() else []


def eval_stride(testset):
    """The sliding-window stride of video models on a test set: the config's, else its card's."""
    return CFG["evaluate"]["stride"].get(testset, dataset_cards()[testset].stride)


def eval_params(wildcards):
    return as_json(
        {
            "stride": eval_stride(wildcards.testset),
            "threshold": CFG["evaluate"]["threshold"],
            "batch_size": EVAL_BATCH,
        }
    )


def gradcam_input(wildcards):
    dataset, condition, model = EXP.gradcam_run()
    return {
        "checkpoint": checkpoint_path(dataset, condition, model),
        "manifest": test_manifest(dataset, condition),
    }
