# Helpers and input functions shared by every rule family.
import sys
from pathlib import Path

sys.path.insert(0, workflow.basedir)

from pipeline.config import (
    DATASETS,
    SEQUENCE_MODELS,
    as_json,
    effective_config,
    n_shards,
)
from pipeline.__main__ import COMMANDS
from pipeline.codedeps import module_files
from pipeline.gpu import count_gpus, jobs_per_device
from pipeline.io import shard_of
from snakemake.settings.types import DeploymentMethod

# The config the stages see: `demo.overrides` merged in when the demo is enabled, validated again.
CFG = effective_config(config)
validate(CFG, "../schemas/config.schema.yaml")

R = CFG["results"]
# Under `--sdm conda` each rule runs the `python` of its environment; otherwise this interpreter.
PY = (
    "python"
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else sys.executable
)
DEMO = CFG["demo"]["enabled"]
DATASETS_ON = [
    d
    for d in DATASETS
    if d in CFG["datasets"] and CFG["datasets"][d].get("enabled", True)
]
MODELS = CFG["models"]
CONDITIONS = list(CFG["conditions"])
# Every run trains and is evaluated once per seed (`seed<N>` folders); figures and Table 4 use the first.
SEEDS = CFG["train"]["seeds"]
PREP = CFG["preprocess"]
# Units (frames of image models, windows of video models) per inference forward pass.
EVAL_BATCH = CFG["evaluate"].get("batch_size", 32)
GPUS = count_gpus()
# With GPUs, each GPU job locks a free one and sets CUDA_VISIBLE_DEVICES (pipeline/gpu.py).
# `gpu_jobs_per_device` (or $STDD_GPU_JOBS_PER_DEVICE, which wins) lets N jobs share one GPU.
GPU_JOBS = jobs_per_device(default=CFG.get("gpu_jobs_per_device", 1))
GPU_LOCKS = (
    f" --gpu-lock-dir '{R}/.gpu_locks' --gpu-jobs-per-device {GPU_JOBS}" if GPUS else ""
)
# Preflight checks of a real-data run (rules/preflight.smk); the demo's data and its random
# initialisation are known, so it has neither.
CHECK_DATA = not DEMO
RANDOM_INIT_OK = CFG.get("pretrained", {}).get("allow_random_init", False)
CHECK_WEIGHTS = not DEMO and not RANDOM_INIT_OK
CHECK_DATA_REPORT = f"{R}/check_data.md"
WEIGHTS_STAMP = f"{R}/weights/check.txt"
WEIGHTS_LOCK = f"{R}/weights.lock.json"


wildcard_constraints:
    dataset="|".join(DATASETS),
    shard=r"\d{3}",
    model="|".join(MODELS),
    condition="|".join(CONDITIONS),
    testset="|".join(DATASETS),
    seed=r"\d+",


# ---- shell-command parameters ---------------------------------------------------------------
# Rules pass the interpreter and the GPU-lock option to their shell commands as params
# (`{params.py}`, `{params.gpu_locks}`), not as globals. Both take `threads`/`resources`, so
# Snakemake treats them as derived params: as before, neither a different interpreter path
# (another venv, `--sdm conda`) nor a machine with or without GPUs triggers a rerun.


def python_bin(wildcards, threads):
    """The interpreter that runs `python -m pipeline` (PY)."""
    return PY


def gpu_lock_option(wildcards, resources):
    """` --gpu-lock-dir DIR` when this machine has GPUs (GPU_LOCKS), else nothing."""
    return GPU_LOCKS


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


def code(command):
    """Package files a `python -m pipeline COMMAND` imports, declared as inputs: editing them reruns the rule."""
    return module_files(workflow.basedir, COMMANDS[command][0])


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


# ---- experiments -----------------------------------------------------------------------------


def train_runs():
    """(dataset, condition, model) of every training job: FF++ for every condition, DFDC for `all`."""
    runs = []
    if "ffpp" in DATASETS_ON:
        runs += [("ffpp", c, m) for c in CONDITIONS for m in MODELS]
    if "dfdc" in DATASETS_ON:
        runs += [("dfdc", "all", m) for m in MODELS]
    return runs


# The cross-dataset matrix: the test sets of each training set's `all` models beyond its own. Those
# of Table 2 and the Celeb-DF table test every model, the others `evaluate.cross_dataset.models` (default
# every model).
CROSS_TESTSETS = {
    "ffpp": ("dfdc", "deeperforensics", "celebdf", "dfd"),
    "dfdc": ("ffpp", "celebdf"),
}
EVERY_MODEL = {("ffpp", "deeperforensics"), ("ffpp", "celebdf")}
CROSS_MODELS = CFG["evaluate"].get("cross_dataset", {}).get("models", MODELS)


def cross_testsets(dataset, model):
    """The enabled test sets beyond its own on which the `all` model of `dataset` is evaluated."""
    return [
        t
        for t in CROSS_TESTSETS.get(dataset, ())
        if t in DATASETS_ON and ((dataset, t) in EVERY_MODEL or model in CROSS_MODELS)
    ]


