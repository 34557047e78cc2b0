"""Debian's linux-headers packages as a private build tree: no system install, no root.

headers-<abi>-<flavour>, its headers-<abi>-common and the linux-kbuild package are unpacked
into one root in the cache. Their scripts/tools symlinks are relative and resolve there; the one
fix is the flavour Makefile, which includes the -common Makefile by an absolute /usr/src path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ... import ui
from ..apt import Apt, highest, parse_depends, unpack
from ...proc import require
from ...catalog import Target
from ...errors import OfedError
from . import BuildTree, kernel_release, load_build_tree


def resolve(apt: Apt, target: Target) -> tuple[str, str, str]:
    """(package, version, abi) of the newest headers package matching the target's pattern."""
    pattern = target.headers["package"]
    rx = re.compile(pattern)
    found = [(n, rx.fullmatch(n).group("abi")) for n in apt.names(pattern)]
    if not found:
        raise OfedError(f"kernel {target.id}: no package matching {pattern} in Debian suites "
                        f"{', '.join(target.suites)}")
    name, abi = highest(found)
    return name, apt.newest(name), abi


def fix_makefile(build_dir: Path, final_usr_src: Path) -> None:
    """Point "include /usr/src/linux-headers-X-common/Makefile" at our private root, where the tree
    will live once renamed into place (an absolute path, as tools that read it expect)."""
    mk = build_dir / "Makefile"
    text = mk.read_text()
    fixed = re.sub(r"^include /usr/src/([^/\s]+)/Makefile",
                   lambda m: f"include {final_usr_src}/{m.group(1)}/Makefile", text, flags=re.M)
    if fixed == text and "/usr/src/" in text:
        raise OfedError(f"{mk}: unexpected form of the -common include; cannot relocate the tree")
    mk.write_text(fixed)


def fetch(cache, target: Target, offline: bool = False) -> BuildTree:
    require("apt-get", "apt")
    require("dpkg-deb", "dpkg")
    apt = Apt(cache, target.suites, arch=target.arch, offline=offline)
    apt.update()
    pkg, version, abi = resolve(apt, target)
    rel = f"headers/{pkg}_{version}"
    if (entry := cache.get(rel)) is not None:
        return load_build_tree(entry)
    fields = apt.show(pkg, version)
    wanted = [(pkg, version)]
    for dep, exact in parse_depends(fields.get("Depends", "")):
        if dep.startswith("linux-headers-") or dep.startswith("linux-kbuild-"):
            # kbuild is declared ">=": take the one built from the same source upload if present.
            vers = apt.versions(dep)
            wanted.append((dep, exact or (version if version in vers else apt.newest(dep))))
    debs = [apt.download(p, v) for p, v in wanted]
    require("dpkg-deb", "dpkg")

    def create(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        ui.info(f"[fetch] unpacking {', '.join(d.path.name for d in debs)}")
        unpack(debs, tmp / "root")
        build = tmp / "root" / "usr" / "src" / pkg
        if not (build / "Makefile").exists():
            raise OfedError(f"{pkg}: no usr/src/{build.name}/Makefile in the package")
        fix_makefile(build, cache.path(rel, "root", "usr", "src"))
        manifest = {
            "build_dir": f"root/usr/src/{pkg}",  # relative: the cache may move
            "release": kernel_release(build), "target": target.id, "provider": "debian",
            "abi": abi, "packages": [{"package": d.package, "version": d.version, "sha256": d.sha256,
                                      "size": d.size} for d in debs],
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    return load_build_tree(cache.ensure(rel, create))
