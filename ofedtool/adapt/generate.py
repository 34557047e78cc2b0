"""generate: the backported, self-contained source tree for one (X, Y, modules) triple.

Stages inside: probes → copy sources → patches → SmPL → compat + config.h → Kbuild/Makefile →
manifest. The tree is written under a temporary name and renamed into place, so an output
directory is either the complete previous one or the complete new one. Same inputs give
byte-identical files (sorted everything, no timestamps).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__, ui
from ..catalog import data_dir
from ..errors import OfedError
from ..fsutil import check_output, replace_dir, temp_beside
from ..fetch.headers import BuildTree
from ..fetch.kbuild import inspect_tree, source_dir, tree_id
from ..modules import Catalog, Module, kconfig_line
from .shims import load_core_probes, load_shims, plan, run_core_probes
from ..fetch.sources import SourceTree
from ..tree import Manifest, ModuleEntry


@dataclass
class Generated:
    out: Path
    modules: list[Module]
    features: dict[str, bool]
    manifest: Manifest
    probe_stats: dict = field(default_factory=dict)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_feature_probes(cache, build: BuildTree, jobs: int, ktree=None):
    """ktree: the run's kbuild.KernelTree when the caller has inspected it already."""
    from .probes import load_probes, run_probes
    probes = load_probes(data_dir("backports") / "probes")
    return run_probes(probes, ktree or inspect_tree(build.build_dir, build.toolchain), cache.root, jobs)


def render(template: str, **ctx) -> str:
    from ..templates import render as _render
    return _render(template, version=__version__, **ctx)


def _copy(src_root: Path, rel: str, dst: Path, files: tuple[str, ...] = ()) -> bool:
    s = src_root / rel
    if s.is_dir():
        if files:
            for f in files:
                if not (s / f).is_file():
                    raise OfedError(f"{rel}/{f} does not exist in {src_root}")
                (dst / rel).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(s / f, dst / rel / f)
        else:
            shutil.copytree(s, dst / rel, dirs_exist_ok=True)
        return True
    if s.is_file():
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(s, dst / rel)
        return True
    return False


def _copy_sources(src: SourceTree, ysrc: SourceTree | None, cat: Catalog, modules: list[Module],
                  dst: Path) -> list[str]:
    """X's code for upstream-rule modules and the shared headers, Y's own code for target-rule
    modules (ULPs). Returns the copied paths of X (the ones backports/patches may touch)."""
    copied = []
    # X's own headers of an upstream-rule module (include/linux/mlx5) shadow the target's, as
    # include/rdma does; only then: the target-rule mlx5_ib keeps the target's mlx5 headers.
    extra = sorted({i for m in modules if m.rule == "upstream" for i in m.includes} - set(cat.include_paths))
    for rel in sorted({m.dir for m in modules if m.rule == "upstream"}) + list(cat.include_paths) + extra:
        if _copy(src.path, rel, dst):
            copied.append(rel)
    for m in modules:
        if m.rule == "upstream" and not (dst / m.dir).is_dir():
            raise OfedError(f"module {m.name}: {m.dir} does not exist in source {src.version}")
        if m.rule == "target":
            if ysrc is None:
                raise OfedError(f"module {m.name} takes the target kernel's own source, which is not available")
            if not _copy(ysrc.path, m.dir, dst, m.files):
                raise OfedError(f"module {m.name}: {m.dir} does not exist in the target's source {ysrc.version}")
        if m.kbuild:
            # Only this module's objects: the directory's own Makefile builds the subsystem too.
            (dst / m.dir / "Makefile").unlink(missing_ok=True)
            (dst / m.dir / "Kbuild").write_text(m.kbuild)
        if m.rule == "target":
            _target_kbuild(ysrc, m, dst)
    return copied


