"""The target's real kernel image package (vmlinuz + its modules) unpacked into the cache.

Booting and loading need the exact kernel our modules were built for: the image package of the
same source upload as the headers in the build tree (same ABI, same version), not "the newest".
The .deb ships no modules.dep (the maintainer script runs depmod on install), so the entry is
depmod'ed here once, before it is renamed into place.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .. import ui
from .apt import Apt, parse_depends, unpack
from ..proc import require, run
from ..catalog import SourceRelease, Target
from ..errors import OfedError
from .headers import BuildTree


@dataclass(frozen=True)
class KernelImage:
    root: Path          # unpacked package: root/boot, root/lib/modules/<release>
    vmlinuz: Path
    modules_dir: Path   # root/lib/modules/<release>, depmod'ed
    release: str
    package: str
    version: str


def headers_version(build: BuildTree) -> str:
    """The upload version of the headers package the tree came from (6.1.192-2)."""
    for p in build.provenance.get("packages", []):
        if p["package"].startswith("linux-headers-") and not p["package"].endswith("-common"):
            return p["version"]
    raise OfedError(f"build tree for {build.release}: no linux-headers package in its provenance "
                    f"(a local build directory has no distro image to boot)")


def image_candidates(apt: Apt, build: BuildTree, version: str) -> list[str]:
    """Image package names for the release, best first: whatever the headers' Depends name as an
    image (no Debian release does today, but a distro that does knows better than our guess),
    then the signed image users run, then the unsigned one (same bits minus signatures)."""
    names = []
    for p in build.provenance.get("packages", []):
        if p["package"].startswith("linux-headers-") and not p["package"].endswith("-common"):
            deps = parse_depends(apt.show(p["package"], p["version"]).get("Depends", ""))
            names += [d for d, _ in deps if d.startswith("linux-image-")]
    names += [f"linux-image-{build.release}", f"linux-image-{build.release}-unsigned"]
    return list(dict.fromkeys(names))


def fetch_image(cache, target: Target, build: BuildTree, offline: bool = False) -> KernelImage:
    require("dpkg-deb", "dpkg")
    require("depmod", "kmod")
    version = headers_version(build)
    for name in (f"linux-image-{build.release}", f"linux-image-{build.release}-unsigned"):
        if (got := cache.get(f"images/{name}_{version}")) is not None:
            return _image(got, build.release, name, version)
    apt = Apt(cache, tuple(target.suites), arch=target.arch, offline=offline)
    apt.update()
    tried = image_candidates(apt, build, version)
    pkg = next((n for n in tried if version in apt.versions(n)), None)
    if pkg is None:
        raise OfedError(f"kernel image for {build.release}: none of {', '.join(tried)} has version {version} "
                        f"in Debian suites {', '.join(target.suites)}")
    return _unpacked(cache, apt, pkg, version, build.release)


def _unpacked(cache, apt: Apt, pkg: str, version: str, release: str) -> KernelImage:
    rel = f"images/{pkg}_{version}"
    entry = cache.get(rel)
    if entry is None:
        deb = apt.download(pkg, version)
        # From 7.x Debian's linux-image-<rel> is a metapackage over linux-binary-<rel> (vmlinuz)
        # and linux-modules-<rel>: the parts of the same upload come along.
        parts = [d for d, _ in parse_depends(apt.show(pkg, version).get("Depends", ""))
                 if d in (f"linux-binary-{release}", f"linux-modules-{release}")]
        debs = [deb] + [apt.download(d, version) for d in parts]

        def create(tmp: Path) -> None:
            tmp.mkdir(parents=True)
            ui.info(f"[image] unpacking {', '.join(d.path.name for d in debs)} and running depmod")
            unpack(debs, tmp / "root")
            mods = tmp / "root" / "lib" / "modules" / release
            usr_mods = tmp / "root" / "usr" / "lib" / "modules" / release
            if not mods.exists() and usr_mods.is_dir():
                # Debian 13's packages ship /usr/lib/modules (merged /usr); the entry keeps one
                # layout, which the bookworm depmod -b also reads, so every reader finds lib/modules.
                mods.parent.mkdir(parents=True)
                os.rename(usr_mods, mods)
            if not mods.is_dir() or not _vmlinuz(tmp / "root", release).exists():
                raise OfedError(f"{deb.path.name}: no boot/vmlinuz-{release} or lib/modules/{release}")
            _run(["depmod", "-b", str(tmp / "root"), release], f"depmod for {release}")
            (tmp / "manifest.json").write_text(json.dumps(
                {"package": pkg, "version": version, "release": release, "sha256": deb.sha256,
                 "size": deb.size, "parts": {d.package: d.sha256 for d in debs[1:]}}, indent=2, sort_keys=True) + "\n")

        entry = cache.ensure(rel, create)
    return _image(entry, release, pkg, version)


def fetch_reference_image(cache, source: SourceRelease, upstream: str, arch: str = "amd64",
                          offline: bool = False) -> tuple[KernelImage | None, str]:
    """X's own kernel as Debian ships it, in X's suites: the generic image of the same upstream
    release as the source we backport (linux-image-7.3.4+deb13-amd64 for 7.3.4), else the newest
    of X's series. (image, what was chosen and why) or (None, why there is none)."""
    require("dpkg-deb", "dpkg")
    require("depmod", "kmod")
    apt = Apt(cache, source.debian_suites, arch=arch, offline=offline)
    apt.update()
    flavour = re.escape(arch)

    def generic(prefix: str) -> list[str]:
        # linux-image-7.3.4+deb13-amd64: not -cloud-/-rt- flavours, -dbg or -unsigned variants
        return apt.names(rf"linux-image-{re.escape(prefix)}[.+][^-]*-{flavour}")

    exact = generic(upstream) if upstream else []
    names = exact or generic(source.series)
    if not names:
        return None, f"no linux-image-{source.series}.* for {arch} in Debian suites {', '.join(source.debian_suites)}"
    best = max(names, key=lambda n: [int(x) if x.isdigit() else 0 for x in re.split(r"[.+-]", n[len("linux-image-"):])[:3]])
    version = apt.newest(best)
    why = ("the same upstream release as the source" if exact else
           f"the newest of series {source.series} (Debian ships no image of {upstream})")
    return _unpacked(cache, apt, best, version, best[len("linux-image-"):]), why


def _vmlinuz(root: Path, release: str) -> Path:
    """boot/vmlinuz-<rel>; 7.x's linux-binary-<rel> ships it as lib/modules/<rel>/vmlinuz only."""
    boot = root / "boot" / f"vmlinuz-{release}"
    return boot if boot.exists() else root / "lib" / "modules" / release / "vmlinuz"


def _image(entry: Path, release: str, pkg: str, version: str) -> KernelImage:
    root = entry / "root"
    return KernelImage(root, _vmlinuz(root, release), root / "lib" / "modules" / release, release, pkg, version)


def _run(cmd: list[str], what: str) -> None:
    run(cmd, what=what, package="dpkg" if cmd[0].endswith("dpkg-deb") else "")
