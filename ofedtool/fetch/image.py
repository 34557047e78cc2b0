"""The target's real kernel image package (vmlinuz + its modules) unpacked into the cache.

Booting and loading need the exact kernel our modules were built for: the image package of the
same source upload as the headers in the build tree (same ABI, same version), not "the newest".
The .deb ships no modules.dep (the maintainer script runs depmod on install), so the entry is
depmod'ed here once, before it is renamed into place.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .. import ui
from .apt import Apt, parse_depends, unpack
from ..proc import require, run
from ..catalog import Target
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
    rel = f"images/{pkg}_{version}"
    entry = cache.get(rel)
    if entry is None:
        deb = apt.download(pkg, version)

        def create(tmp: Path) -> None:
            tmp.mkdir(parents=True)
            ui.info(f"[image] unpacking {deb.path.name} and running depmod")
            unpack([deb], tmp / "root")
            mods = tmp / "root" / "lib" / "modules" / build.release
            usr_mods = tmp / "root" / "usr" / "lib" / "modules" / build.release
            if not mods.exists() and usr_mods.is_dir():
                # Debian 13's packages ship /usr/lib/modules (merged /usr); the entry keeps one
                # layout, which the bookworm depmod -b also reads, so every reader finds lib/modules.
                mods.parent.mkdir(parents=True)
                os.rename(usr_mods, mods)
            if not mods.is_dir() or not (tmp / "root" / "boot" / f"vmlinuz-{build.release}").exists():
                raise OfedError(f"{deb.path.name}: no boot/vmlinuz-{build.release} or lib/modules/{build.release}")
            _run(["depmod", "-b", str(tmp / "root"), build.release], f"depmod for {build.release}")
            (tmp / "manifest.json").write_text(json.dumps(
                {"package": pkg, "version": version, "release": build.release, "sha256": deb.sha256,
                 "size": deb.size}, indent=2, sort_keys=True) + "\n")

        entry = cache.ensure(rel, create)
    return _image(entry, build.release, pkg, version)


def _image(entry: Path, release: str, pkg: str, version: str) -> KernelImage:
    root = entry / "root"
    return KernelImage(root, root / "boot" / f"vmlinuz-{release}", root / "lib" / "modules" / release,
                       release, pkg, version)


def _run(cmd: list[str], what: str) -> None:
    run(cmd, what=what, package="dpkg" if cmd[0].endswith("dpkg-deb") else "")
