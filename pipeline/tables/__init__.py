"""The paper's tables, rebuilt from the tidy metrics table alone (so published numbers can be fed in too).

`TABLES` is the one list of tables: name -> the `module:function` that builds it from a `Metrics`. The
`tables` command builds them in this order, and the workflow declares each table's files, its caption
(`report/<name>.rst`) and the builders' modules as code inputs from it. Standard library only.
"""
TABLES: dict[str, str] = {
    "table1": "pipeline.tables.generalization:table1",
    "table_b6": "pipeline.tables.generalization:table_b6",
    "table2": "pipeline.tables.crossdata:table2",
    "table3": "pipeline.tables.generalization:table3",
    "table4": "pipeline.tables.perturbation:table4",
    "table_celebdf": "pipeline.tables.crossdata:table_celebdf",
    "table_dfdc": "pipeline.tables.crossdata:table_dfdc",
    "table_cross": "pipeline.tables.crossdata:table_cross",
}


def builder_modules() -> list[str]:
    """The modules that hold the builders, in order, without repeats."""
    return list(dict.fromkeys(target.split(":")[0] for target in TABLES.values()))
