"""Debian's linux-source-X.Y package as the upstream source: apt download, extract RDMA paths."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ... import ui
from ..apt import Apt
from ...proc import require
from ...catalog import FromSpec
from ...errors import OfedError
from . import SOURCE_KIND, SourceTree, fetch_paths, load_tree, makefile_version, paths_key


def _upstream(version: str) -> str:
    """Debian version 6.12.117-1~deb12u1 → upstream 6.12.117."""
    return version.split("-")[0].split("+")[0].split("~")[0]


def fetch(cache, spec: FromSpec, offline: bool = False) -> SourceTree:
    """--from X via Debian: the newest linux-source-X.Y (or the given sublevel)."""
    apt = _apt(cache, spec.release.debian_suites, offline)
    return fetch_package(cache, apt, spec.release.debian_package, resolve(apt, spec), spec.series)


def newest(cache, spec: FromSpec, offline: bool = False, max_age: float | None = None) -> str:
    """The upstream version --from names in Debian's index today, nothing downloaded but the index."""
    return _upstream(resolve(_apt(cache, spec.release.debian_suites, offline, max_age), spec))


def resolve(apt: Apt, spec: FromSpec) -> str:
    """The Debian version of linux-source-X.Y that --from names: the newest, or the given sublevel's."""
    pkg = spec.release.debian_package
    versions = apt.versions(pkg)
    if not versions:
        raise OfedError(f"package {pkg} not found in Debian suites {', '.join(spec.release.debian_suites)}")
    if spec.sublevel is not None:
        want = f"{spec.series}.{spec.sublevel}"
        matching = [v for v in versions if _upstream(v) == want]
        if not matching:
            raise OfedError(f"--from {want}: Debian has {pkg} only as {', '.join(versions)}")
        return matching[0]
    return versions[0]


def fetch_target_source(cache, target, headers_version: str | None, offline: bool = False) -> SourceTree:
    """The target kernel's own source (for ULPs): the linux-source upload its headers came from,
    so the ULP matches the kernel it will load into; the newest one if that is gone."""
    apt, pkg, version = target_source_package(cache, target, headers_version, offline)
    return fetch_package(cache, apt, pkg, version, target.series)


def target_source_package(cache, target, headers_version: str | None, offline: bool = False) -> tuple[Apt, str, str]:
    """(apt, package, version) of the target's own linux-source: the upload its headers came
    from, or the newest when the index no longer has that one."""
    pkg = target.source.get("package")
    if target.source.get("provider") != "debian" or not pkg:
        raise OfedError(f"kernel {target.id}: no [source] for the target's own code in {target.path}")
    apt = _apt(cache, target.suites, offline)
    versions = apt.versions(pkg)
    if not versions:
        raise OfedError(f"package {pkg} not found in Debian suites {', '.join(target.suites)}")
    return apt, pkg, headers_version if headers_version in versions else versions[0]


def _apt(cache, suites, offline, max_age: float | None = None) -> Apt:
    require("apt-get", "apt")
    require("dpkg-deb", "dpkg")
    apt = Apt(cache, tuple(suites), offline=offline)
    apt.update() if max_age is None else apt.update(max_age)
    return apt


def fetch_package(cache, apt: Apt, pkg: str, version: str, series: str) -> SourceTree:
    paths = fetch_paths()
    # The entry is keyed by the path list too: adding a path to modules.toml fetches afresh.
    rel = f"sources/debian/{pkg}_{version}-{paths_key(paths)}"
    if (entry := cache.get(rel, SOURCE_KIND)) is not None:
        return load_tree(entry)
    deb = apt.download(pkg, version)
    require("tar", "tar")

    def create(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        ui.info(f"[fetch] extracting RDMA paths of {pkg} {version}")
        # The .deb holds one linux-source-X.Y.tar.xz: stream it out, then take only our paths.
        inner = tmp / "source.tar.xz"
        with open(inner, "wb") as out:
            p = subprocess.run(["sh", "-c", 'dpkg-deb --fsys-tarfile "$1" | tar -xO --wildcards "./usr/src/*.tar.xz"',
                                "sh", str(deb.path)], stdout=out, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise OfedError(f"{deb.path.name}: cannot unpack: {p.stderr.decode(errors='replace').strip()}")
        top = f"linux-source-{series}"
        members = [f"{top}/{p}" for p in paths]
        # One decompression pass; a path absent in this release (trace/misc before 6.0) makes
        # tar complain "Not found in archive", which is the only failure we accept.
        p = subprocess.run(["tar", "-xJf", str(inner), "-C", str(tmp), "--strip-components=1", *members],
                           capture_output=True, text=True)
        real = [ln for ln in p.stderr.splitlines()
                if ln.strip() and "Not found in archive" not in ln and "Exiting with failure" not in ln]
        inner.unlink()
        if p.returncode != 0 and real:
            raise OfedError(f"{deb.path.name}: extract failed: {real[0]}")
        if not (tmp / "drivers/infiniband").is_dir():
            raise OfedError(f"{deb.path.name}: no drivers/infiniband in the source tarball")
        manifest = {"provider": "debian", "version": makefile_version(tmp), "package": pkg,
                    "package_version": version, "deb": deb.path.name, "sha256": deb.sha256,
                    "suites": [x.name for x in apt.suites], "paths": paths}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    return load_tree(cache.ensure(rel, create, kind=SOURCE_KIND))
