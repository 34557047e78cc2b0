"""The package's folders are the pipeline's stages, and imports only go down the stages:
shared helpers ← fetch ← adapt ← build ← package ← prove ← the library (pipeline, matrix,
release) and the CLI. A stage importing a later one (even lazily, inside a function) fails here."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "ofedtool"
LAYERS = ["fetch", "adapt", "build", "package", "prove"]
TOP = {"pipeline", "matrix", "release", "watch", "cli", "commands"}


def layer(module: str) -> int:
    """ofedtool.<first>... → its rank: 0 shared helpers, 1..5 the stages, 6 the library and CLI."""
    first = module.split(".")[1] if "." in module else ""
    if first in LAYERS:
        return 1 + LAYERS.index(first)
    return 6 if first in TOP else 0


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, source: str | None = None) -> set[str]:
    """Every ofedtool module the file imports, at any depth of the file (lazy imports too)."""
    me = module_name(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("ofedtool"):
                found.add(mod)
                found.update(f"{mod}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ofedtool"))
    return found


def real_modules() -> set[str]:
    return {module_name(p) for p in PKG.rglob("*.py")}


def test_imports_go_down_the_stages_only():
    mods = real_modules()
    wrong = []
    for path in PKG.rglob("*.py"):
        me = module_name(path)
        for dep in sorted(imports(path) & mods):
            if layer(dep) > layer(me):
                wrong.append(f"{me} imports {dep}")
    assert not wrong, wrong


def test_the_layer_rule_sees_a_stage_reaching_up():
    """The rule itself: a fetch-stage file importing prove lazily, inside a function, is seen."""
    assert layer("ofedtool.fetch.cache") < layer("ofedtool.prove.vmtest") < layer("ofedtool.pipeline")
    assert layer("ofedtool.errors") == 0 and layer("ofedtool.commands.build") == 6
    found = imports(PKG / "fetch" / "cache.py", "def f():\n    from ..prove import vmtest\n")
    assert "ofedtool.prove.vmtest" in found


def test_no_flat_stage_modules_are_left():
    """Each stage's modules live in its folder; only the shared helpers and the library stay flat."""
    flat = {p.stem for p in PKG.glob("*.py")} - {"__init__"}
    shared = {"errors", "ui", "proc", "fsutil", "config", "defaults", "catalog", "modules", "templates",
              "tree", "kmod", "kbuildlog", "jobserver", "requests"}
    assert flat - shared - TOP == set(), flat - shared - TOP
