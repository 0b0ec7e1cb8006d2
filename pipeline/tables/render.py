"""One rendering path for every table: Markdown (tabulate), LaTeX (booktabs) and CSV.

A cell is the mean over training seeds (`pipeline.tables.seeds`); where several seeds have it, Markdown
and LaTeX print `mean ± std` and the CSV has a `<column> std` column. Cells that are one accuracy or AUC
carry the bootstrap 95 % interval over test videos in the CSV only (`<column> ci_low`, `<column> ci_high`).

A table can carry the paper's values of its cells (`with_paper`). Markdown and LaTeX then print, under
each row of ours, the paper's row and the difference (ours − paper), so every reproduced number stands
above its published one in the same column; the CSV keeps one row per table row, with the columns
`<column>`, `<column> paper` and `<column> diff` side by side.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from pipeline.io import atomic_path

MISSING_MD = "–"
MISSING_TEX = "--"
OURS, PAPER = "ours", "paper"
DIFF_MD, DIFF_TEX, DIFF_CSV = "Δ", "diff", "diff"  # the difference row's label (plain "diff" in LaTeX)
PLUS_MINUS = " ± "
STD, CI_LOW, CI_HIGH = "std", "ci_low", "ci_high"  # suffixes of the CSV's spread and interval columns


@dataclass
class Table:
    """A finished table: numeric cells (NaN = missing) under a named row index, plus caption and notes.

    `derived`: columns whose cells combine several metrics (differences, averages): they get no interval.
    The other frames have the index and columns of `frame` (NaN where a cell has none), or are None:
    `std`: the standard deviation over seeds (None with one seed); `ci_low`, `ci_high`: the bootstrap
    95 % interval (None without intervals); `paper`: the paper's values of the same cells.
    """

    name: str
    caption: str
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    decimals: int = 2
    derived: tuple[str, ...] = ()
    std: pd.DataFrame | None = None
    ci_low: pd.DataFrame | None = None
    ci_high: pd.DataFrame | None = None
    paper: pd.DataFrame | None = None


def with_paper(table: Table, paper: Table, note: str = "") -> Table:
    """`table` with the paper's values of its cells (`paper`, the same table built from the published
    numbers); rows only the paper has are added, with our cells missing. Unchanged when the paper has
    no value for any cell of it."""
    if paper.frame.isna().all().all():
        return table
    labels = list(table.frame.index)
    labels += [label for label in paper.frame.index if label not in set(labels)]
    names = list(table.frame.index.names)
    index = (pd.MultiIndex.from_tuples(labels, names=names) if len(names) > 1
             else pd.Index(labels, name=names[0], dtype=object))
    published = paper.frame.reindex(index=index, columns=table.frame.columns)
    spread = {name: None if getattr(table, name) is None else getattr(table, name).reindex(index)
              for name in ("std", "ci_low", "ci_high")}
    return replace(table, frame=table.frame.reindex(index), paper=published, **spread,
                   notes=[*table.notes, *([note] if note else [])])


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


def diff_text(value: float, decimals: int, missing: str) -> str:
    """A signed difference; zero prints as 0.00 (never -0.00 or +0.00)."""
    if math.isnan(value):
        return missing
    text = f"{value:+.{decimals}f}"
    return text[1:] if float(text) == 0 else text


def mean_text(value: float, std: float, decimals: int, missing: str) -> str:
    """A cell of ours: the mean, with `± std` where several seeds have it."""
    text = cell_text(value, decimals, missing)
    return text if math.isnan(value) or math.isnan(std) else f"{text}{PLUS_MINUS}{std:.{decimals}f}"


def body_rows(table: Table, missing: str, diff_label: str) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of cell texts: row labels first; with paper values, a label column more and each
    row of ours followed by the paper's row and the difference row (where the paper has a value)."""
    n_labels = table.frame.index.nlevels
    names = ["" if n is None else str(n) for n in table.frame.index.names]
    columns = [str(c) for c in table.frame.columns]
    labels = [list(label) if n_labels > 1 else [label] for label in table.frame.index]
    ours = table.frame.to_numpy(dtype=float)
    stds = np.full_like(ours, np.nan) if table.std is None else table.std.to_numpy(dtype=float)

    def cells(values, spread=None) -> list[str]:
        spread = np.full(len(values), np.nan) if spread is None else spread
        return [mean_text(float(v), float(s), table.decimals, missing) for v, s in zip(values, spread, strict=True)]

    if table.paper is None:
        return names + columns, [[cell_text(x, 0, missing) for x in label] + cells(values, spread)
                                 for label, values, spread in zip(labels, ours, stds, strict=True)]
    paper = table.paper.to_numpy(dtype=float)
    rows = []
    for label, values, spread, published in zip(labels, ours, stds, paper, strict=True):
        rows.append([cell_text(x, 0, missing) for x in label] + [OURS] + cells(values, spread))
        if not np.isnan(published).all():
            rows.append([""] * n_labels + [PAPER] + cells(published))
            rows.append([""] * n_labels + [diff_label] +
                        [diff_text(float(d), table.decimals, missing) for d in values - published])
    return names + [""] + columns, rows


