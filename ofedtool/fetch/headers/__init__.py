"""Headers providers: a kernel build tree (the thing `make -C <tree> M=... modules` needs)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from ...catalog import Target, resolve_target
from ...errors import OfedError
from ..kbuild import KernelTree


# The providers' name for the one kernel tree type (kbuild.KernelTree).
BuildTree = KernelTree


def kernel_release(build_dir: Path) -> str:
    """`uname -r` of the kernel (kbuild.kernel_release, the one reader)."""
    from ..kbuild import kernel_release as release
    return release(build_dir)


def is_local(query: str) -> bool:
    return query.startswith(("/", "./", "../", "~", "local:"))


def fetch_headers(cache, query: str, offline: bool = False) -> tuple[Target | None, BuildTree]:
    """--kernel: a catalog target (Debian packages) or a local build directory."""
    from . import debian, local

    if is_local(query):
        return None, local.fetch(query)
    target = resolve_target(query)
    if target.toolchain:
        from ..toolchain import require_tools
        require_tools()  # before any download: a missing patchelf leaves the cache as it was
    if target.headers.get("provider") == "debian":
        tree = debian.fetch(cache, target, offline=offline)
        return target, with_toolchain(cache, target, tree, offline)
    raise OfedError(f"kernel {target.id}: unknown headers provider {target.headers.get('provider')!r}")


def with_toolchain(cache, target: Target, tree: BuildTree, offline: bool = False) -> BuildTree:
    """The tree with the toolchain its target declares, pinned to the kernel's compiler version."""
    if not target.toolchain:
        return tree
    from .. import toolchain
    from ... import ui
    from ..kbuild import compiler_text
    kbuild = [(p["package"], p["version"]) for p in tree.provenance.get("packages", [])
              if p["package"].startswith("linux-kbuild-")]
    with ui.stage("toolchain", f"{target.id}'s own ({', '.join(target.toolchain.get('packages', []))})"):
        tc = toolchain.fetch(cache, target, tree.build_dir, compiler_text(tree.build_dir), kbuild, offline)
    return replace(tree, toolchain=tc)


def find_build_dir(cache, target: dict, release: str, given: Path | None = None) -> Path | None:
    """A built tree's target build dir: given (--kernel-dir), else the cached Debian headers the
    tree was built against (named in its manifest's target), else /lib/modules/<release>/build."""
    if given:
        return Path(given)
    pkgs = target.get("packages") or []
    if cache is not None and pkgs:
        root = cache.path("headers", f"{pkgs[0]['package']}_{pkgs[0]['version']}")
        if (root / "manifest.json").is_file():
            return load_build_tree(root).build_dir
    local = Path("/lib/modules") / release / "build"
    return local if local.is_dir() else None


def load_build_tree(root: Path) -> BuildTree:
    m = json.loads((root / "manifest.json").read_text())
    return KernelTree(root / m["build_dir"], m["release"], target_id=m["target"],
                      provenance={k: v for k, v in m.items() if k not in ("build_dir", "release", "target")})
