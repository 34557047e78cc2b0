"""The visible pipeline: resolve → fetch → generate → build. Commands call these stages."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import ui
from .catalog import parse_from, resolve_target
from .errors import OfedError
from .headers import BuildTree, fetch_headers, is_local
from .modules import Catalog, Module, load_catalog, select
from .sources import SourceTree, fetch_source


@dataclass
class Inputs:
    source: SourceTree
    build: BuildTree
    catalog: Catalog
    modules: list[Module]
    target_id: str


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
    target = None if is_local(args.kernel) else resolve_target(args.kernel)
    cat = load_catalog()
    modules = select(cat, args.modules)
    ui.info(f"[resolve] --from {args.from_} → {spec.series}{'.' + str(spec.sublevel) if spec.sublevel is not None else ' (newest)'}; "
            f"--kernel {args.kernel} → {target.id if target else args.kernel}; "
            f"modules: {', '.join(m.name for m in modules)}")
    with ui.stage("fetch", "upstream source and target build tree"):
        src = fetch_source(cache, spec, args.source, args.git_url, args.offline)
        _, build = fetch_headers(cache, args.kernel, args.offline)
    ui.info(f"[fetch] source {src.version} ({src.provider}); target {build.release}")
    return Inputs(src, build, cat, modules, target.id if target else "local")


def output_dir(args, inputs: Inputs) -> Path:
    if getattr(args, "output", None):
        return args.output
    return Path("build") / f"{inputs.target_id}-{inputs.build.release}_from-{inputs.source.version}"


def require_jobs(jobs: int) -> int:
    if jobs < 1:
        raise OfedError(f"--jobs {jobs}: must be at least 1")
    return jobs
