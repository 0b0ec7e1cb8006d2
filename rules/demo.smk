# The embedded synthetic demo datasets (first rule of the default workflow), and the demo's pretraining: each
# detector that starts from published weights at the paper's scale starts, in the demo, from one run of its own
# on the demo DFDC's training split, whose fakes are none of FF++'s methods (`demo.pretrain`).

if DEMO:

    checkpoint demo_data:
        input:
            code=code("demo"),
        output:
            directory(CFG["demo"]["root"]),
        log:
            log_path("demo_data", "demo"),
        benchmark:
            bench_path("demo_data", "demo")
        conda:
            "../envs/demo.yaml"
        threads: 2
        params:
            p=as_json(
                {
                    k: v
                    for k, v in CFG["demo"].items()
                    if k not in ("enabled", "root", "overrides", "pretrain")
                }
            ),
            py=python_bin,
        shell:
            "{params.py:q} -m pipeline demo --out {output:q} --params {params.p:q} > {log:q} 2>&1"


if PRETRAIN:

    rule demo_pretrain:
        input:
            train=f"{R}/manifests/dfdc/all/train.csv",
            val=f"{R}/manifests/dfdc/all/val.csv",
            code=lambda wc: code("train") + detector_code(wc.model),
        output:
            model=f"{R}/pretrain/{{model}}/model.pt",
            metrics=f"{R}/pretrain/{{model}}/metrics.csv",
            curve=f"{R}/pretrain/{{model}}/loss.png",
            meta=f"{R}/pretrain/{{model}}/meta.json",
        log:
            log_path("demo_pretrain", "{model}"),
        benchmark:
            bench_path("demo_pretrain", "{model}")
        conda:
            "../envs/torch.yaml"
        threads: CFG["train"]["threads"]
        resources:
            gpu=1 if GPUS else 0,
            mem_mb=CFG["train"]["mem_mb"],
        params:
            p=pretrain_params,
            outdir=output_dir("model"),
            state=f"{R}/state/pretrain/{{model}}",
            manifests=lambda wc, input: str(Path(input.train).parent),
            py=python_bin,
            gpu_locks=gpu_lock_option,
        shell:
            "{params.py:q} -m pipeline train --model {wildcards.model:q} --dataset dfdc --condition pretrain"
            " --manifests {params.manifests:q} --out {params.outdir:q} --state {params.state:q}"
            " --params {params.p:q} {params.gpu_locks:q} > {log:q} 2>&1"
