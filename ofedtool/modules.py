"""The module catalog (backports/modules.toml) and --modules selection."""

from __future__ import annotations

from .defaults import DEFAULT_MODULES

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .catalog import data_dir
from .errors import OfedError

RULES = ("upstream", "target", "inbox")


@dataclass(frozen=True)
class Module:
    name: str
    dir: str
    kconfig: tuple[tuple[str, str], ...]
    cls: str
    rule: str
    depends: tuple[str, ...]
    files: tuple[str, ...] = ()   # empty: the whole directory
    kbuild: str = ""              # non-empty: replaces the directory's own Makefile
    optional: bool = False        # only some releases of X have it


@dataclass(frozen=True)
class Catalog:
    modules: dict[str, Module]
    groups: dict[str, tuple[str, ...]]
    fetch_paths: tuple[str, ...]
    include_paths: tuple[str, ...]


def load_catalog(path: Path | None = None) -> Catalog:
    path = path or data_dir("backports") / "modules.toml"
    with open(path, "rb") as f:
        d = tomllib.load(f)
    mods = {}
    for name, m in d.get("module", {}).items():
        if m.get("rule") not in RULES:
            raise OfedError(f"{path}: module {name}: rule must be one of {', '.join(RULES)}")
        mods[name] = Module(name, m["dir"], tuple(sorted(m.get("kconfig", {}).items())), m["class"],
                            m["rule"], tuple(m.get("depends", ())), tuple(m.get("files", ())),
                            m.get("kbuild", "").lstrip(), bool(m.get("optional", False)))
    for m in mods.values():
        for dep in m.depends:
            if dep not in mods:
                raise OfedError(f"{path}: module {m.name} depends on unknown module {dep}")
    groups = {k: tuple(v) for k, v in d.get("groups", {}).items()}
    return Catalog(mods, groups, tuple(d["fetch_paths"]), tuple(d["include_paths"]))


def select(cat: Catalog, spec: str | None) -> list[Module]:
    """--modules core,rxe,siw (groups or module names) → the closure over depends, in catalog order.

    Modules that share a kbuild directory and a Kconfig switch come along together (the core
    directory builds ib_core, ib_cm, iw_cm and rdma_cm from one symbol)."""
    words = [w.strip() for w in (DEFAULT_MODULES if spec is None else spec).split(",") if w.strip()]
    if not words:
        # An empty --modules (an unset CI variable) must not quietly build the default set.
        raise OfedError(f"--modules {spec!r}: give at least one module or group: {', '.join(sorted(cat.groups))}")
    want: set[str] = set()
    for w in words:
        if w in cat.groups:
            want.update(cat.groups[w])
        elif w in cat.modules:
            want.add(w)
        else:
            raise OfedError(f"unknown module '{w}': known {', '.join(sorted(cat.groups))} or "
                            f"{', '.join(sorted(cat.modules))}")
    todo = list(want)
    while todo:
        m = cat.modules[todo.pop()]
        for dep in m.depends:
            if dep not in want:
                want.add(dep)
                todo.append(dep)
        for other in cat.modules.values():
            if other.name not in want and other.dir == m.dir and set(other.kconfig) <= set(m.kconfig):
                want.add(other.name)
                todo.append(other.name)
    return [m for m in cat.modules.values() if m.name in want and m.rule != "inbox"]


def kconfig_line(cat: Catalog, selected: list[Module]) -> list[tuple[str, str]]:
    """CONFIG_X=val for the make command line: selected modules' symbols on, others in the same
    directories off, so kbuild builds exactly the selection."""
    on: dict[str, str] = {}
    for m in selected:
        on.update(dict(m.kconfig))
    dirs = {m.dir for m in selected}
    off = {k for m in cat.modules.values() if m.dir in dirs for k, _ in m.kconfig} - set(on)
    return sorted([(f"CONFIG_{k}", v) for k, v in on.items()] + [(f"CONFIG_{k}", "") for k in off])


def in_source(modules: list[Module], root: Path) -> tuple[list[Module], list[str]]:
    """Drop the optional modules X's own kbuild does not build (ib_uverbs_support exists only
    from 7.x on): X's Makefile in the module's directory is what says, not a version number."""
    keep, absent = [], []
    for m in modules:
        mk = Path(root) / m.dir / "Makefile"
        if m.optional and m.rule == "upstream" and not (
                mk.exists() and re.search(rf"\b{re.escape(m.name)}\.o\b", mk.read_text(errors="replace"))):
            absent.append(m.name)
        else:
            keep.append(m)
    return keep, absent
