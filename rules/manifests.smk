# Per-split manifests for every condition of a dataset (FF++ leave-outs; DFDC part splits; test-only sets).
# One rule per dataset: each writes a different set of files (FF++: every condition and split).


for _dataset in DATASETS_ON:
    # a dataset whose real class is another's test-split originals (DeeperForensics: FF++'s)
    _real = dataset_cards()[_dataset].real_source

    rule:
        name:
            f"manifests_{_dataset}"
        input:
            summaries=crop_summaries(_dataset),
            stores=crop_stores(_dataset),
            real_summaries=crop_summaries(_real) if _real else [],
            real_stores=crop_stores(_real) if _real else [],
            ffpp_split=ffpp_test_split if _dataset == "deeperforensics" else [],
            code=code("manifests")
            + dataset_code(_dataset)
            + (dataset_code(_real) if _real else []),
        output:
            manifest_outputs(_dataset),
            counts=f"{R}/manifests/{_dataset}/counts.csv",
            problems=f"{R}/manifests/{_dataset}/problems.csv",
        log:
            log_path("manifests", _dataset),
        localrule: True
        conda:
            "../envs/tables.yaml"
        params:
            dataset=_dataset,
            outdir=output_dir("counts"),
            p=as_json(
                {
                    "datasets": CFG["datasets"],
                    "conditions": CFG["conditions"],
                    "strict": PREP["strict"],
                }
            ),
            real=["--real-summaries"] if _real else [],
            py=python_bin,
        shell:
            "{params.py:q} -m pipeline manifests --dataset {params.dataset:q} --params {params.p:q}"
            " --summaries {input.summaries:q} {params.real:q} {input.real_summaries:q}"
            " --outdir {params.outdir:q} --problems {output.problems:q} > {log:q} 2>&1"
