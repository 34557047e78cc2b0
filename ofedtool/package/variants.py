"""One DKMS tree for every kernel of a release: the reference tree, plus under variants/<key>/ only
the files in which another kernel's adapted tree differs from it.

The SmPL rules and verb shims are applied at generate time and change the source; which ones
applied is decided by the features they are conditioned on (probekit.pinned_probes). Trees
generated from the same X for the release's other kernels differ from the reference only where
those decisions differ, so each distinct set of deciding values is one variant, and the probe
kit picks the one whose values the node's kernel has (no spatch on the node).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OfedError
from ..tree import Manifest
from .common import source_files
from .probekit import Pinned, fixed_list, pinned_probes

# Written on the node for its kernel (config.h) or describing one tree only (manifest.json):
# never a reason for a variant.
_PER_KERNEL = {"compat/config.h", "manifest.json"}
# The kit's per-tree list of OFED_CORE_* facts, and of the HAVE_* the tree's config.h carries
# (those its sources use): part of what a variant overlays.
FIXED = "probekit/fixed.list"
CONFIG = "probekit/config.list"


def config_names(tree: Path, manifest: Manifest) -> list[str]:
    """The HAVE_* the tree's config.h carries, by the engine's own rule (adapt.probes.config_features:
    those its sources and compat headers use), so a tree generated before that rule, whose
    config.h has every probe, gets the same list as its siblings generated now."""
    from ..adapt.probes import config_features, referenced
    return sorted(n for n in config_features(manifest.features, referenced(tree)) if n.startswith("HAVE_"))


@dataclass(frozen=True)
class Variant:
    key: str                   # directory under variants/ ("." : the reference tree itself)
    targets: tuple[str, ...]   # catalog targets whose tree this is
    values: tuple[bool, ...]   # the deciding features' values, in Plan.pinned order
    files: dict[str, bytes]    # changed or added against the reference (rel path -> content)
    gone: tuple[str, ...]      # reference files this tree does not have


@dataclass(frozen=True)
class Plan:
    pinned: list[Pinned]       # the deciding features, with the reference's values
    variants: list[Variant]    # the reference first
    modules: tuple[str, ...]   # built by every variant: what dkms.conf can list
    # target id -> why no variant carries it: its kernel's config builds other modules (Debian 12's
    # cloud flavour lacks 15 of the stack's), a difference no probe tells apart; there the kit
    # builds the tree whose features it has, as a package without variants did
    skipped: dict[str, str] = field(default_factory=dict)


def _contents(tree: Path, manifest: Manifest) -> dict[str, bytes]:
    files = {rel: (tree / rel).read_bytes() for rel in source_files(tree) if rel not in _PER_KERNEL}
    files[FIXED] = fixed_list(manifest).encode()
    files[CONFIG] = "".join(f"{n}\n" for n in config_names(tree, manifest)).encode()
    return files


def plan(reference: Path, ref_manifest: Manifest, others: dict[str, Path]) -> Plan:
    """others: target id -> a tree generated from the same X for that kernel of the release."""
    manifests = {ref_manifest.target_id: (reference, ref_manifest)}
    skipped: dict[str, str] = {}
    mine = [x.name for x in ref_manifest.modules]
    for tid, path in others.items():
        m = Manifest.read(path)
        if m.source_version != ref_manifest.source_version:
            raise OfedError(f"tree {path} is from {m.source_version}, the reference from "
                            f"{ref_manifest.source_version}: the variants of one package come from one X")
        theirs = [x.name for x in m.modules]
        if theirs != mine:
            lost = [n for n in mine if n not in theirs]
            skipped[tid] = (f"its config builds {len(theirs)} of the {len(mine)} modules"
                            + (f" (not {', '.join(lost[:4])}{', ...' if len(lost) > 4 else ''})" if lost else ""))
            continue
        manifests[tid] = (path, m)
    # The union: a feature that decides one tree's source tells the trees apart.
    by_name: dict[str, Pinned] = {}
    for _, m in manifests.values():
        for p in pinned_probes(m):
            by_name.setdefault(p.name, p)
    ref_features = ref_manifest.features
    pinned = [Pinned(n, bool(ref_features.get(n, False)), by_name[n].rule) for n in sorted(by_name)]
    ref_files = _contents(reference, ref_manifest)
    variants: list[Variant] = []
    for tid, (path, m) in manifests.items():
        missing = [p.name for p in pinned if p.name not in m.features]
        if missing:
            raise OfedError(f"the tree for {tid} ({path}) has no answer for {missing[0]}, on which another kernel's "
                            "tree is decided: it predates this ofedtool's rules; regenerate it (or package with "
                            "--no-variants)")
        values = tuple(bool(m.features[p.name]) for p in pinned)
        files = ref_files if tid == ref_manifest.target_id else _contents(path, m)
        changed = {r: b for r, b in files.items() if ref_files.get(r) != b}
        gone = tuple(sorted(set(ref_files) - set(files)))
        same = next((v for v in variants if v.values == values), None)
        if same is not None:
            if (same.files, same.gone) != (changed, gone):
                diff = sorted(set(same.files) ^ set(changed) | {r for r in set(same.files) & set(changed)
                                                                if same.files[r] != changed[r]} | set(same.gone) ^ set(gone))
                raise OfedError(f"the trees for {same.targets[0]} and {tid} differ in {diff[0]} but in none of the "
                                "features the probe kit tells kernels apart by (SmPL and shim conditions): "
                                "one DKMS package cannot carry both")
            variants[variants.index(same)] = Variant(same.key, (*same.targets, tid), values, same.files, same.gone)
            continue
        key = "." if not changed and not gone else tid
        variants.append(Variant(key, (tid,), values, changed, gone))
    if variants[0].key != ".":
        raise OfedError("internal: the reference tree differs from itself")
    common = set(x.name for x in ref_manifest.modules)
    for _, m in manifests.values():
        common &= {x.name for x in m.modules}
    return Plan(pinned, variants, tuple(x.name for x in ref_manifest.modules if x.name in common), skipped)


def write(plan: Plan, dest: Path) -> list[str]:
    """variants/<key>/ with each variant's files, <key>.gone and touched.list (every path some
    variant changes, adds or removes) into the DKMS tree at dest; returns what was written."""
    root = dest / "variants"
    shutil.rmtree(root, ignore_errors=True)
    written: list[str] = []
    touched: set[str] = set()
    for v in plan.variants:
        if v.key == ".":
            continue
        for rel, data in sorted(v.files.items()):
            (root / v.key / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / v.key / rel).write_bytes(data)
            written.append(f"variants/{v.key}/{rel}")
        if v.gone:
            (root / f"{v.key}.gone").write_text("".join(f"{r}\n" for r in v.gone))
            written.append(f"variants/{v.key}.gone")
        touched |= set(v.files) | set(v.gone)
    if touched:
        (root / "touched.list").write_text("".join(f"{r}\n" for r in sorted(touched)))
        written.append("variants/touched.list")
    return written


def variants_list(plan: Plan) -> str:
    """The kit's variants.list: KEY bBITS TARGETS, BITS one 0/1 per pinned.list line (the b keeps
    the field when nothing is pinned)."""
    return "".join(f"{v.key} b{''.join(str(int(x)) for x in v.values)} {','.join(v.targets)}\n"
                   for v in plan.variants)
