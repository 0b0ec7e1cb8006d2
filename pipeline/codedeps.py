"""Which package source files a command runs: the transitive `pipeline.*` imports of its module.

Snakemake reruns a job when a declared input changes, but it cannot see the modules a command imports.
The rules declare these files as inputs, so editing a stage's code reruns that stage (and what depends
on it) and nothing else. Standard library only: the Snakefile calls this while building the DAG.
"""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = "pipeline"


def _module_file(root: Path, module: str) -> Path | None:
    """The file of a dotted module name below `root` (a package's `__init__.py`), or None."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parents(module: str) -> list[str]:
    """`a.b.c` -> [`a`, `a.b`]: importing a module runs its parent packages' `__init__`."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@cache
def _imports(path: Path, module: str) -> tuple[str, ...]:
    """`pipeline.*` modules imported anywhere in a file (also inside functions)."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != PACKAGE:
                continue
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import submodule`
    return tuple(sorted(found))


def module_files(root: str | Path, *modules: str) -> list[str]:
    """Source files (relative to `root`) that running `modules` imports from the package, sorted."""
    root = Path(root)
    seen: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = _module_file(root, module)
        if path is None:
            continue  # a name imported from a module, not a module itself
        seen[module] = path
        todo += _parents(module) + list(_imports(path, module))
    return sorted(str(p.relative_to(root)) for p in seen.values())
