"""Imports point one way. This file is where the rule lives; docstrings only repeat it.

Every ``import`` in calpipe/ is read from the source (AST), including imports inside
functions and ``importlib.import_module("...")`` with a literal name, and checked against
RULES: a module of the layer on the left may import only what its row allows (besides
the standard library and third-party packages, and ``calpipe`` itself for ``__version__``).

    instruments/<name>   ->  steps, sim, core       (never another instrument)
    sim                  ->  core  (+ the TAN geometry of steps, shared on purpose)
    steps, pipelines     ->  core                   (a step imports no instrument)
    refdata, level0      ->  core
    reproduce            ->  core, refdata          (the recorded reference files come from the store)
    archive              ->  core, refdata, level0, reproduce   (and names no instrument)
    core                 ->  nothing else of calpipe
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "calpipe"
INSTRUMENTS = sorted(p.name for p in (ROOT / "instruments").iterdir()
                     if (p / "__init__.py").is_file())

# layer (module prefix) -> module prefixes its modules may import; "{self}" is the importing layer.
RULES: dict[str, tuple[str, ...]] = {
    "calpipe.core": ("calpipe.core",),
    "calpipe.steps": ("calpipe.core", "calpipe.steps"),
    "calpipe.pipelines": ("calpipe.core", "calpipe.pipelines"),
    # Simulators make the truth the pipelines are checked against, so they share no calibration code,
    # except the TAN projection from pointing keywords (a definition, tested by hand in test_assign_wcs).
    "calpipe.sim": ("calpipe.core", "calpipe.sim", "calpipe.steps.wcs", "calpipe.steps.assign_wcs.algorithm"),
    "calpipe.instruments": ("calpipe.core", "calpipe.instruments"),  # the namespace package itself
    **{f"calpipe.instruments.{name}": ("calpipe.core", "calpipe.steps", "calpipe.sim",
                                       f"calpipe.instruments.{name}") for name in INSTRUMENTS},
    "calpipe.refdata": ("calpipe.core", "calpipe.refdata"),
    "calpipe.level0": ("calpipe.core", "calpipe.level0"),
    "calpipe.reproduce": ("calpipe.core", "calpipe.reproduce", "calpipe.refdata"),
    # ARCHIVE.md: it extracts telemetry (level0), takes the newest context (refdata), remakes (reproduce)
    "calpipe.archive": ("calpipe.core", "calpipe.refdata", "calpipe.level0", "calpipe.reproduce",
                        "calpipe.archive"),
}
ANYONE_MAY_IMPORT = ("calpipe",)  # exactly the top package (__version__), not its subpackages


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> str | None:
    """The most specific layer of RULES holding ``module`` (None: calpipe itself or no rule yet)."""
    matches = [layer for layer in RULES if within(module, layer)]
    return max(matches, key=len) if matches else None


def imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every calpipe import in a file, at any depth."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    known = {module_name(p, root) for p in root.rglob("*.py")}
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # "from calpipe import steps" imports the package calpipe.steps
                sub = f"{target}.{alias.name}"
                found.append((node.lineno, sub if sub in known else target))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))):
            found.append((node.lineno, node.args[0].value))
    return [(line, name) for line, name in found if within(name, "calpipe")]


def violations(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        layer = layer_of(module)
        if layer is None:
            if module not in ANYONE_MAY_IMPORT:
                found.append(f"{path}: module {module} belongs to no layer: add a row to RULES in {__file__}")
            continue
        for line, name in imports(path, root):
            if name in ANYONE_MAY_IMPORT or any(within(name, ok) for ok in RULES[layer]):
                continue
            found.append(f"{path}:{line}: {module} ({layer}) imports {name}, which its layer may not "
                         f"(allowed: {', '.join(RULES[layer])})")
    return found


def test_every_import_follows_the_layers():
    assert violations(ROOT) == []


def test_the_scan_sees_relative_and_function_local_imports(tmp_path):
    """The checker itself: a violation hidden in a function, relative or by importlib, is found."""
    pkg = tmp_path / "calpipe"
    for folder in ("core", "steps/dark", "instruments/cam"):
        (pkg / folder).mkdir(parents=True)
    for init in ("", "core/", "steps/", "steps/dark/", "instruments/", "instruments/cam/"):
        (pkg / f"{init}__init__.py").write_text("")
    (pkg / "core" / "runner.py").write_text("def run():\n    from ..steps import dark\n")
    (pkg / "steps" / "dark" / "step.py").write_text(
        "import importlib\n\ndef f():\n    importlib.import_module('calpipe.instruments.cam')\n")
    (pkg / "steps" / "dark" / "algorithm.py").write_text("from ..dark import step\nfrom calpipe.core import x\n")
    found = violations(pkg)
    assert len(found) == 2, found
    assert "calpipe.core.runner (calpipe.core) imports calpipe.steps.dark" in found[0]
    assert "calpipe.steps.dark.step (calpipe.steps) imports calpipe.instruments.cam" in found[1]


def test_an_unknown_top_level_package_needs_a_rule(tmp_path):
    (tmp_path / "calpipe" / "newthing").mkdir(parents=True)
    (tmp_path / "calpipe" / "newthing" / "__init__.py").write_text("")
    [message] = violations(tmp_path / "calpipe")
    assert "belongs to no layer" in message


def names_of_instruments(path: Path) -> list[str]:
    """Where a file names an instrument: string constants (docstrings aside) and identifiers."""
    word = re.compile(rf"(?<![a-z0-9])({'|'.join(INSTRUMENTS)})(?![a-z0-9])", re.IGNORECASE)
    if path.suffix != ".py":
        return [f"{path}: {m.group(0)!r}" for m in word.finditer(path.read_text(errors="replace"))]
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        text = (node.value if isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in docstrings else
                node.id if isinstance(node, ast.Name) else
                node.attr if isinstance(node, ast.Attribute) else
                node.name if isinstance(node, ast.FunctionDef | ast.ClassDef) else None)
        if text and word.search(text.replace("_", " ")):
            found.append(f"{path}:{node.lineno}: {text!r}")
    return found


@pytest.mark.skipif(not (ROOT / "archive").is_dir(), reason="no calpipe/archive package yet")
def test_the_archive_names_no_instrument():
    """The archive serves any installed instrument through the registry: no instrument name in its code."""
    files = [p for p in sorted((ROOT / "archive").rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    assert [hit for path in files for hit in names_of_instruments(path)] == []


def test_the_instrument_name_scan_sees_strings_and_names_but_not_docstrings(tmp_path):
    source = tmp_path / "retrieve.py"
    source.write_text(f'"""Works for {INSTRUMENTS[0]} too."""\n\nDEFAULT = "{INSTRUMENTS[0]}_bcd"\n'
                      f"def best():\n    return {INSTRUMENTS[-1]}_pipeline\n")
    hits = names_of_instruments(source)
    assert [hit.split(":")[1] for hit in hits] == ["3", "5"], hits
