"""The module catalog (backports/modules.toml) and --modules selection."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
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
    includes: tuple[str, ...] = ()  # upstream rule: X's headers copied into the tree's include/
    target_config: bool = False   # built only where the target's .config builds it (any rule)
    # what a guest machine must have for the module to load without its device (vmtest's
    # machine provides it): "iommu" for Debian 11's usnic_verbs, whose init refuses without one
    guest: tuple[str, ...] = ()
    # the same module under other rules (modules.toml [module.NAME.rules.RULE]), by rule
    variants: tuple[tuple[str, "Module"], ...] = field(default=(), compare=False, repr=False)

    def rules(self) -> tuple[str, ...]:
        return (self.rule, *(r for r, _ in self.variants))

    def as_rule(self, rule: str) -> "Module":
        return self if rule == self.rule else dict(self.variants)[rule]


@dataclass(frozen=True)
class Off:
    """A Kconfig feature of the target switched off in one module, when `when` holds (OFED_CORE_*
    and HAVE_* conditions, as for verb shims): the driver builds without it instead of not at all."""
    config: str
    when: tuple[str, ...]
    why: str
    # Not a Kconfig symbol: a run-time feature the module's code refuses under the same probes
    # (AF_XDP zero-copy in X's mlx5 without xdp_buff_xsk.cb); named in the summary, built as is.
    feature: str = ""


@dataclass(frozen=True)
class Choice:
    """Modules both rules can build, chosen together (modules.toml [choice.NAME])."""
    name: str
    modules: tuple[str, ...]
    default: str
    carried: dict[str, tuple[str, ...]]   # X's series → the targets the upstream rules carry
    why: str = ""                         # why the members are chosen together
    doc: str = ""


@dataclass(frozen=True)
class Catalog:
    modules: dict[str, Module]
    groups: dict[str, tuple[str, ...]]
    fetch_paths: tuple[str, ...]
    include_paths: tuple[str, ...]
    choices: dict[str, Choice] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleChoice:
    """The rule one --rule name (a choice or a module) gets in this build, and why."""
    name: str
    rule: str
    explicit: bool     # given with --rule
    why: str

    def as_dict(self) -> dict:
        return {"name": self.name, "rule": self.rule, "explicit": self.explicit, "why": self.why}


GUEST = ("iommu",)  # what modules.toml's guest= may ask of vmtest's machine


def _module(path: Path, name: str, m: dict, base: Module | None = None) -> Module:
    if base is not None:
        m = {**{"dir": base.dir, "class": base.cls, "kconfig": dict(base.kconfig), "depends": base.depends,
                "files": base.files, "kbuild": base.kbuild, "optional": base.optional, "headers": base.headers,
                "own_headers": base.own_headers, "includes": base.includes,
                "target_config": base.target_config, "guest": base.guest,
                "off": {o.config: {"when": o.when, "why": o.why, **({"feature": o.feature} if o.feature else {})}
                        for o in base.off}}, **m}
    if m.get("rule") not in RULES:
        raise OfedError(f"{path}: module {name}: rule must be one of {', '.join(RULES)}")
    if bad := sorted(set(m.get("guest", ())) - set(GUEST)):
        raise OfedError(f"{path}: module {name}: guest {', '.join(bad)} is not one of {', '.join(GUEST)}")
    return Module(name, m["dir"], tuple(sorted(m.get("kconfig", {}).items())), m["class"],
                  m["rule"], tuple(m.get("depends", ())), tuple(m.get("files", ())),
                  m.get("kbuild", "").lstrip(), bool(m.get("optional", False)),
                  tuple(m.get("headers", ())), tuple(m.get("own_headers", ())),
                  tuple(Off(k, tuple(v.get("when", ())), v.get("why", ""), v.get("feature", ""))
                        for k, v in sorted(m.get("off", {}).items())),
                  tuple(m.get("includes", ())), bool(m.get("target_config", False)),
                  guest=tuple(m.get("guest", ())))


def load_catalog(path: Path | None = None) -> Catalog:
    path = path or data_dir("backports") / "modules.toml"
    with open(path, "rb") as f:
        d = tomllib.load(f)
    mods = {}
    for name, m in d.get("module", {}).items():
        base = _module(path, name, {k: v for k, v in m.items() if k != "rules"})
        variants = tuple((r, _module(path, name, {**v, "rule": r}, base)) for r, v in sorted(m.get("rules", {}).items()))
        mods[name] = replace(base, variants=variants)
    for m in mods.values():
        for v in (m, *(v for _, v in m.variants)):
            for dep in v.depends:
                if dep not in mods:
                    raise OfedError(f"{path}: module {m.name} depends on unknown module {dep}")
    choices = {}
    for name, c in d.get("choice", {}).items():
        unknown = [n for n in c.get("modules", ()) if n not in mods]
        if unknown or not c.get("modules") or c.get("default") not in ("upstream", "target"):
            raise OfedError(f"{path}: choice {name}: needs known modules and a default of upstream or target")
        choices[name] = Choice(name, tuple(c["modules"]), c["default"],
                               {k: tuple(v) for k, v in c.get("carried", {}).items()}, c.get("why", ""), c.get("doc", ""))
    groups = {k: tuple(v) for k, v in d.get("groups", {}).items()}
    return Catalog(mods, groups, tuple(d["fetch_paths"]), tuple(d["include_paths"]), choices)


def parse_rules(text: str | None) -> tuple[tuple[str, str], ...]:
    """--rule NAME=upstream|target[,NAME=...] → sorted (name, rule) pairs; the names are checked
    against the catalog by choose_rules."""
    out: dict[str, str] = {}
    for w in (text or "").split(","):
        if not w.strip():
            continue
        name, eq, rule = (x.strip() for x in w.partition("="))
        if not eq or not name or rule not in ("upstream", "target"):
            raise OfedError(f"--rule {w.strip()!r}: give NAME=upstream or NAME=target (e.g. mlx5=target)")
        if out.get(name, rule) != rule:
            raise OfedError(f"--rule {name}: given twice, as {out[name]} and {rule}")
        out[name] = rule
    return tuple(sorted(out.items()))


def choose_rules(cat: Catalog, rules: tuple[tuple[str, str], ...], series: str | None,
                 target: str | None, measure: bool = False) -> tuple[Catalog, list[RuleChoice]]:
    """The catalog with every choice's members (and every --rule module) under its rule for this
    X → Y pair, and what was chosen and why.

    A choice's default holds where its `carried` list names the pair; elsewhere the default is
    target, said in the returned reason (never silently). An explicit upstream onto a pair the
    rules do not carry is refused (it would not build), unless measure (`ofedtool gap`, which
    measures what the rules have to cover)."""
    asked = dict(rules)
    member_of = {n: c for c in cat.choices.values() for n in c.modules}
    for name, rule in asked.items():
        if name in member_of and name not in cat.choices:
            c = member_of[name]
            raise OfedError(f"--rule {name}={rule}: {name} is chosen with its set, --rule {c.name}=upstream|target "
                            f"({', '.join(c.modules)}): {c.why}; upstream {name} with the target's others "
                            f"is not a valid choice")
        if name not in cat.choices and name not in cat.modules:
            raise OfedError(f"--rule {name}: no module or choice of that name; choices: "
                            f"{', '.join(sorted(cat.choices)) or 'none'}")
        if name in cat.modules and rule not in cat.modules[name].rules():
            raise OfedError(f"--rule {name}={rule}: {name} is built only under rule "
                            f"{' or '.join(cat.modules[name].rules())}")
    mods = dict(cat.modules)
    chosen = []
    for c in cat.choices.values():
        pair = f"{series} → {target}"
        carried = target is not None and target in c.carried.get(series or "", ())
        if c.name in asked:
            rule, explicit = asked[c.name], True
            if rule == "upstream" and not carried and not measure:
                raise OfedError(f"--rule {c.name}=upstream: the rules do not carry X's {c.name} from {pair} yet "
                                f"(backports/modules.toml [choice.{c.name}.carried]); use --rule {c.name}=target")
            why = "given with --rule" + (" (not carried yet: measured by gap)" if rule == "upstream" and not carried else "")
        elif c.default == "upstream" and not carried:
            rule, explicit = "target", False
            why = (f"the rules do not carry X's {c.name} from {pair} yet "
                   f"(backports/modules.toml [choice.{c.name}.carried]): the target's own stays")
        else:
            rule, explicit = c.default, False
            why = f"the default for {pair}" + (" (the rules carry it)" if rule == "upstream" and carried else "")
        for n in c.modules:
            m = mods[n]
            mods[n] = m.as_rule(rule) if rule in m.rules() else replace(m.as_rule(m.rule), rule="inbox")
        chosen.append(RuleChoice(c.name, rule, explicit, why))
    for name, rule in asked.items():
        if name in cat.modules and name not in member_of:
            mods[name] = mods[name].as_rule(rule)
            chosen.append(RuleChoice(name, rule, True, "given with --rule"))
    return replace(cat, modules=mods), chosen


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
