"""Source providers: where the upstream RDMA code of --from X comes from.

Every provider yields a SourceTree: a read-only directory in the cache holding only the RDMA
paths (backports/modules.toml: fetch_paths) and a manifest.json with its provenance.
"""

from __future__ import annotations

from ...defaults import SOURCES

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ... import ui
from ...catalog import FromSpec, data_dir
from ...errors import OfedError


# RDMA paths only (~1100 files, 25 MB): cheap enough to verify by content on every use (~0.1 s),
# so an edited file is found too, not only a deleted or truncated one.
SOURCE_KIND = "content"


@dataclass(frozen=True)
class SourceTree:
    path: Path
    version: str        # "6.12.117", from the tree's own top Makefile
    provider: str       # git | debian
    provenance: dict    # remote+tag+commit, or package+version+sha256

    def manifest(self) -> dict:
        return {"version": self.version, "provider": self.provider, **self.provenance}


def fetch_paths() -> list[str]:
    with open(data_dir("backports") / "modules.toml", "rb") as f:
        return list(tomllib.load(f)["fetch_paths"])


def paths_key(paths: list[str]) -> str:
    return hashlib.sha256("\n".join(paths).encode()).hexdigest()[:8]


def makefile_version(tree: Path) -> str:
    """VERSION.PATCHLEVEL.SUBLEVEL from a kernel tree's top Makefile."""
    try:
        text = (tree / "Makefile").read_text(errors="replace")
    except FileNotFoundError:
        raise OfedError(f"{tree}: no top-level Makefile, not a kernel source tree") from None
    vals = {}
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL"):
        m = re.search(rf"^{key}\s*=\s*(\d+)", text, re.M)
        if not m:
            raise OfedError(f"{tree}/Makefile: no {key}")
        vals[key] = m.group(1)
    return f"{vals['VERSION']}.{vals['PATCHLEVEL']}.{vals['SUBLEVEL']}"


def load_tree(path: Path) -> SourceTree:
    m = json.loads((path / "manifest.json").read_text())
    prov = {k: v for k, v in m.items() if k not in ("version", "provider")}
    return SourceTree(path, m["version"], m["provider"], prov)


def fetch_source(cache, spec: FromSpec, source: str = "auto", git_url: str | None = None,
                 offline: bool = False) -> SourceTree:
    """--source git|debian|auto. auto tries git and falls back to Debian when the remote is unreachable."""
    from . import debian, git

    if source not in SOURCES:
        raise OfedError(f"--source {source}: expected git, debian or auto")
    if source == "debian":
        return debian.fetch(cache, spec, offline=offline)
    try:
        return git.fetch(cache, spec, url=git_url, offline=offline)
    except git.NotCached as e:
        # Offline, auto takes whichever provider filled the cache (an online auto run may
        # have filled it through the Debian fallback).
        if source == "git":
            raise
        ui.info(f"[fetch] {e}; using Debian's {spec.release.debian_package} from the cache")
        try:
            return debian.fetch(cache, spec, offline=True)
        except OfedError as d:
            raise OfedError(f"{e}, nor Debian's {spec.release.debian_package} ({d})") from None
    except git.RemoteUnreachable as e:
        if source == "git":
            raise
        ui.info(f"[fetch] {e}; falling back to Debian's {spec.release.debian_package}")
        return debian.fetch(cache, spec, offline=offline)


def newest_version(cache, spec: FromSpec, provider: str, git_url: str | None = None, offline: bool = False,
                   max_age: float | None = None) -> str:
    """The upstream version --from names today at the provider a previous build used (git: the
    newest stable tag; debian: the newest linux-source upload), without fetching the source.
    git falls back to Debian when the remote is unreachable, as --source auto does."""
    from . import debian, git

    if provider == "git" and not offline:
        url = git.remote_url(git_url)
        try:
            tag = git.choose_tag(spec, git.list_tags(url, spec.release.tag_prefix), url).removeprefix("v")
            return tag if tag.count(".") == 2 else tag + ".0"  # v6.12 is the tree's 6.12.0
        except git.RemoteUnreachable as e:
            ui.info(f"[watch] {e}; asking Debian's {spec.release.debian_package} instead")
    return debian.newest(cache, spec, offline, max_age)