def render_body(table: Table, tablefmt: str, missing: str, diff_label: str = DIFF_MD) -> str:
    """The table itself via tabulate: row labels (the index) left-aligned first, numbers right-aligned."""
    headers, body = body_rows(table, missing, diff_label)
    n_labels = table.frame.index.nlevels + (table.paper is not None)
    align = ["left"] * n_labels + ["right"] * (len(headers) - n_labels)
    text = tabulate(body, headers=headers, tablefmt=tablefmt, colalign=align, disable_numparse=True)
    # without rows tabulate leaves the LaTeX column spec empty, which does not compile
    return text.replace("{tabular}{}", "{tabular}{" + "l" * len(headers) + "}")


def to_markdown(table: Table) -> str:
    text = render_body(table, "pipe", MISSING_MD)
    notes = "".join(f"\n\n{n}" for n in table.notes)
    return f"**{table.caption}**\n\n{text}{notes}\n"


def to_latex(table: Table) -> str:
    text = render_body(table, "latex_booktabs", MISSING_TEX, DIFF_TEX).replace("±", r"$\pm$")  # tabulate keeps ±
    notes = "".join(f"\n{{\\footnotesize {_tex_escape(n)}\\par}}" for n in table.notes)
    return (f"\\begin{{table}}\n\\centering\n\\caption{{{_tex_escape(table.caption)}}}\n"
            f"\\label{{tab:{table.name}}}\n{text}\n{notes}\n\\end{{table}}\n")


def to_csv(table: Table) -> str:
    """Full-precision numbers; missing cells are empty. Each column `C` is followed by `C std` (several
    seeds), `C ci_low` and `C ci_high` (intervals; not for derived columns), and with paper values by
    `C paper` and `C diff` (ours − paper)."""
    columns = {}
    for c in table.frame.columns:
        columns[c] = table.frame[c]
        if table.std is not None:
            columns[f"{c} {STD}"] = table.std[c]
        if table.ci_low is not None and table.ci_high is not None and c not in table.derived:
            columns[f"{c} {CI_LOW}"], columns[f"{c} {CI_HIGH}"] = table.ci_low[c], table.ci_high[c]
        if table.paper is not None:
            columns[f"{c} {PAPER}"] = table.paper[c]
            columns[f"{c} {DIFF_CSV}"] = table.frame[c] - table.paper[c]
    return pd.DataFrame(columns, index=table.frame.index, columns=list(columns)).reset_index().to_csv(index=False)


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
                 ("–", "--"), ("−", "-"), ("Δ", r"$\Delta$"), ("±", r"$\pm$")):
        text = text.replace(a, b)
    return text
