# The embedded synthetic demo datasets (first rule of the default workflow).

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
                    if k not in ("enabled", "root", "overrides")
                }
            ),
            py=python_bin,
        shell:
            "{params.py:q} -m pipeline demo --out {output:q} --params {params.p:q} > {log:q} 2>&1"
