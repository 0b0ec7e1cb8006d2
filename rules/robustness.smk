# Beyond the paper: the FF++ `all` models on the FF++ test videos under the seven DeeperForensics-1.0
# perturbations, one job per model x perturbation (level 0 and every level; pipeline/robustness/sweep.py),
# then the per-level CSV, the table and the figure. Jobs perturb decoded frames in memory and keep their
# perturbed crops in temporary clip stores only.

ROBUST = CFG.get("robustness", {})
ROBUST_DIR = f"{R}/robustness"
ROBUST_MODELS = EXP.robustness_models()
ROBUST_METRICS = expand(
    f"{ROBUST_DIR}/{{model}}/{{perturbation}}.metrics.csv",
    model=ROBUST_MODELS,
    perturbation=ROBUST.get("perturbations", []),
)
# The report's files; all_targets() asks for them when there is a sweep to report.
ROBUSTNESS_TARGETS = (
    [f"{ROBUST_DIR}/table_robustness.md", f"{R}/figures/robustness.png"]
    if ROBUST_METRICS
    else []
)
# Each action declares the code it runs (the command module imports both lazily).
ROBUST_CLI = "pipeline/robustness/cli.py"


wildcard_constraints:
    perturbation="|".join(ROBUST.get("perturbations", [])),


rule robustness_sweep:
    input:
        checkpoint=lambda wc: checkpoint_path("ffpp", "all", wc.model),
        manifest=test_manifest("ffpp", "all"),
        detections=expand(
            f"{R}/preprocess/ffpp/detections/shard{{shard}}.h5",
            shard=shard_ids("ffpp") if ROBUST_METRICS else [],
        ),
        code=fingerprints(
            [ROBUST_CLI, *module_files(workflow.basedir, "pipeline.robustness.sweep")]
        ),
    output:
        metrics=f"{ROBUST_DIR}/{{model}}/{{perturbation}}.metrics.csv",
        predictions=f"{ROBUST_DIR}/{{model}}/{{perturbation}}.predictions.csv",
    log:
        log_path("robustness_sweep", "{model}/{perturbation}"),
    benchmark:
        bench_path("robustness_sweep", "{model}/{perturbation}")
    conda:
        "../envs/torch.yaml"
    threads: CFG["train"]["threads"]
    resources:
        gpu=1 if GPUS else 0,
        mem_mb=8000,
        runtime=720,
    params:
        p=as_json(
            {
                **{
                    k: ROBUST[k]
                    for k in ("levels", "max_videos", "seed")
                    if k in ROBUST
                },
                "stride": eval_stride("ffpp"),
                "threshold": CFG["evaluate"]["threshold"],
                "batch_size": EVAL_BATCH,
                **{
                    k: PREP[k]
                    for k in (
                        "size_outlier_threshold",
                        "margin",
                        "crop_size",
                        "jpeg_quality",
                    )
                },
            }
        ),
        root=lambda wc: dataset_root("ffpp"),
        py=python_bin,
        gpu_locks=gpu_lock_option,
    shell:
        "{params.py:q} -m pipeline robustness sweep --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --detections {input.detections:q} --root {params.root:q} --perturbation {wildcards.perturbation:q}"
        " --out-metrics {output.metrics:q} --out-predictions {output.predictions:q} --params {params.p:q}"
        " {params.gpu_locks:q} > {log:q} 2>&1"


rule robustness_report:
    input:
        metrics=ROBUST_METRICS,
        code=fingerprints(
            [ROBUST_CLI, *module_files(workflow.basedir, "pipeline.robustness.report")]
        ),
    output:
        levels=report(
            f"{ROBUST_DIR}/robustness_levels.csv",
            caption="../report/robustness_levels.rst",
            category="Robustness",
            labels={"file": "AUC per level", "format": "csv"},
        ),
        tables=[
            report(
                f"{ROBUST_DIR}/table_robustness.{ext}",
                caption="../report/robustness_table.rst",
                category="Robustness",
                labels={"file": "table", "format": ext},
            )
            for ext in ("md", "csv")
        ],
        latex=f"{ROBUST_DIR}/table_robustness.tex",
        figure=report(
            f"{R}/figures/robustness.png",
            caption="../report/robustness_figure.rst",
            category="Figures",
        ),
    log:
        log_path("robustness_report", "robustness"),
    localrule: True
    conda:
        "../envs/torch.yaml"
    params:
        table=lambda wc, output: output.latex.removesuffix(".tex"),
        py=python_bin,
    shell:
        "{params.py:q} -m pipeline robustness report --out-levels {output.levels:q} --out-table {params.table:q}"
        " --out-figure {output.figure:q} {input.metrics:q} > {log:q} 2>&1"