def _target_kbuild(ysrc: SourceTree, m: Module, dst: Path) -> None:
    """A Kbuild beside the directory's own Makefile (kbuild reads Kbuild first) that marks Y's
    code with OFED_TARGET_RULE: compat items that adapt X's code to the target's kernel API
    (register_net_sysctl's terminator) must leave code written for that API alone.

    A hardware driver includes its netdev driver's private headers (-I $(srctree)/drivers/
    net/..., or by relative path): the target's build tree does not ship them, so they come
    from the target's source into the tree and onto the module's include path."""
    for rel in m.own_headers:
        # rdmavt's API (include/rdma/rdma_vt.h...) is between Y's own modules: Y's copy wins
        if not (ysrc.path / rel).is_file():
            raise OfedError(f"module {m.name}: {rel} does not exist in the target's source {ysrc.version}")
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ysrc.path / rel, dst / rel)
    for rel in m.headers:
        s = ysrc.path / rel
        if not s.is_dir():
            raise OfedError(f"module {m.name}: {rel} does not exist in the target's source {ysrc.version}")
        for h in sorted(s.rglob("*.h")):
            (dst / rel / h.relative_to(s)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(h, dst / rel / h.relative_to(s))
    kbuild = dst / m.dir / "Kbuild"
    body = kbuild.read_text() if kbuild.exists() else "include $(src)/Makefile\n"
    if "OFED_TARGET_RULE" in body:  # a directory shared by two target-rule modules
        return
    body += "# ofedtool: the target's own code (rule target)\nccflags-y += -DOFED_TARGET_RULE\n"
    body += "".join(f"ccflags-y += -I$(OFED_TOP)/{rel}\n" for rel in m.headers)
    kbuild.write_text(body)


def _patches_for(tree: Path, copied: list[str]) -> list[Path]:
    """backports/patches/<path>.patch for every file copied from X, sorted by path (one patch
    per file, so their order never matters; sorted so it is defined)."""
    root = data_dir("backports") / "patches"
    out = []
    for p in sorted(root.rglob("*.patch")):
        rel = str(p.relative_to(root))[: -len(".patch")]
        if (tree / rel).exists() and any(rel == c or rel.startswith(c + "/") for c in copied):
            out.append(p)
    return out


def generate(cache, src: SourceTree, build: BuildTree, cat: Catalog, modules: list[Module],
             out: Path, jobs: int, target_id: str | None = None, ysrc: SourceTree | None = None,
             skipped: dict[str, str] | None = None, pristine: bool = False, ktree=None,
             rules: list[dict] | None = None) -> Generated:
    """pristine: the sources as copied, nothing adapted (no patches, SmPL, shims, compat headers;
    compat.h is empty) — for `ofedtool gap`, which measures what the adaptation has to cover."""
    out = check_output(out)  # a foreign directory is refused before any work, and again at the swap
    key = inputs_key(src, build, modules, ysrc, skipped, rules)
    same = _unchanged(out, key)
    if same is not None:
        # Nothing that decides the tree changed: keep it as it is, so kbuild's own
        # incrementality makes a re-build a no-op.
        ui.info(f"[generate] {out} is up to date (inputs {key[:12]})")
        return Generated(out, modules, same.features, same, {"total": len(same.features),
                                                                         "ran": 0, "cached": 0, "seconds": 0.0,
                                                                         "skipped": True})
    with ui.stage("probes", f"feature probes against {build.release}"):
        run = run_feature_probes(cache, build, jobs, ktree)
    features = dict(sorted(run.results.items()))
    ui.info(f"[probes] {len(features)} probes: {run.ran} ran, {run.cached} cached, {run.seconds:.1f}s; "
            f"{sum(features.values())} features present, {len(features) - sum(features.values())} absent")

    tmp = temp_beside(out)
    w = _Work(cache, src, ysrc, cat, modules, tmp, jobs, features, source_dir(build.build_dir))
    try:
        with ui.stage("generate", f"{len(modules)} modules from {src.version} for {build.release}"):
            parts = {"shims": [], "patches": [], "smpl": []}
            for step in PRISTINE if pristine else ADAPTED:
                parts.update(step(w))
            features = w.features
            manifest = Manifest(
                ofedtool=__version__,
                inputs=key,
                source=src.manifest(),
                target={"id": target_id or build.target_id, "release": build.release,
                        **{k: v for k, v in build.manifest().items()
                           if k not in ("build_dir", "release", "target")}},
                modules=tuple(ModuleEntry(m.name, m.dir, m.rule, m.cls) for m in modules),
                target_source=ysrc.manifest() if ysrc else None,
                skipped=dict(sorted((skipped or {}).items())),
                probes={"tree_id": run.tree_id, "results": features},
                rules=list(rules or []),
                **parts,
            )
            manifest.write(tmp)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Generated(out, modules, features, manifest,
                     {"total": len(features), "ran": run.ran, "cached": run.cached, "seconds": run.seconds})


# ---------------------------------------------------------------- the steps
#
# Each step works on the tree being written and returns its part of the manifest. generate runs
# ADAPTED; `ofedtool gap` runs PRISTINE, the same plan without the adaptation steps.


@dataclass
class _Work:
    cache: object
    src: SourceTree
    ysrc: SourceTree | None
    cat: Catalog
    modules: list[Module]
    tree: Path                         # the temporary tree, renamed into place at the end
    jobs: int
    features: dict[str, bool]          # the target's probes; core probes join them
    target_src: Path                   # the target's source tree (include/), for same_as_target core probes
    copied: list[str] = field(default_factory=list)
    patched: list = field(default_factory=list)      # patches.PatchResult
    smpl: list[dict] = field(default_factory=list)


def copy_step(w: _Work) -> dict:
    w.copied = _copy_sources(w.src, w.ysrc, w.cat, w.modules, w.tree)
    return {"copied": tuple(w.copied)}


def patches_step(w: _Work) -> dict:
    from .patches import apply_patches
    w.patched = apply_patches(w.tree, _patches_for(w.tree, w.copied), data_dir("backports"))
    for r in w.patched:
        moved = [h for h in r.hunks if h.offset or h.fuzz]
        note = f" ({len(moved)} hunks with offset/fuzz)" if moved else ""
        ui.debug(f"patch {r.patch}: {len(r.hunks)} hunks{note}")
        for h in moved:
            ui.warn(f"patch {r.patch}: hunk #{h.index} applied with offset {h.offset}, fuzz {h.fuzz}")
    return {"patches": [{"patch": r.patch, "sha256": r.sha256, "files": list(r.files),
                         "hunks": [{"index": h.index, "offset": h.offset, "fuzz": h.fuzz} for h in r.hunks]}
                        for r in w.patched]}


def smpl_step(w: _Work) -> dict:
    from .cocci import run_smpl
    from .rules import load_smpl_rules
    bp = data_dir("backports")
    for rule in load_smpl_rules():
        if not rule.active(w.features):
            w.smpl.append({"file": rule.file, "when": rule.when, "active": False})
            continue
        files = rule.targets(w.tree)
        res = run_smpl(bp / "smpl" / rule.file, w.tree, files, jobs=w.jobs, cache_dir=w.cache.root)
        changed = sorted(f.file for f in res.files if f.changed)
        ui.debug(f"smpl {rule.file}: {len(files)} files, {len(changed)} changed")
        w.smpl.append({"file": rule.file, "when": rule.when, "active": True,
                       "sha256": _sha(bp / "smpl" / rule.file), "changed": changed})
    return {"smpl": w.smpl}


def core_probes_step(w: _Work) -> dict:
    """OFED_CORE_* facts: what X's core headers (as copied, and adapted) offer the ULPs."""
    w.features.update(run_core_probes(w.tree, load_core_probes(), w.target_src, w.src.path))
    w.features = dict(sorted(w.features.items()))
    return {}


def shims_step(w: _Work) -> dict:
    return {"shims": _apply_shims(w.tree, w.features, w.modules, w.cache, w.jobs)}


def off_step(w: _Work) -> dict:
    return {"off": _switch_off(w.tree, w.features, w.modules)}


def compat_step(w: _Work) -> dict:
    # After every step that changes the sources: config.h carries the HAVE_* they use, no more
    # (the manifest keeps every answer). A DKMS node's probe kit answers the same names only.
    from .probes import config_features, referenced, render_config_h
    shutil.copytree(data_dir("backports") / "compat", w.tree / "compat")
    (w.tree / "compat" / "config.h").write_text(render_config_h(config_features(w.features, referenced(w.tree))))
    return {}


def no_compat_step(w: _Work) -> dict:
    (w.tree / "compat" / "include").mkdir(parents=True)
    (w.tree / "compat" / "compat.h").write_text("/* ofedtool gap: pristine tree, no compat */\n")
    (w.tree / "compat" / "config.h").write_text("")
    return {}


def kbuild_step(w: _Work) -> dict:
    dirs = sorted({m.dir for m in w.modules})
    (w.tree / "Kbuild").write_text(render("Kbuild.j2", dirs=dirs))
    (w.tree / "Makefile").write_text(render("Makefile.j2", kconfig=kconfig_line(w.cat, w.modules)))
    return {}


def compat_inventory_step(w: _Work) -> dict:
    # Active compat: absent features whose compat does something for this X. The rest of the
    # probes are inventory (what the target lacks that X does not need).
    return {"compat": {"active": active_compat(data_dir("backports"), w.tree, w.features, w.patched, w.smpl),
                       "absent": sorted(k for k, v in w.features.items() if not v)}}


def absent_inventory_step(w: _Work) -> dict:
    return {"compat": {"active": [], "absent": sorted(k for k, v in w.features.items() if not v)}}


ADAPTED = (copy_step, patches_step, smpl_step, core_probes_step, shims_step, off_step, compat_step, kbuild_step,
           compat_inventory_step)
PRISTINE = (copy_step, core_probes_step, no_compat_step, kbuild_step, absent_inventory_step)


def _apply_shims(tree: Path, features: dict[str, bool], modules: list[Module], cache, jobs: int) -> list[dict]:
    from .cocci import run_smpl
    from .patches import apply_patches

    shims = load_shims()
    names = [m.name for m in modules if m.rule == "target"]
    rows = plan(shims, features, names)
    by_name = {s.name: s for s in shims}
    candidates = target_files(tree, modules)  # one walk, of the target's directories only
    for row in rows:
        shim = by_name[row["shim"]]
        if not row["active"]:
            ui.info(f"[shims] {shim.name}: off ({row['why']})")
            continue
        patches = [shim.patches[m] for m in row["modules"]]
        res = apply_patches(tree, patches, data_dir("backports"))
        row["patches"] = [{"patch": r.patch, "sha256": r.sha256} for r in res]
        files = [f for f in candidates if any(fnmatch.fnmatchcase(f, g) for g in shim.smpl_files)]
        for smpl in shim.smpl:
            r = run_smpl(smpl, tree, files, jobs=jobs, cache_dir=cache.root)
            row.setdefault("changed", []).extend(sorted(f.file for f in r.files if f.changed))
        ui.info(f"[shims] {shim.name}: applied to {', '.join(row['modules']) or 'smpl files'} ({row['why']})")
    return rows


def target_files(tree: Path, modules: list[Module]) -> list[str]:
    """The files a shim's SmPL may rewrite (its globs pick among them): those of the target-rule
    modules' directories. A shim adapts the target's own code; X's code beside it (X's mlx5_ib in
    drivers/infiniband/hw/ under the upstream rule) already speaks our core's API, and rewriting
    it breaks it."""
    dirs = sorted({m.dir for m in modules if m.rule == "target"})
    return sorted({str(p.relative_to(tree)) for d in dirs for p in (tree / d).rglob("*") if p.is_file()})


def _switch_off(tree: Path, features: dict[str, bool], modules: list[Module]) -> list[dict]:
    """Features of a target-rule module that cannot be carried onto our core (ODP in Y's mlx5_ib
    against X's reworked ODP core): the module builds without them, and the manifest and the
    build summary say so. The Kconfig symbol is emptied for the module's Makefile (before it is
    read: object lists are expanded as it is parsed) and #undef'd after the target's autoconf.h
    for its code. An off with a `feature` is no Kconfig symbol: the module's own code refuses it
    under the same probes (a patch), so it is only reported."""
    from .rules import condition
    rows = []
    for m in modules:
        offs = [o for o in m.off if all(condition(w, features, f"module {m.name} off {o.config}") for w in o.when)]
        # a run-time feature the code itself refuses under the same probes: only reported
        for o in [o for o in offs if o.feature]:
            rows.append({"module": m.name, "feature": o.feature, "why": o.why})
            ui.info(f"[generate] {m.name}: built without {o.feature} ({o.why})")
        offs = [o for o in offs if not o.feature]
        if not offs:
            continue
        kbuild = tree / m.dir / "Kbuild"
        head = "".join(f"# ofedtool: {m.name} without CONFIG_{o.config}: {o.why}\nCONFIG_{o.config} :=\n" for o in offs)
        if not kbuild.is_file():
            # An upstream-rule directory builds from X's own Makefile: a Kbuild beside it wins,
            # so ours empties the symbols and then reads it.
            kbuild.write_text("include $(src)/Makefile\n")
        (tree / m.dir / "ofed-off.h").write_text(
            "/* ofedtool: features switched off for this module (backports/modules.toml, off) */\n"
            + "".join(f"#undef CONFIG_{o.config}\n#undef CONFIG_{o.config}_MODULE\n" for o in offs))
        kbuild.write_text(head + kbuild.read_text() + f"ccflags-y += -include $(OFED_TOP)/{m.dir}/ofed-off.h\n")
        for o in offs:
            rows.append({"module": m.name, "config": f"CONFIG_{o.config}", "why": o.why})
            ui.info(f"[generate] {m.name}: built without CONFIG_{o.config} ({o.why})")
    return rows


def active_compat(bp: Path, tree: Path, features: dict[str, bool], patches: list, smpl: list[dict]) -> list[str]:
    """Absent features whose compat actually does something for this X: a compat header item
    whose names (or whose header, for a header that the target lacks) X's code uses, a patch
    that applied, an SmPL rule that changed a file. One set of rules serves several X, so an
    item written for a newer X is inert, not active, on an older one (7.x items on 6.12)."""
    absent = {k for k, v in features.items() if v is False}
    used: set[str] = set()
    words: set[str] | None = None
    for h in sorted((bp / "compat").rglob("*.h")):
        for feature, names in _compat_items(h.read_text(errors="replace"), features).items():
            if feature not in absent or feature in used:
                continue
            if words is None:
                words = _source_words(tree)
            rel = str(h.relative_to(bp / "compat" / "include")) if "include" in h.parts else ""
            # a header the target lacks (HAVE_LINUX_PCI_TPH_H): used when X includes it
            header_probe = rel and feature == "HAVE_" + re.sub(r"[^A-Z0-9]", "_", rel.upper())
            if names & words or (header_probe and rel in words):
                used.add(feature)
    for r in patches:
        used.update(re.findall(r"\bHAVE_[A-Z0-9_]+\b", (bp / r.patch).read_text(errors="replace")))
    for rule in smpl:
        if rule.get("changed"):
            used.update(re.findall(r"\bHAVE_[A-Z0-9_]+\b", rule["when"]))
    return sorted(used & absent)


def _compat_items(text: str, features: dict[str, bool]) -> dict[str, set[str]]:
    """HAVE_* → the names a compat header defines under a condition on it (blocks that also
    need an OFED_CORE_* fact our core lacks define nothing)."""
    out: dict[str, set[str]] = {}
    stack: list[tuple[list[str], bool]] = []
    for line in text.splitlines():
        s = line.strip()
        if re.match(r"#\s*if", s):
            # OFED_CORE_* facts: a block needs a fact our core has (off without it), or, negated,
            # one it lacks (a layout fact: the block is then compat for that absent fact).
            neg = set(re.findall(r"(?:!\s*defined\s*\(?\s*|#\s*ifndef\s+)(OFED_CORE_[A-Z0-9_]+)", s))
            pos = set(re.findall(r"\bOFED_CORE_[A-Z0-9_]+\b", s)) - neg
            off = any(features.get(c) is False for c in pos) or any(features.get(c) for c in neg)
            stack.append((re.findall(r"\bHAVE_[A-Z0-9_]+\b", s) + sorted(neg), off))
            continue
        if re.match(r"#\s*endif", s):
            if stack:
                stack.pop()
            continue
        if any(off for _, off in stack):
            continue
        names = set(re.findall(r"#\s*define\s+(\w+)", s)) | set(re.findall(r"\b(?:struct|enum)\s+(\w+)\s*\{", s))
        names |= {n.removeprefix("ofed_") for n in re.findall(r"\b(ofed_\w+)\s*\(", s)}
        names = {n for n in names if not n.startswith(("_", "OFED", "ofed"))}
        for feature in (f for fs, _ in stack for f in fs):
            out.setdefault(feature, set()).update(names)
    return out


def _source_words(tree: Path) -> set[str]:
    """Every identifier and every #include path in X's code in the tree (compat/ excluded)."""
    words: set[str] = set()
    for f in tree.rglob("*"):
        if f.suffix in (".c", ".h") and f.is_file() and "compat" not in f.relative_to(tree).parts[:1]:
            text = f.read_text(errors="replace")
            words.update(re.findall(r"[A-Za-z_]\w*", text))
            words.update(re.findall(r"#\s*include\s*<([^>]+)>", text))
    return words


def inputs_key(src: SourceTree, build: BuildTree, modules: list[Module], ysrc: SourceTree | None,
               skipped: dict[str, str] | None, rules: list[dict] | None = None) -> str:
    """Content address of everything that decides the generated tree: the sources' provenance,
    the target tree's identity, the selection, and every file of backports/ and recipes/."""
    h = hashlib.sha256()
    ident = {"ofedtool": __version__, "src": src.manifest(), "ysrc": ysrc.manifest() if ysrc else None,
             "tree": tree_id(build.build_dir), "release": build.release,
             "modules": [m.name for m in modules], "skipped": skipped or {}}
    if rules:
        # only where a choice applies: other selections' keys, and trees, stay as they were
        ident["rules"] = {r["name"]: r["rule"] for r in rules}
    if build.toolchain:
        # The probes ran with it (only when set: other targets' keys, and trees, stay as they were)
        ident["toolchain"] = build.toolchain.root.name
    h.update(json.dumps(ident, sort_keys=True).encode())
    for d in (data_dir("backports"), data_dir("recipes")):
        for f in sorted(p for p in d.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(d)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _unchanged(out: Path, key: str) -> Manifest | None:
    m = Manifest.peek(out)
    return m if m is not None and m.inputs == key else None
