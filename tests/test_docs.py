"""The documentation stays true: its commands, flags, file paths and links exist.

Checked in README.md, docs/*.md and config/README.md (CHANGELOG.md is history and is left out), in
fenced shell blocks and in inline code:

* every `python -m pipeline COMMAND ...` (also `.venv/bin/python -m pipeline ...`) names a command of
  `pipeline/commands.py`, and its `--flags` are options of that command's parser (and of the
  sub-command it names, e.g. `robustness sweep`);
* every `snakemake ...` (also `.venv/bin/snakemake`) uses only flags that `snakemake --help` lists;
* every `make ...` names a Makefile target;
* every file path such a command names (a token with a `/`, or ending in .yaml, .py, .smk, .md, .csv,
  .json or .sh, that does not start with `results/`, `/`, `$` or a placeholder like `my_`) exists, and so
  does every path in any code span that starts with one of the repository's top-level folders
  (`pipeline/...`, `rules/*.smk`, `pipeline/models/<name>.py` as a pattern);
* every relative Markdown link (and image) resolves, including `#anchors` to headings.

HTML comments (`<!-- ... -->`, e.g. the placeholders for measured numbers) are not checked. Besides,
the README's rule table lists every rule and command, and config/README.md has a section for every
top-level key of the config schema.
"""
from __future__ import annotations

import functools
import importlib
import itertools
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.__main__ import command_parser  # noqa: E402
from pipeline.commands import COMMANDS  # noqa: E402

PATH_SUFFIXES = (".yaml", ".py", ".smk", ".md", ".csv", ".json", ".sh")
NOT_REPO_PATHS = ("results/", "/", "$", "~", "my_", "http:", "https:", "file:", "<", "{", "[")
SHELL_FENCES = ("", "bash", "sh", "shell", "console")
PYTHONS = ("python", "python3", ".venv/bin/python", ".venv/bin/python3")
WRAPPERS = ("time", "env", "nohup")  # words that run the command after them
SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")"}


def doc_files(root: Path = ROOT) -> list[Path]:
    """The documentation pages the test checks (CHANGELOG.md excluded)."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md")), root / "config" / "README.md"]


# ---- reading Markdown --------------------------------------------------------------------------


def strip_comments(text: str) -> str:
    """The text without HTML comments, keeping their line breaks (so line numbers stay right)."""
    return re.sub(r"<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)


def split_fences(text: str) -> tuple[list[tuple[int, str, str]], list[tuple[int, str]]]:
    """(fenced lines as (line number, language, line), prose lines as (line number, line))."""
    fenced, prose, fence, lang = [], [], None, ""
    for number, line in enumerate(text.splitlines(), 1):
        match = re.match(r"\s*(`{3,}|~{3,})\s*([\w+-]*)", line)
        if fence is None and match:
            fence, lang = match.group(1), match.group(2).lower()
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is not None:
            fenced.append((number, lang, line))
        else:
            prose.append((number, line))
    return fenced, prose


def inline_code(line: str) -> list[str]:
    """The inline code spans of one line of prose."""
    return [m.group(2).strip() for m in re.finditer(r"(`+)(.+?)\1", line)]


def shell_lines(fenced: list[tuple[int, str, str]]) -> list[tuple[int, str]]:
    """The lines of shell blocks, with `\\` continuations joined."""
    out, pending, start = [], "", 0
    for number, lang, line in fenced:
        if lang not in SHELL_FENCES:
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append((start, pending + line))
        pending = ""
    if pending:
        out.append((start, pending))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation other than - and _ removed, spaces -> -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


@functools.cache
def anchors(path: Path) -> frozenset[str]:
    """The anchors of a Markdown file's headings (GitHub numbers repeated ones -1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    _, prose = split_fences(path.read_text(encoding="utf-8"))
    for _, line in prose:
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        out.add(f"{base}-{seen[base]}" if base in seen else base)
        seen[base] = seen.get(base, 0) + 1
    return frozenset(out)


