# The paper's tables, rebuilt from the tidy metrics table alone: editing the table code or captions
# reruns this rule and nothing upstream.

TABLES = ["table1", "table_b6", "table2", "table3", "table4", "table_celebdf", "table_dfdc"]


rule tables:
    input:
        metrics=f"{R}/metrics.csv",
        code=code("tables"),
    output:
        index=report(f"{R}/tables/tables.md", caption="../report/tables.rst", category="Tables"),
        tables=[
            report(f"{R}/tables/{t}.{ext}", caption=f"../report/{t}.rst", category="Tables", labels={"table": t, "format": ext})
            for t in TABLES
            for ext in ("md", "csv")
        ],
        latex=expand(f"{R}/tables/{{t}}.tex", t=TABLES),
    log:
        log_path("tables", "tables"),
    localrule: True
    conda:
        "../envs/tables.yaml"
    shell:
        "{PY} -m pipeline tables --metrics {input.metrics:q} --out {R}/tables > {log:q} 2>&1"
