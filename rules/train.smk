# One training job per dataset x condition x model x seed; a detector whose card names a backbone (the
# sequence models) starts from that detector's checkpoint of the same dataset, condition and seed. Resume
# state lives outside the declared outputs.


RUN = "{dataset}/{condition}/{model}/seed{seed}"
TRAIN_DIR = f"{R}/train/{RUN}"


rule train_model:
    input:
        unpack(train_inputs),
    output:
        model=f"{TRAIN_DIR}/model.pt",
        metrics=report(
            f"{TRAIN_DIR}/metrics.csv",
            caption="../report/train_metrics.rst",
            category="Training",
            labels={
                "dataset": "{dataset}",
                "condition": "{condition}",
                "model": "{model}",
                "seed": "{seed}",
                "file": "metrics",
            },
        ),
        curve=report(
            f"{TRAIN_DIR}/loss.png",
            caption="../report/train_curve.rst",
            category="Training",
            labels={
                "dataset": "{dataset}",
                "condition": "{condition}",
                "model": "{model}",
                "seed": "{seed}",
                "file": "loss curve",
            },
        ),
        meta=f"{TRAIN_DIR}/meta.json",
    log:
        log_path("train_model", RUN),
    benchmark:
        bench_path("train_model", RUN)
    conda:
        "../envs/torch.yaml"
    threads: CFG["train"]["threads"]
    resources:
        gpu=1 if GPUS else 0,
        mem_mb=CFG["train"]["mem_mb"],
        runtime=CFG["train"]["runtime"],
    params:
        p=train_params,
        init=init_arg,
        outdir=TRAIN_DIR,
        state=f"{R}/state/train/{RUN}",
        manifests=f"{R}/manifests/{{dataset}}/{{condition}}",
        py=python_bin,
        gpu_locks=gpu_lock_option,
    shell:
        "{params.py:q} -m pipeline train --model {wildcards.model:q} --dataset {wildcards.dataset:q}"
        " --condition {wildcards.condition:q} --manifests {params.manifests:q} --out {params.outdir:q}"
        " --state {params.state:q} --params {params.p:q} {params.init:q} {params.gpu_locks:q} > {log:q} 2>&1"
