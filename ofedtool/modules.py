"""The module catalog (backports/modules.toml) and --modules selection."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .catalog import data_dir
from .defaults import DEFAULT_MODULES
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
    headers: tuple[str, ...] = () # target rule: directories of Y's source whose headers it includes
    own_headers: tuple[str, ...] = ()  # target rule: Y's files that replace X's copy (Y-only API)
    off: tuple["Off", ...] = ()   # features switched off in this module where they cannot be carried


@dataclass(frozen=True)
class Off:
    """A Kconfig feature of the target switched off in one module, when `when` holds (OFED_CORE_*
    and HAVE_* conditions, as for verb shims): the driver builds without it instead of not at all."""
    config: str
    when: tuple[str, ...]
    why: str


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
                            m.get("kbuild", "").lstrip(), bool(m.get("optional", False)),
                            tuple(m.get("headers", ())), tuple(m.get("own_headers", ())),
                            tuple(Off(k, tuple(v.get("when", ())), v.get("why", ""))
                                  for k, v in sorted(m.get("off", {}).items())))
    for m in mods.values():
        for dep in m.depends:
            if dep not in mods:
                raise OfedError(f"{path}: module {m.name} depends on unknown module {dep}")
    groups = {k: tuple(v) for k, v in d.get("groups", {}).items()}
    return Catalog(mods, groups, tuple(d["fetch_paths"]), tuple(d["include_paths"]))


def select(cat: Catalog, spec: str | None) -> list[Module]:
    """--modules core,rxe,siw (groups or module names; groups may name groups) → the closure
    over depends, in catalog order.

    Modules that share a kbuild directory and a Kconfig switch come along together (the core
    directory builds ib_core, ib_cm, iw_cm and rdma_cm from one symbol)."""
    words = [w.strip() for w in (DEFAULT_MODULES if spec is None else spec).split(",") if w.strip()]
    if not words:
        # An empty --modules (an unset CI variable) must not quietly build the default set.
        raise OfedError(f"--modules {spec!r}: give at least one module or group: {', '.join(sorted(cat.groups))}")
    want: set[str] = set()
    seen: set[str] = set()
    while words:
        w = words.pop()
        if w in cat.groups:
            # a group may share its name with its one module (siw = ["siw"])
            if w not in seen:
                seen.add(w)
                words.extend(n for n in cat.groups[w] if n != w or n not in cat.modules)
                if w in cat.modules:
                    want.add(w)
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
