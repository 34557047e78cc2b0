"""The visible pipeline: resolve → fetch → generate → build. Commands call these stages."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import ui
from .catalog import parse_from, resolve_target
from .errors import OfedError
from .fsutil import check_output
from .headers import BuildTree, fetch_headers, is_local
from .modules import Catalog, Module, in_source, load_catalog, select
from .sources import SourceTree, fetch_source

if TYPE_CHECKING:
    from .exports import SourceIndex


@dataclass
class Inputs:
    source: SourceTree
    build: BuildTree
    catalog: Catalog
    modules: list[Module]
    target_id: str
    target_source: SourceTree | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # module → why it is not built
    exporters: SourceIndex | None = None   # the target source's exporter index (the ABI gate)
    no_exporters: str = ""                 # why there is none


def add_pipeline_arguments(p, output: bool = True) -> None:
    p.add_argument("--kernel", required=True, metavar="Y", help="target kernel: catalog id/alias or build dir")
    p.add_argument("--from", dest="from_", required=True, metavar="X", help="upstream release: 6.12, 6.12.117, v6.12")
    p.add_argument("--modules", default="core,rxe,siw", help="modules or groups (default core,rxe,siw)")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="parallel jobs (default: cores)")
    p.add_argument("--source", choices=("git", "debian", "auto"), default="auto",
                   help="where --from comes from (auto: git, falling back to Debian's linux-source)")
    p.add_argument("--git-url", help="git remote for --source git (default: kernel.org linux stable)")
    if output:
        p.add_argument("-o", "--output", type=Path, help="output directory (default build/<kernel>-<X>)")


def resolve_and_fetch(args, cache) -> Inputs:
    # Resolve everything that can be checked locally before any download.
    spec = parse_from(args.from_)
    if is_local(args.kernel):
        from .headers import local
        local.fetch(args.kernel)  # a wrong path fails now, not after a 146 MiB source download
    target = None if is_local(args.kernel) else resolve_target(args.kernel)
    cat = load_catalog()
    modules = select(cat, args.modules)
    if getattr(args, "output", None):
        check_output(args.output)  # a foreign -o is refused before any download
    ui.info(f"[resolve] --from {args.from_} → {spec.series}{'.' + str(spec.sublevel) if spec.sublevel is not None else ' (newest)'}; "
            f"--kernel {args.kernel} → {target.id if target else args.kernel}; "
            f"modules: {', '.join(m.name for m in modules)}")
    with ui.stage("fetch", "upstream source and target build tree"):
        src = fetch_source(cache, spec, args.source, args.git_url, args.offline)
        _, build = fetch_headers(cache, args.kernel, args.offline)
    ui.info(f"[fetch] source {src.version} ({src.provider}); target {build.release}")
    modules, absent = in_source(modules, src.path)
    for name in absent:
        ui.info(f"[resolve] {name}: not in {src.version} (its Makefile does not build it)")
    modules, skipped = buildable(modules, build)
    for name, why in skipped.items():
        ui.info(f"[resolve] {name}: not built: {why}")
    ysrc = None
    hv = next((p["version"] for p in build.provenance.get("packages", [])
               if p["package"].startswith("linux-headers-")), None)
    if any(m.rule == "target" for m in modules):
        if target is None:
            raise OfedError(f"ULPs ({', '.join(m.name for m in modules if m.rule == 'target')}) take the "
                            f"target kernel's own source: use a catalog --kernel, not a build directory")
        from .sources.debian import fetch_target_source
        with ui.stage("fetch", f"{target.id}'s own source for the ULPs"):
            ysrc = fetch_target_source(cache, target, hv, args.offline)
    exporters, why = _exporters(cache, target, build, cat, hv if target else None, args.offline)
    return Inputs(src, build, cat, modules, target.id if target else "local", ysrc, skipped, exporters, why)


def _exporters(cache, target, build: BuildTree, cat: Catalog, headers_version: str | None,
               offline: bool) -> tuple[SourceIndex | None, str]:
    """The ABI gate's index of the target's own source, or None and why not (a local build
    dir has no source package; offline with nothing cached)."""
    if target is None:
        return None, "a local build dir has no target source to read the exporters from"
    from .exports import fetch_index
    from .kbuild import inspect_tree
    try:
        return fetch_index(cache, target, headers_version, inspect_tree(build.build_dir, build.toolchain).arch,
                           cat.include_paths, offline), ""
    except OfedError as e:
        ui.warn(f"abi: the ABI gate cannot run: {e}")
        return None, str(e)


def buildable(modules: list[Module], build: BuildTree) -> tuple[list[Module], dict[str, str]]:
    """ULPs need their subsystem in the target kernel (SCSI target, nvme fabrics, sunrpc...):
    a target-rule module whose Kconfig symbol the target's .config leaves unset is reported and
    skipped, never silently dropped and never forced on."""
    config = {}
    for line in (build.build_dir / ".config").read_text(errors="replace").splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            k, _, v = line.partition("=")
            config[k.removeprefix("CONFIG_")] = v
    keep, skipped = [], {}
    for m in modules:
        missing = [k for k, _ in m.kconfig if config.get(k) not in ("m", "y")]
        if m.rule == "target" and missing:
            skipped[m.name] = f"CONFIG_{missing[0]} is not set in {build.release}'s config"
        else:
            keep.append(m)
    return keep, skipped


def output_dir(args, inputs: Inputs) -> Path:
    if getattr(args, "output", None):
        return args.output
    return Path("build") / f"{inputs.target_id}-{inputs.build.release}_from-{inputs.source.version}"


def require_jobs(jobs: int) -> int:
    if jobs < 1:
        raise OfedError(f"--jobs {jobs}: must be at least 1")
    return jobs
