"""One rendering path for every table: Markdown (tabulate), LaTeX (booktabs) and CSV."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from pipeline.io import atomic_path

MISSING_MD = "–"
MISSING_TEX = "--"


@dataclass
class Table:
    """A finished table: numeric cells (NaN = missing) under a named row index, plus caption and notes."""

    name: str
    caption: str
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    decimals: int = 2


def frame_from_rows(rows: dict, index: str | list[str], columns: list[str]) -> pd.DataFrame:
    """Rows (`{row label: {column: number}}`) -> a numeric frame with these columns; absent cells are NaN.

    With several index names, row labels are tuples.
    """
    names = [index] if isinstance(index, str) else index
    labels = list(rows)
    idx = (pd.MultiIndex.from_tuples(labels, names=names) if len(names) > 1
           else pd.Index(labels, name=names[0], dtype=object))
    data = [[rows[label].get(c, math.nan) for c in columns] for label in labels]
    return pd.DataFrame(data, index=idx, columns=columns, dtype=float)


def cell_text(value: object, decimals: int, missing: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    if isinstance(value, int | float):
        return f"{value:.{decimals}f}"
    return str(value)


def render_body(table: Table, tablefmt: str, missing: str) -> str:
    """The table itself via tabulate: row labels (the index) left-aligned first, numbers right-aligned."""
    flat = table.frame.reset_index()
    body = [[cell_text(v, table.decimals, missing) for v in row] for row in flat.itertuples(index=False)]
    n_labels = table.frame.index.nlevels
    align = ["left"] * n_labels + ["right"] * (flat.shape[1] - n_labels)
    text = tabulate(body, headers=[str(c) for c in flat.columns], tablefmt=tablefmt, colalign=align,
                    disable_numparse=True)
    # without rows tabulate leaves the LaTeX column spec empty, which does not compile
    return text.replace("{tabular}{}", "{tabular}{" + "l" * flat.shape[1] + "}")


def to_markdown(table: Table) -> str:
    text = render_body(table, "pipe", MISSING_MD)
    notes = "".join(f"\n\n{n}" for n in table.notes)
    return f"**{table.caption}**\n\n{text}{notes}\n"


def to_latex(table: Table) -> str:
    text = render_body(table, "latex_booktabs", MISSING_TEX)
    notes = "".join(f"\n{{\\footnotesize {_tex_escape(n)}\\par}}" for n in table.notes)
    return (f"\\begin{{table}}\n\\centering\n\\caption{{{_tex_escape(table.caption)}}}\n"
            f"\\label{{tab:{table.name}}}\n{text}\n{notes}\n\\end{{table}}\n")


def to_csv(table: Table) -> str:
    """Full-precision numbers; missing cells are empty."""
    return table.frame.reset_index().to_csv(index=False)


def write_tables(tables: list[Table], out_dir: str | os.PathLike) -> list[Path]:
    """`<name>.md/.tex/.csv` for every table, plus `tables.md` holding all of them with their captions."""
    out = Path(out_dir)
    written = []
    for table in tables:
        for suffix, text in ((".md", to_markdown(table)), (".tex", to_latex(table)), (".csv", to_csv(table))):
            written.append(_write(out / f"{table.name}{suffix}", text))
    written.append(_write(out / "tables.md", "\n".join(to_markdown(t) for t in tables)))
    return written


def _write(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def _tex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("–", "--")):
        text = text.replace(a, b)
    return text
