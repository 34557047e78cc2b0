"""DKMS: the source tree + dkms.conf + probe kit, as a deterministic tarball.

One package serves every kernel of the target's distro release (Debian 12: 6.1 and
bookworm-security's 6.12): the probe kit answers compat/config.h at `dkms build` time for the
kernel being built (ofedtool.package.probekit) and picks the variant of the tree generated for
kernels with its features (ofedtool.package.variants).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import ui
from ..errors import OfedError
from ..catalog import data_dir
from .probekit import Release, fixed_features, write_kit
from . import variants as _variants
from ..adapt.probes import load_probes
from ..templates import render
from .common import Package, copy_sources, deterministic_tar, target_info

# Debian architecture -> the kernel's `uname -m`, which dkms matches BUILD_EXCLUSIVE_ARCH against.
_UNAME_M = {"amd64": "x86_64", "arm64": "aarch64", "ppc64el": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


# Debian architecture -> the kernel's arch/ directory (SRCARCH), for the kit's header lookup.
_SRCARCH = {"amd64": "x86", "i386": "x86", "arm64": "arm64", "ppc64el": "powerpc", "s390x": "s390", "riscv64": "riscv"}


@dataclass
class DkmsOutput:
    tree: Path  # the staged source tree (what /usr/src/<name>-<version>/ holds)
    tarball: Path
    conf: Path


def stage_tree(pkg: Package, dest: Path) -> Path:
    """Write the DKMS source tree into dest (removed first)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    copy_sources(pkg.tree.path, dest)
    plan = _variants.plan(pkg.tree.path, pkg.tree.manifest, pkg.variant_trees)
    _variants.write(plan, dest)
    # Only what some tree's config.h carries (the HAVE_* its sources use) or a variant is chosen
    # by: an unused macro decides nothing, and probing it cost the node more than the build
    # (one scan of the reference's sources: config_names reads every .c and .h of the tree)
    names = _variants.config_names(pkg.tree.path, pkg.tree.manifest)
    asked = {p.name for p in plan.pinned} | set(names)
    for v in plan.variants:
        if _variants.CONFIG in v.files:
            asked |= set(v.files[_variants.CONFIG].decode().split())
    write_kit(dest / "probekit", [p for p in kit_probes(pkg.tree.manifest) if p.name in asked], plan.pinned, pkg.name,
              fixed_features(pkg.tree.manifest), release_of(pkg.tree.manifest.target.get("id")),
              _SRCARCH.get(target_info(pkg.tree)["arch"] or "amd64", "x86"), _variants.variants_list(plan), names)
    for tid, why in plan.skipped.items():
        ui.warn(f"[package] dkms: no variant for {tid}: {why}; there the kit builds the tree whose features it has")
    lost = [m.name for m in pkg.tree.modules if m.name not in plan.modules]
    if lost:
        ui.warn(f"[package] dkms: {', '.join(lost)} not built for every kernel of the release "
                f"({', '.join(sorted(pkg.variant_trees))}): left out of dkms.conf")
    (dest / "dkms.conf").write_text(dkms_conf(pkg, plan.modules))
    if pkg.tree.left:
        # dkms installs modules only: the -dkms .deb puts this into /etc/modprobe.d, a plain
        # `dkms install` user copies it there.
        (dest / f"{pkg.name}.modprobe.conf").write_text(modprobe_conf(pkg, f"{pkg.name}-dkms"))
    return dest


def release_of(target_id: str | None) -> Release | None:
    """The catalog's kernels of the target's distro release and arch, as one ERE over `uname -r`
    (Debian 12: 6.1.0-N-* and bookworm-security's 6.12.N+deb12-*), from each target's headers
    package pattern; None for a local kernel dir, which has no release."""
    from ..catalog import load_targets, release_targets
    me = next((t for t in load_targets() if t.id == target_id), None)
    if me is None:
        return None
    abis = []
    for t in release_targets(me.id):
        m = re.search(r"\(\?P<abi>([^()]*)\)", t.headers.get("package", ""))
        if m and m.group(1).replace("\\d", "[0-9]") not in abis:
            abis.append(m.group(1).replace("\\d", "[0-9]"))
    if not abis:
        return None
    return Release(f"{me.distro.capitalize()} {me.release}", f"^({'|'.join(abis)})-")


def modprobe_conf(pkg: Package, owner: str) -> str:
    return render("modprobe.conf.j2", name=pkg.name, version=pkg.version, owner=owner, left=pkg.tree.left)


def kit_probes(manifest) -> list:
    """The probes the tree was generated with (its config.h names), no more: a probe added to
    backports/ since then is not used by this source, one removed or renamed cannot be answered."""
    wanted = [n for n in manifest.features if not n.startswith("OFED_CORE_")]
    known = {p.name: p for p in load_probes(data_dir("backports") / "probes")}
    gone = sorted(set(wanted) - set(known))
    if gone:
        raise OfedError(f"probe {gone[0]} of this tree is no longer in backports/probes: regenerate the tree")
    return [known[n] for n in sorted(wanted)]


def dkms_conf(pkg: Package, modules: tuple[str, ...] | None = None) -> str:
    from ..catalog import release_targets, version_key
    info = target_info(pkg.tree)
    series = info["series"]
    arch = _UNAME_M.get(info["arch"] or "", "")
    release = release_of(pkg.tree.manifest.target.get("id"))
    if release:
        # the release's kernels (Debian 12: 6.1.0-N and 6.12.N+deb12), as the probe kit checks them
        all_series = sorted({t.series for t in release_targets(info["id"])}, key=version_key)
        exclusive, low, high = release.kernels, all_series[0], all_series[-1]
    else:
        # 6.1 -> every 6.1.y kernel release ("6.1.0-56-amd64", "6.1.192"), not 6.10
        exclusive, low, high = "^" + re.escape(series) + r"[.-]", series, series
    wanted = set(modules) if modules is not None else None
    return render(
        "dkms.conf.j2", name=pkg.name, version=pkg.version, source_version=pkg.tree.source_version,
        series=series, reference=pkg.tree.release, release=release.name if release else f"Linux {series}.y",
        exclusive_regex=exclusive, kernel_min=low, kernel_max=f"{high}.9999",
        arch_regex=f"^{arch}$" if arch else ".*", module_dir=f"{info['module_dir']}/{pkg.name}",
        modules=[m for m in pkg.tree.modules if wanted is None or m.name in wanted])


def build(pkg: Package, out: Path, work: Path) -> DkmsOutput:
    base = f"{pkg.name}-{pkg.version}"
    tree = stage_tree(pkg, work / base)
    tarball = deterministic_tar(tree, out / f"{base}.dkms.tar.gz", base, pkg.epoch)
    conf = out / f"{base}.dkms.conf"
    shutil.copyfile(tree / "dkms.conf", conf)
    ui.info(f"[package] dkms: {tarball.name} ({len(pkg.tree.modules)} modules, probe kit for {pkg.tree.release}'s release, "
            f"{tarball.stat().st_size // 1024} KiB)")
    return DkmsOutput(tree, tarball, conf)