# ---- what exists ---------------------------------------------------------------------------------


@functools.cache
def pipeline_parsers(name: str):
    return command_parser(name, importlib.import_module(COMMANDS[name][0]))


@functools.cache
def snakemake_options() -> frozenset[str]:
    """The long options `snakemake --help` lists (run once; outside the repository, so no profile loads)."""
    exe = Path(sys.executable).with_name("snakemake")
    command = [str(exe) if exe.exists() else (shutil.which("snakemake") or "snakemake"), "--help"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd="/", check=True).stdout
    return frozenset(re.findall(r"(?<![\w-])--[A-Za-z0-9][\w-]*", out))


@functools.cache
def make_targets(makefile: Path) -> frozenset[str]:
    targets = set()
    for line in makefile.read_text(encoding="utf-8").splitlines():
        match = re.match(r"([A-Za-z0-9][\w.\- ]*?)\s*::?(?!=)", line)
        if match and not line.startswith("\t"):
            targets.update(match.group(1).split())
    return frozenset(targets)


@functools.cache
def make_options() -> frozenset[str]:
    if shutil.which("make") is None:
        return frozenset()
    out = subprocess.run(["make", "--help"], capture_output=True, text=True, timeout=60).stdout
    return frozenset(re.findall(r"(?<![\w-])--?[A-Za-z0-9][\w-]*", out))


@functools.cache
def top_folders(root: Path) -> tuple[str, ...]:
    return tuple(f"{p.name}/" for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
                 and p.name != "results")


def expand_braces(text: str) -> list[str]:
    match = re.search(r"\{([^{}]*,[^{}]*)\}", text)
    if not match:
        return [text]
    return [x for part in match.group(1).split(",")
            for x in expand_braces(text[:match.start()] + part + text[match.end():])]


def path_exists(token: str, root: Path) -> bool:
    """Whether a repo-relative path (braces expanded; `*`, `?` and `<placeholder>` as wildcards) exists."""
    token = token.split("::")[0].split("#")[0]
    for candidate in expand_braces(token):
        pattern = re.sub(r"<[^<>]*>", "*", candidate).rstrip("/")
        if any(c in pattern for c in "*?["):
            if next(iter(root.glob(pattern)), None) is not None:
                continue
            return False
        if not (root / pattern).exists():
            return False
    return True


def clean_token(token: str) -> str:
    return token.strip("`'\",;:()").rstrip(".")


# ---- the checks -----------------------------------------------------------------------------------


def tokens_of(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars="();<>|&")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes in prose-like code: words are enough
        return text.split("#")[0].split()


def commands_of(text: str) -> list[list[str]]:
    """The simple commands of a shell snippet, each without leading VAR=value words and wrappers."""
    out, current = [], []
    for token in tokens_of(text) + [";"]:
        if token in SEPARATORS or set(token) <= set("<>&|;"):
            if current:
                out.append(current)
            current = []
            continue
        if not current and (re.match(r"[A-Za-z_]\w*=", token) or token in WRAPPERS):
            continue
        current.append(token)
    return out


def is_command_path(token: str) -> bool:
    """A token that looks like a repo-relative path (the command checks)."""
    if token.startswith("-") or "=" in token or token.startswith(NOT_REPO_PATHS) or "..." in token:
        return False
    return "/" in token or token.endswith(PATH_SUFFIXES)