def eval_runs():
    """(dataset, condition, model, testset) of every evaluation job (one per seed)."""
    runs = []
    for dataset, condition, model in train_runs():
        runs.append((dataset, condition, model, dataset))
        if condition == "all":
            runs += [
                (dataset, condition, model, t) for t in cross_testsets(dataset, model)
            ]
    return runs


def checkpoint_path(dataset, condition, model, seed=SEEDS[0]):
    """A trained model; without `seed`, the first seed's (the figures', Table 4's)."""
    return f"{R}/train/{dataset}/{condition}/{model}/seed{seed}/model.pt"


def test_manifest(testset, condition):
    """FF++ test sets keep every method for every condition; other test sets have the condition `all`."""
    return (
        f"{R}/manifests/{testset}/{condition if testset == 'ffpp' else 'all'}/test.csv"
    )


def eval_metrics():
    return [
        f"{R}/eval/{d}/{c}/{m}/seed{s}/{t}.metrics.csv"
        for d, c, m, t in eval_runs()
        for s in SEEDS
    ] + perturbation_metrics()


def perturbation_metrics():
    if "dfdc" not in DATASETS_ON:
        return []
    models = [m for m in CFG["evaluate"]["perturbation"]["models"] if m in MODELS]
    return [
        f"{R}/eval/dfdc/all/{m}/seed{SEEDS[0]}/dfdc_perturb.metrics.csv" for m in models
    ]


def figure_targets():
    targets = []
    if "ffpp" in DATASETS_ON:
        targets.append(f"{R}/figures/figure4_tsne.png")
    if gradcam_run() is not None:
        targets.append(f"{R}/figures/figure5_gradcam.png")
    return targets


def gradcam_run():
    """The 3D model shown in Figure 5: trained on DFDC as in the paper, else on FF++."""
    model = CFG["evaluate"]["gradcam"]["model"]
    if model not in MODELS:
        return None
    for dataset in ("dfdc", "ffpp"):
        if dataset in DATASETS_ON:
            return dataset, "all", model
    return None


def all_targets():
    return (
        [f"{R}/preprocess/{d}/report.csv" for d in DATASETS_ON]
        + [f"{R}/manifests/{d}/counts.csv" for d in DATASETS_ON]
        + [
            f"{R}/train/{d}/{c}/{m}/seed{s}/loss.png"
            for d, c, m in train_runs()
            for s in SEEDS
        ]
        + [f"{R}/metrics.csv", f"{R}/tables/tables.md"]
        + figure_targets()
        + ROBUSTNESS_TARGETS  # rules/robustness.smk
    )


# ---- inputs and params of single rules ---------------------------------------------------------


def manifest_outputs(dataset):
    """The manifests a dataset's `manifests_<dataset>` rule writes, beside counts.csv."""
    from pipeline.manifests import expected_outputs

    names = [p for p in expected_outputs(dataset, CONDITIONS) if p != "counts.csv"]
    return [f"{R}/manifests/{dataset}/{p}" for p in names]


def preflight(path, needed):
    """`path` as an input when the check is `needed`: `ancient`, so a check that runs again (its
    parameters or code changed) does not rerun the jobs that waited for its first pass.
    """
    return [ancient(path)] if needed else []


def train_inputs(wildcards):
    inputs = {
        "train": f"{R}/manifests/{wildcards.dataset}/{wildcards.condition}/train.csv",
        "val": f"{R}/manifests/{wildcards.dataset}/{wildcards.condition}/val.csv",
        "weights": preflight(WEIGHTS_STAMP, CHECK_WEIGHTS),
    }
    if wildcards.model in SEQUENCE_MODELS:
        inputs["init"] = checkpoint_path(
            wildcards.dataset, wildcards.condition, "efficientnet_b3", wildcards.seed
        )
    return inputs


def train_params(wildcards):
    """The run's params: `train` with this job's `seed` instead of `seeds` (adding a seed reruns nothing)."""
    train = {k: v for k, v in CFG["train"].items() if k != "seeds"}
    return as_json(
        {
            "hparams": CFG["hparams"][wildcards.model],
            "train": {**train, "seed": int(wildcards.seed)},
            "pretrained": CFG.get("pretrained", {}).get(wildcards.model, ""),
            "preprocess": PREP,
        }
    )


def init_arg(wildcards, input):
    return f"--init '{input.init}'" if "init" in input.keys() else ""


def eval_params(wildcards):
    ev = CFG["evaluate"]
    return as_json(
        {
            "stride": ev["stride"][wildcards.testset],
            "threshold": ev["threshold"],
            "batch_size": EVAL_BATCH,
        }
    )


def gradcam_input(wildcards):
    dataset, condition, model = gradcam_run()
    return {
        "checkpoint": checkpoint_path(dataset, condition, model),
        "manifest": test_manifest(dataset, condition),
    }
