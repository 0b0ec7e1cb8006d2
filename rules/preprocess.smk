# Preprocessing, one job per dataset shard and stage: sample -> detect -> crop; then a per-dataset report.
# Stage parameters are config slices, so changing one reruns only the stages that use it. `detect` decodes
# each video once and keeps generous face regions (pre-crops, temporary) from which `crop` cuts its crops.

SAMPLE_PARAMS = as_json({"fps": PREP["fps"], "strict": PREP["strict"]})
DETECT_PARAMS = as_json(
    {
        k: PREP[k]
        for k in (
            "detector",
            "landmarks",
            "detect_max_side",
            "upsample",
            "retry_upsample",
            "full_scan_every",
            "precrop_margin",
            "strict",
        )
    }
)
CROP_PARAMS = as_json(
    {
        k: PREP[k]
        for k in (
            "size_outlier_threshold",
            "margin",
            "crop_size",
            "jpeg_quality",
            "min_frames",
            "strict",
        )
    }
)
PRE = f"{R}/preprocess/{{dataset}}"


rule sample_frames:
    input:
        videos=shard_videos,
        code=code("sample"),
        checked=preflight(CHECK_DATA_REPORT, CHECK_DATA),
    output:
        index=f"{PRE}/index/shard{{shard}}.json",
        report=f"{PRE}/reports/sample/shard{{shard}}.csv",
    log:
        log_path("sample_frames", "{dataset}/shard{shard}"),
    benchmark:
        bench_path("sample_frames", "{dataset}/shard{shard}")
    conda:
        "../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        root=lambda wc: dataset_root(wc.dataset),
        p=SAMPLE_PARAMS,
        py=python_bin,
    shell:
        "{params.py:q} -m pipeline sample --root {params.root:q} --out {output.index:q} --report {output.report:q}"
        " --params {params.p:q} {input.videos:q} > {log:q} 2>&1"


rule detect_faces:
    input:
        index=f"{PRE}/index/shard{{shard}}.json",
        code=code("detect"),
    output:
        detections=f"{PRE}/detections/shard{{shard}}.h5",
        precrops=temp(f"{PRE}/precrops/shard{{shard}}.h5"),
        report=f"{PRE}/reports/detect/shard{{shard}}.csv",
    log:
        log_path("detect_faces", "{dataset}/shard{shard}"),
    benchmark:
        bench_path("detect_faces", "{dataset}/shard{shard}")
    conda:
        "../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=720,
    params:
        p=DETECT_PARAMS,
        py=python_bin,
    shell:
        "{params.py:q} -m pipeline detect --index {input.index:q} --out {output.detections:q}"
        " --precrops {output.precrops:q} --report {output.report:q} --params {params.p:q} > {log:q} 2>&1"


rule crop_faces:
    input:
        index=f"{PRE}/index/shard{{shard}}.json",
        detections=f"{PRE}/detections/shard{{shard}}.h5",
        precrops=f"{PRE}/precrops/shard{{shard}}.h5",
        code=code("crop"),
    output:
        store=f"{PRE}/crops/shard{{shard}}.h5",
        summary=f"{PRE}/crops/shard{{shard}}.csv",
        report=f"{PRE}/reports/crop/shard{{shard}}.csv",
    log:
        log_path("crop_faces", "{dataset}/shard{shard}"),
    benchmark:
        bench_path("crop_faces", "{dataset}/shard{shard}")
    # before any further detection: each shard's temp() pre-crops go as soon as its crops exist, so only
    # the shards in flight hold pre-crops (docs/benchmarks.md, "Preprocessing")
    priority: 1
    conda:
        "../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        p=CROP_PARAMS,
        py=python_bin,
    shell:
        "{params.py:q} -m pipeline crop --index {input.index:q} --detections {input.detections:q}"
        " --precrops {input.precrops:q} --out {output.store:q} --summary {output.summary:q}"
        " --report {output.report:q} --params {params.p:q} > {log:q} 2>&1"


rule preprocess_report:
    input:
        reports=lambda wc: shard_reports(wc.dataset),
        code=code("report"),
    output:
        report(
            f"{PRE}/report.csv",
            caption="../report/preprocess_report.rst",
            category="Preprocessing",
            labels={"dataset": "{dataset}"},
        ),
    log:
        log_path("preprocess_report", "{dataset}"),
    localrule: True
    conda:
        "../envs/preprocess.yaml"
    params:
        py=python_bin,
    shell:
        "{params.py:q} -m pipeline report --out {output:q} {input.reports:q} > {log:q} 2>&1"
