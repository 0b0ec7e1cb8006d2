# Spatio-temporal deepfake-video detection: the reference workflow.
# Stages and file contracts: docs/architecture.md. All logic lives in the `pipeline` package.
from snakemake.utils import min_version

min_version("9.0")


report: "report/workflow.rst"


configfile: "workflow_config.yaml"


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/preflight.smk"
include: "rules/preprocess.smk"
include: "rules/manifests.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/tables.smk"
include: "rules/robustness.smk"


rule all:
    default_target: True
    input:
        all_targets(),


onstart:
    start_preload()


onsuccess:
    stop_preload()


onerror:
    stop_preload()
