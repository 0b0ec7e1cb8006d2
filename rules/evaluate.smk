# Evaluation: one job per trained model (of every seed) x test set, with bootstrap intervals; the
# perturbation experiment (Table 4, first seed); Figures 4 and 5 (first seed); all metric files
# collected into one tidy table.

EVAL_DIR = f"{R}/eval/{RUN}"


rule evaluate_model:
    input:
        checkpoint=f"{TRAIN_DIR}/model.pt",
        manifest=lambda wc: test_manifest(wc.testset, wc.condition),
        code=code("evaluate"),
    output:
        predictions=f"{EVAL_DIR}/{{testset}}.predictions.csv",
        metrics=f"{EVAL_DIR}/{{testset}}.metrics.csv",
    log:
        log_path("evaluate_model", f"{RUN}/{{testset}}"),
    benchmark:
        bench_path("evaluate_model", f"{RUN}/{{testset}}")
    conda:
        "../envs/torch.yaml"
    threads: CFG["train"]["threads"]
    resources:
        gpu=1 if GPUS else 0,
        mem_mb=8000,
        runtime=240,
    params:
        p=eval_params,
        bootstrap=as_json(CFG["evaluate"]["bootstrap"]),
        py=python_bin,
        gpu_locks=gpu_lock_option,
    shell:
        "{params.py:q} -m pipeline evaluate --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --testset {wildcards.testset:q} --dataset {wildcards.dataset:q} --condition {wildcards.condition:q}"
        " --out-predictions {output.predictions:q} --out-metrics {output.metrics:q} --params {params.p:q}"
        " --bootstrap {params.bootstrap:q} {params.gpu_locks:q} > {log:q} 2>&1"


rule perturbation:
    input:
        checkpoint=f"{R}/train/dfdc/all/{{model}}/seed{{seed}}/model.pt",
        manifest=f"{R}/manifests/dfdc/all/test.csv",
        code=code("perturb"),
    output:
        predictions=f"{R}/eval/dfdc/all/{{model}}/seed{{seed}}/dfdc_perturb.predictions.csv",
        metrics=f"{R}/eval/dfdc/all/{{model}}/seed{{seed}}/dfdc_perturb.metrics.csv",
    log:
        log_path("perturbation", "{model}/seed{seed}"),
    benchmark:
        bench_path("perturbation", "{model}/seed{seed}")
    conda:
        "../envs/torch.yaml"
    threads: CFG["train"]["threads"]
    resources:
        gpu=1 if GPUS else 0,
        mem_mb=8000,
        runtime=120,
    params:
        p=as_json({**CFG["evaluate"]["perturbation"], "batch_size": EVAL_BATCH}),
        py=python_bin,
        gpu_locks=gpu_lock_option,
    shell:
        "{params.py:q} -m pipeline perturb --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --dataset dfdc --condition all --out-metrics {output.metrics:q}"
        " --out-predictions {output.predictions:q} --params {params.p:q} {params.gpu_locks:q} > {log:q} 2>&1"


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
    params:
        py=python_bin,
    shell:
        "{params.py:q} -m pipeline collect --out {output:q} {input.metrics:q} > {log:q} 2>&1"


rule tsne_figure:
    input:
        checkpoints=[checkpoint_path("ffpp", "all", m) for m in EXP.tsne_models()],
        manifest=f"{R}/manifests/ffpp/all/test.csv",
        code=code("tsne"),
    output:
        figure=report(
            f"{R}/figures/figure4_tsne.png",
            caption="../report/figure4.rst",
            category="Figures",
        ),
        coords=f"{R}/figures/figure4_tsne.csv",
    log:
        log_path("tsne_figure", "figure4"),
    conda:
        "../envs/torch.yaml"
    threads: CFG["train"]["threads"]
    resources:
        gpu=1 if GPUS else 0,
        mem_mb=8000,
    params:
        p=as_json(CFG["evaluate"]["tsne"]),
        py=python_bin,
        gpu_locks=gpu_lock_option,
    shell:
        "{params.py:q} -m pipeline tsne --checkpoint {input.checkpoints:q} --manifest {input.manifest:q}"
        " --out {output.figure:q} --params {params.p:q} {params.gpu_locks:q} > {log:q} 2>&1"


rule gradcam_figure:
    input:
        unpack(gradcam_input),
        code=code("gradcam"),
    output:
        report(
            f"{R}/figures/figure5_gradcam.png",
            caption="../report/figure5.rst",
            category="Figures",
        ),
    log:
        log_path("gradcam_figure", "figure5"),
    conda:
        "../envs/torch.yaml"
    threads: CFG["train"]["threads"]
    resources:
        gpu=1 if GPUS else 0,
        mem_mb=8000,
    params:
        p=as_json(
            {
                "video_index": CFG["evaluate"]["gradcam"]["video_index"],
                "seed": 0,
                "clip_len": CFG["evaluate"]["perturbation"].get("clip_len"),
            }
        ),
        py=python_bin,
        gpu_locks=gpu_lock_option,
    shell:
        "{params.py:q} -m pipeline gradcam --checkpoint {input.checkpoint:q} --manifest {input.manifest:q}"
        " --out {output:q} --params {params.p:q} {params.gpu_locks:q} > {log:q} 2>&1"
