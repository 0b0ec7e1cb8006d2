# Evaluation: one job per trained model x test set; the perturbation experiment (Table 4);
# Figures 4 and 5; all metric files collected into one tidy table.

EVAL_DIR = f"{R}/eval/{{dataset}}/{{condition}}/{{model}}"


def eval_params(wildcards):
    ev = CFG["evaluate"]
    return as_json({"stride": ev["stride"][wildcards.testset], "threshold": ev["threshold"], "batch_size": 8})


rule evaluate_model:
    input:
        checkpoint=f"{R}/train/{{dataset}}/{{condition}}/{{model}}/model.pt",
        manifest=lambda wc: test_manifest(wc.testset, wc.condition),
        code=code("evaluate"),
    output:
        predictions=f"{EVAL_DIR}/{{testset}}.predictions.csv",
        metrics=f"{EVAL_DIR}/{{testset}}.metrics.csv",
    params:
        p=eval_params,
    log:
        log_path("evaluate_model", "{dataset}/{condition}/{model}/{testset}"),
    benchmark:
        bench_path("evaluate_model", "{dataset}/{condition}/{model}/{testset}")
    threads: CFG["train"]["threads"]
    resources:
        gpu=1 if GPUS else 0,
        mem_mb=8000,
        runtime=240,
    conda:
        "../envs/torch.yaml"
    shell:
        "{PY} -m pipeline evaluate --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --testset {wildcards.testset} --dataset {wildcards.dataset} --condition {wildcards.condition}"
        " --out-predictions {output.predictions:q} --out-metrics {output.metrics:q} --params {params.p:q}"
        "{GPU_LOCKS} > {log:q} 2>&1"


rule perturbation:
    input:
        checkpoint=f"{R}/train/dfdc/all/{{model}}/model.pt",
        manifest=f"{R}/manifests/dfdc/all/test.csv",
        code=code("perturb"),
    output:
        predictions=f"{R}/eval/dfdc/all/{{model}}/dfdc_perturb.predictions.csv",
        metrics=f"{R}/eval/dfdc/all/{{model}}/dfdc_perturb.metrics.csv",
    params:
        p=as_json({**CFG["evaluate"]["perturbation"], "batch_size": 8}),
    log:
        log_path("perturbation", "{model}"),
    benchmark:
        bench_path("perturbation", "{model}")
    threads: CFG["train"]["threads"]
    resources:
        gpu=1 if GPUS else 0,
        mem_mb=8000,
        runtime=120,
    conda:
        "../envs/torch.yaml"
    shell:
        "{PY} -m pipeline perturb --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --dataset dfdc --condition all --out-metrics {output.metrics:q}"
        " --out-predictions {output.predictions:q} --params {params.p:q}{GPU_LOCKS} > {log:q} 2>&1"


rule collect_metrics:
    input:
        metrics=eval_metrics(),
        code=code("collect"),
    output:
        report(f"{R}/metrics.csv", caption="../report/metrics.rst", category="Metrics"),
    log:
        log_path("collect_metrics", "metrics"),
    localrule: True
    conda:
        "../envs/tables.yaml"
    shell:
        "{PY} -m pipeline collect --out {output:q} {input.metrics:q} > {log:q} 2>&1"


rule tsne_figure:
    input:
        checkpoints=[checkpoint_path("ffpp", "all", m) for m in MODELS],
        manifest=f"{R}/manifests/ffpp/all/test.csv",
        code=code("tsne"),
    output:
        figure=report(f"{R}/figures/figure4_tsne.png", caption="../report/figure4.rst", category="Figures"),
        coords=f"{R}/figures/figure4_tsne.csv",
    params:
        p=as_json(CFG["evaluate"]["tsne"]),
    log:
        log_path("tsne_figure", "figure4"),
    threads: CFG["train"]["threads"]
    resources:
        gpu=1 if GPUS else 0,
        mem_mb=8000,
    conda:
        "../envs/torch.yaml"
    shell:
        "{PY} -m pipeline tsne --checkpoint {input.checkpoints:q} --manifest {input.manifest:q}"
        " --out {output.figure:q} --params {params.p:q}{GPU_LOCKS} > {log:q} 2>&1"


def gradcam_input(wildcards):
    dataset, condition, model = gradcam_run()
    return {
        "checkpoint": checkpoint_path(dataset, condition, model),
        "manifest": test_manifest(dataset, condition),
    }


rule gradcam_figure:
    input:
        unpack(gradcam_input),
        code=code("gradcam"),
    output:
        report(f"{R}/figures/figure5_gradcam.png", caption="../report/figure5.rst", category="Figures"),
    params:
        p=as_json({"video_index": CFG["evaluate"]["gradcam"]["video_index"], "seed": 0}),
    log:
        log_path("gradcam_figure", "figure5"),
    threads: CFG["train"]["threads"]
    resources:
        gpu=1 if GPUS else 0,
        mem_mb=8000,
    conda:
        "../envs/torch.yaml"
    shell:
        "{PY} -m pipeline gradcam --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --out {output:q} --params {params.p:q}{GPU_LOCKS} > {log:q} 2>&1"
