# Preflight checks of a real-data run (demo off), before any compute: which listed videos are
# present (check-data, before preprocessing) and whether the pretrained weights training loads are
# present and verified (before training, unless `pretrained.allow_random_init`). Both are local and
# take seconds; a failed check stops the run, and Snakemake shows its log (`show-failed-logs` in the
# profiles): one line per missing dataset part or model. Their outputs are `ancient` inputs of the
# jobs that wait for them (`preflight()` in common.smk), so a check that reruns (its parameters or
# code changed) does not rerun those jobs; delete an output to run its check again.

if CHECK_DATA:

    rule check_data:
        input:
            code=code("check-data") + [f for d in DATASETS_ON for f in dataset_code(d)],
        output:
            CHECK_DATA_REPORT,
        log:
            log_path("check_data", "check_data"),
        localrule: True
        conda:
            "../envs/tables.yaml"
        params:
            p=as_json({"datasets": CFG["datasets"]}),
            strict=["--strict"] if PREP["strict"] else [],
            py=python_bin,
        shell:
            "{params.py:q} -m pipeline check-data --params {params.p:q} --out {output:q} {params.strict:q}"
            " > {log:q} 2>&1"


if CHECK_WEIGHTS:

    rule check_weights:
        input:
            code=code("weights"),
        output:
            WEIGHTS_STAMP,
        log:
            log_path("check_weights", "weights"),
        localrule: True
        conda:
            "../envs/torch.yaml"
        params:
            models=MODELS,
            plugins=[a for p in CFG.get("plugins", []) for a in ("--plugin", p)],
            lock=WEIGHTS_LOCK,
            pretrained=as_json(CFG.get("pretrained", {})),
            py=python_bin,
        shell:
            "{params.py:q} -m pipeline weights check {params.models:q} {params.plugins:q} --lock {params.lock:q}"
            " --pretrained {params.pretrained:q} --out {output:q} > {log:q} 2>&1"
