"""Which package source files a command runs, and fingerprints of their code that ignore comments.

Snakemake reruns a job when a declared input changes, but it cannot see the modules a command imports.
The rules declare, per job, a fingerprint of every module its command imports (the transitive
`pipeline.*` imports; a detector's own module only for its own jobs). A fingerprint holds a hash of the
module's syntax tree without docstrings and is rewritten only when that hash changes, so editing a
stage's code reruns that stage (and what depends on it), and an edit of comments, docstrings, blank lines
or formatting reruns nothing. Standard library only: the Snakefile calls this while building the DAG.
"""
from __future__ import annotations

import ast
import hashlib
import os
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


def file_imports(path: str | Path) -> list[str]:
    """The `pipeline.*` modules a source file outside the package (a plugin) imports."""
    return list(_imports(Path(path), "plugin"))


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


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:]
    return tree


def code_digest(path: str | Path) -> str:
    """SHA-256 of a Python file's code: its syntax tree without docstrings, comments or layout."""
    text = Path(path).read_text(encoding="utf-8")
    tree = _without_docstrings(ast.parse(text, filename=str(path)))
    return hashlib.sha256(ast.dump(tree, annotate_fields=False).encode("utf-8")).hexdigest()


def fingerprint(path: str | Path, folder: str | Path, name: str) -> str:
    """The fingerprint file `folder/name.sha256` of `path`, rewritten (atomically) only when the code's
    digest changes, so its modification time is that of the last code change. Non-Python files are their
    own fingerprint."""
    if not str(path).endswith(".py"):
        return str(path)
    return write_digest(code_digest(path), folder, name)


def write_digest(digest: str, folder: str | Path, name: str) -> str:
    """The file `folder/name.sha256` holding `digest`, written (atomically) only when it differs."""
    target = Path(folder) / f"{name}.sha256"
    try:
        if target.read_text(encoding="utf-8").strip() == digest:
            return str(target)
    except OSError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(digest + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return str(target)