def check_pipeline(words: list[str]) -> list[str]:
    """`words` after `python -m pipeline`."""
    if not words or words[0].isupper() or words[0].startswith(("<", "-")):  # `python -m pipeline COMMAND ...`
        return [f"flag {w} (no command)" for w in words[1:] if w.startswith("--") and w != "--help"]
    name = words[0]
    if name not in COMMANDS:
        return [f"no pipeline command {name!r} (pipeline/commands.py has {', '.join(COMMANDS)})"]
    parser = pipeline_parsers(name)
    options = set(parser._option_string_actions)  # noqa: SLF001
    positionals = [a for a in parser._actions if not a.option_strings]  # noqa: SLF001
    problems, first = [], True
    rest = words[1:]
    for i, word in enumerate(rest):
        if word.startswith("-"):
            continue
        if i and rest[i - 1].startswith("--") and "=" not in rest[i - 1]:
            continue  # an option's value (all of the documented options take one)
        subparsers = [a for a in positionals if hasattr(a, "_name_parser_map")]
        if subparsers and word in subparsers[0].choices:
            sub = subparsers[0].choices[word]
            options |= set(sub._option_string_actions)  # noqa: SLF001
            positionals = [a for a in sub._actions if not a.option_strings]  # noqa: SLF001
            continue
        if first and positionals and positionals[0].choices and not hasattr(positionals[0], "_name_parser_map"):
            if word not in positionals[0].choices and not word.isupper():
                problems.append(f"pipeline {name}: {word!r} is not one of {', '.join(positionals[0].choices)}")
        first = False
    for word in rest:
        flag = word.split("=")[0]
        if flag.startswith("--") and flag not in options:
            problems.append(f"pipeline {name}: no option {flag}")
    return problems


def check_command(words: list[str], root: Path, makefile: Path) -> list[str]:
    """Problems of one simple command; commands the documentation checks are pipeline, snakemake and make."""
    program = words[0]
    if program in PYTHONS and words[1:3] == ["-m", "pipeline"]:
        problems, args = check_pipeline(words[3:]), words[3:]
    elif Path(program).name == "snakemake":
        args = words[1:]
        problems = [f"snakemake: no option {w.split('=')[0]}" for w in args
                    if w.startswith("--") and w.split("=")[0] not in snakemake_options()]
    elif program == "make":
        args = words[1:]
        problems = [f"make: no option {w}" for w in args if w.startswith("-") and make_options()
                    and w.split("=")[0] not in make_options()]
        problems += [f"make: no target {w!r} in {makefile.name}" for w in args
                     if not w.startswith("-") and "=" not in w and w not in make_targets(makefile)]
    else:
        return []
    values = [w.split("=", 1)[1] for w in args if w.startswith("--") and "=" in w]
    problems += [f"no file {w}" for w in [*args, *values] if is_command_path(w) and not path_exists(w, root)]
    return problems


def check_repo_paths(code: str, root: Path) -> list[str]:
    """Any path in a code span that starts with a top-level folder of the repository must exist."""
    problems = []
    for word in code.split():
        token = clean_token(word)
        if token.startswith(top_folders(root)) and "..." not in token and not path_exists(token, root):
            problems.append(f"no file {token}")
    return problems


