# The paper's tables, rebuilt from the tidy metrics table alone, each with the paper's published values
# and the differences: editing the table code, the paper's numbers or the captions reruns this rule and
# nothing upstream.

from pipeline.tables import TABLES, builder_modules

# The paper's published numbers, shown beside ours with the difference (pipeline/tables/paper.py).
PAPER_METRICS = "pipeline/tables/paper_metrics.csv"


rule tables:
    input:
        metrics=f"{R}/metrics.csv",
        paper=PAPER_METRICS,
        code=code("tables", *builder_modules()),
        cards=card_fingerprints(),
    output:
        index=report(
            f"{R}/tables/tables.md", caption="../report/tables.rst", category="Tables"
        ),
        tables=[
            report(
                f"{R}/tables/{t}.{ext}",
                caption=f"../report/{t}.rst",
                category="Tables",
                labels={"table": t, "format": ext},
            )
            for t in TABLES
            for ext in ("md", "csv")
        ],
        latex=expand(f"{R}/tables/{{t}}.tex", t=TABLES),
    log:
        log_path("tables", "tables"),
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        outdir=output_dir("index"),
        plugins=[a for p in CFG.get("plugins", []) for a in ("--plugin", p)],
        py=python_bin,
    shell:
        "{params.py:q} -m pipeline tables --metrics {input.metrics:q} --paper {input.paper:q}"
        " --out {params.outdir:q} {params.plugins:q} > {log:q} 2>&1"


rule families_figure:
    input:
        metrics=f"{R}/metrics.csv",
        code=code("families"),
        cards=card_fingerprints(),
    output:
        figure=report(
            f"{R}/figures/families.png",
            caption="../report/families.rst",
            category="Figures",
        ),
        points=f"{R}/figures/families.csv",
    log:
        log_path("families_figure", "families"),
    localrule: True
    conda:
        "../envs/tables.yaml"
    params:
        plugins=[a for p in CFG.get("plugins", []) for a in ("--plugin", p)],
        py=python_bin,
    shell:
        "{params.py:q} -m pipeline families --metrics {input.metrics:q} --out {output.figure:q}"
        " {params.plugins:q} > {log:q} 2>&1"
