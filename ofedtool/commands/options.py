"""The command line's shared option groups, and their translation into the library's requests.
Defaults come from ofedtool.defaults (each written once there)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..modules import parse_rules
from ..pipeline import (DEFAULT_JOBS, DEFAULT_MODULES, DEFAULT_SOURCE, SOURCES, BuildOptions, Selection, Session,
                        parse_leave)


def add_source(p) -> None:
    p.add_argument("--source", choices=SOURCES, default=DEFAULT_SOURCE,
                   help="where --from comes from (auto: git, falling back to Debian's linux-source)")
    p.add_argument("--git-url", help="git remote for --source git (default: kernel.org linux stable)")


def add_selection(p, many: bool = False, kernel_required: bool = True) -> None:
    """--kernel (one, or many comma-separated), --from, --modules, --source, --git-url."""
    if many:
        p.add_argument("--kernel", required=kernel_required, metavar="K1,K2,...",
                       help="targets (catalog ids or aliases), comma-separated")
    else:
        p.add_argument("--kernel", required=True, metavar="Y", help="target kernel: catalog id/alias or build dir")
    p.add_argument("--from", dest="from_", required=True, metavar="X", help="upstream release: 6.12, 6.12.117, v6.12")
    p.add_argument("--modules", default=DEFAULT_MODULES,
                   help=f"modules or groups (default {DEFAULT_MODULES}: every RDMA module the target ships, "
                        f"plus rxe and siw; core,rxe,siw for the core alone)")
    p.add_argument("--leave", default="", metavar="MOD[,MOD]",
                   help="distro modules importing from ours that are not rebuilt: the build passes with "
                        "them, and the packages blacklist them in modprobe.d (they would not load)")
    p.add_argument("--rule", default="", metavar="NAME=upstream|target[,...]",
                   help="for a driver both rules can build (mlx5: mlx5_core, mlxfw, mlx5_ib): X's code "
                        "(upstream) or the distro's with verb shims (target); default: upstream where the "
                        "rules carry it for this pair, else target (said in the build summary)")
    add_source(p)


def add_jobs(p, what: str = "parallel jobs") -> None:
    p.add_argument("-j", "--jobs", type=int, default=DEFAULT_JOBS, help=f"{what} (default: cores)")


def add_ccache(p, what: str = "compile through ccache") -> None:
    p.add_argument("--ccache", action=argparse.BooleanOptionalAction, default=None,
                   help=f"{what} (default: when ccache is installed)")


def add_build(p, output: bool = True, ccache: bool = True) -> None:
    """A single-target pipeline command: selection, -j, -o, --ccache."""
    add_selection(p)
    add_jobs(p)
    if output:
        p.add_argument("-o", "--output", type=Path, help="output directory (default build/<kernel>-<X>)")
    if ccache:
        add_ccache(p)


def session(args, cache) -> Session:
    return Session(cache, bool(getattr(args, "offline", False)))


def selection(args, kernel: str | None = None) -> Selection:
    return Selection(kernel or args.kernel, args.from_, args.modules, args.source, args.git_url, leave(args),
                     parse_rules(getattr(args, "rule", "")))


def leave(args) -> tuple[str, ...]:
    return parse_leave(getattr(args, "leave", ""))


def build_options(args) -> BuildOptions:
    return BuildOptions(args.jobs, getattr(args, "output", None), getattr(args, "ccache", None))


def kernels(args) -> tuple[str, ...]:
    return tuple(k.strip() for k in (args.kernel or "").split(",") if k.strip())