def check_links(prose: list[tuple[int, str]], where: Path, root: Path) -> list[tuple[int, str]]:
    problems = []
    for number, line in prose:
        line = re.sub(r"(`+).+?\1", "", line)
        for match in re.finditer(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", line):
            target = match.group(1)
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            file = (where.parent / path).resolve() if path else where
            if not file.exists():
                problems.append((number, f"link {target}: no such file"))
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                problems.append((number, f"link {target}: no heading #{anchor} in {file.name}"))
    return problems


def check_doc(path: Path, root: Path = ROOT, as_path: Path | None = None,
              makefile: Path | None = None) -> list[str]:
    """Every problem of one documentation file, as `FILE:LINE: what`. `as_path`: where the file stands in
    the repository (links resolve from there), for a copy checked from elsewhere."""
    where = as_path or path
    makefile = makefile or root / "Makefile"
    text = path.read_text(encoding="utf-8")
    to_write = set(re.findall(r"<!-- file: (\S+) -->", text))  # files a walk-through tells the reader to write
    fenced, prose = split_fences(strip_comments(text))
    found: list[tuple[int, str]] = []
    for number, line in shell_lines(fenced):
        for words in commands_of(line):
            found += [(number, p) for p in check_command(words, root, makefile)]
        found += [(number, p) for p in check_repo_paths(line, root)]
    for number, line in prose:
        for code in inline_code(line):
            for words in commands_of(code):
                found += [(number, p) for p in check_command(words, root, makefile)]
            found += [(number, p) for p in check_repo_paths(code, root)]
    found += check_links(prose, where, root)
    name = where.relative_to(root) if where.is_relative_to(root) else where
    return [f"{name}:{number}: {problem}" for number, problem in sorted(set(found))
            if problem.removeprefix("no file ") not in to_write]


# ---- tests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_commands_flags_paths_and_links_exist(doc):
    assert doc.is_file(), f"{doc} is missing"
    problems = check_doc(doc)
    assert not problems, "\n".join(problems)


BAD_SNIPPETS = {
    "flag": ("```bash\n.venv/bin/python -m pipeline tables --metrics results/metrics.csv --no-such-flag 1\n```",
             "no option --no-such-flag"),
    "command": ("Run `python -m pipeline no-such-command --out x`.", "no pipeline command 'no-such-command'"),
    "subcommand flag": ("`python -m pipeline robustness sweep --out-table t`", "no option --out-table"),
    "snakemake flag": ("```bash\nSTDD_GPUS=1 .venv/bin/snakemake --no-such-option -n\n```",
                       "snakemake: no option --no-such-option"),
    "make target": ("Then `make no-such-target`.", "make: no target 'no-such-target'"),
    "path": ("```bash\n.venv/bin/snakemake --configfile config/no_such.yaml -n\n```", "no file config/no_such.yaml"),
    "module path": ("See `pipeline/no_such_module.py`.", "no file pipeline/no_such_module.py"),
    "link": ("See [the page](docs/no-such-page.md).", "link docs/no-such-page.md: no such file"),
    "anchor": ("See [GPUs](docs/gpus-and-clusters.md#no-such-heading).", "no heading #no-such-heading"),
}


@pytest.mark.parametrize("kind", BAD_SNIPPETS)
def test_the_check_fails_on_a_readme_with_a_mistake(kind, tmp_path):
    """A copy of the README with one mistake added has exactly the copy's problems plus that mistake."""
    snippet, expected = BAD_SNIPPETS[kind]
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    clean, broken = tmp_path / "clean.md", tmp_path / "broken.md"
    clean.write_text(text, encoding="utf-8")
    broken.write_text(text + "\n" + snippet + "\n", encoding="utf-8")
    before = {p.split(": ", 1)[1] for p in check_doc(clean, as_path=ROOT / "README.md")}
    after = {p.split(": ", 1)[1] for p in check_doc(broken, as_path=ROOT / "README.md")}
    new = after - before
    assert len(new) == 1 and expected in next(iter(new)), new


def test_a_good_snippet_passes(tmp_path):
    """Quoted JSON, env variables, continuations, placeholders, sub-commands and anchors are understood."""
    doc = tmp_path / "good.md"
    doc.write_text("\n".join([
        "```bash",
        "CUDA_VISIBLE_DEVICES=0,2 .venv/bin/snakemake --configfile my_paper.yaml \\",
        "    --replace-workflow-config --workflow-profile profiles/slurm -n   # a comment --not-a-flag",
        ".venv/bin/snakemake --unlock && .venv/bin/snakemake --report results/report.html",
        "```",
        "`python -m pipeline check-data --params '{\"datasets\": {}}' --strict`, `make demo CORES=2`,",
        "`python -m pipeline robustness report --out-table t`, `python -m pipeline weights fetch --lock x.json`,",
        "`python -m pipeline COMMAND --help`, `pipeline/models/<name>.py`, `rules/*.smk`,",
        "[config](config/README.md#train) and [fidelity](docs/fidelity.md#choices-where-the-paper-is-silent).",
        "<!-- a placeholder: docs/img/not_yet.png, `python -m pipeline not-yet` -->",
    ]) + "\n", encoding="utf-8")
    problems = check_doc(doc, as_path=ROOT / "good.md")
    assert problems == ["good.md:7: no file x.json"], problems  # a bare .json name is a path: it must exist


def test_the_readme_rule_table_lists_every_rule_and_command():
    """Every rule of rules/*.smk and every `python -m pipeline` command is in the README's rule table, each
    command with its module."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in readme.splitlines()
            if line.startswith("|") and line.count("|") == 4]
    table = [r for r in rows if len(r) == 3 and r[0] != "rule" and not set(r[0]) <= set("-: ")]
    rule_cells = " ".join(r[0] for r in table)
    sources = "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))])
    rules = set(re.findall(r"^\s*(?:rule|checkpoint)\s+(\w+)\s*:", sources, flags=re.M)) - {"all"}
    rules |= {re.sub(r"\{_?(\w+)\}", r"<\1>", n) for n in re.findall(r"name:\s*\n\s*f\"([^\"]+)\"", sources)}
    assert rules and not [r for r in sorted(rules) if f"`{r}`" not in rule_cells], rule_cells
    for name, (module, _) in COMMANDS.items():
        path = module.replace(".", "/")
        path = f"{path}.py" if (ROOT / f"{path}.py").exists() else f"{path}/__init__.py"
        mine = [r for r in table if r[1].startswith(f"`{name}`")]  # the command cell starts with it
        assert mine, f"command {name} is not in the README's rule table"
        assert all(path in r[2] for r in mine), f"command {name}: its row does not name {path}"


def test_config_readme_has_a_section_per_config_key():
    schema = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text(encoding="utf-8"))
    headings = {line[3:].strip() for line in (ROOT / "config" / "README.md").read_text(encoding="utf-8").splitlines()
                if line.startswith("## ")}
    missing = [key for key in schema["properties"] if key not in headings]
    assert not missing, f"config/README.md lacks sections: {', '.join(missing)}"


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


def test_slug_matches_github():
    assert slug("2. Dataset layouts") == "2-dataset-layouts"
    assert slug("Arithmetic: bf16 and memory layout") == "arithmetic-bf16-and-memory-layout"
    assert slug("`gpu_jobs_per_device`") == "gpu_jobs_per_device"
    assert [expand_braces("a/{b,c}.json")] == [["a/b.json", "a/c.json"]]
    assert list(itertools.chain.from_iterable(commands_of("A=1 time make demo && snakemake -n | tee x"))) == [
        "make", "demo", "snakemake", "-n", "tee", "x"]


def test_the_readme_detector_table_matches_the_cards():
    """The README's table of detectors has one row per registered detector, with its card's display name,
    family, parameter count (millions) and input."""
    from pipeline.models.card import catalogue

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {m.group(1): [c.strip() for c in line.strip().strip("|").split("|")]
            for line in readme.splitlines()
            if (m := re.match(r"\| [^|`]+ \(`(\w+)`\) \|", line)) and not line.startswith("| detector ")}
    cards = catalogue()
    assert set(rows) == set(cards), sorted(set(rows) ^ set(cards))
    for name, card in cards.items():
        detector, family, params, size = rows[name][:4]
        assert detector == f"{card.display} (`{name}`)" and family == card.family, rows[name]
        assert params == f"{card.params / 1e6:.1f} M", (name, params, card.params)
        side = f"{card.input_size}²"
        assert size.split(" ")[0] == (side if card.clip_len == 1 else f"{card.clip_len}×{side}"), (name, size)


def test_the_readme_demo_results_cover_the_demo_detectors():
    """The README's demo results table has one row per detector of the default demo (`models` of
    workflow_config.yaml), by display name: a detector added to the demo needs its numbers over seeds."""
    from pipeline.models.card import catalogue

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Demo results", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1].strip() for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| detector ")]
    models = yaml.safe_load((ROOT / "workflow_config.yaml").read_text())["models"]
    assert rows == [catalogue()[m].display for m in models]
