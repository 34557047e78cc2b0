"""ofedtool watch: which targets a distro kernel update (or a new X) needs rebuilt, and a
release of exactly those with --release-dir (ofedtool/watch.py)."""

from __future__ import annotations

from pathlib import Path

from .. import pipeline
from ..package import parse_formats
from ..package.common import DEFAULT_NAME
from ..package.rpm import DEFAULT_CONFLICTS
from ..release import ReleaseRequest
from ..watch import WatchRequest
from .options import add_jobs, add_source, kernels, session
from ..defaults import DEFAULT_MODULES


def add_arguments(p) -> None:
    p.add_argument("--from", dest="from_", required=True, metavar="X", help="upstream release: 6.12, 6.12.117")
    p.add_argument("--since", type=Path, nargs="+", required=True, metavar="PATH",
                   help="the last build: built trees, a directory of them (a CI workspace's out/), "
                        "release directories or their manifest.json")
    p.add_argument("--kernel", metavar="K1,K2,...", help="targets to watch (default: the ones the last build has)")
    p.add_argument("--changed", action="store_true",
                   help="print only the changed kernels, comma-separated (empty when none): for CI scripts")
    p.add_argument("--release-dir", type=Path, metavar="DIR",
                   help="when a target changed, make a release of the changed ones under DIR (as `release -o DIR`)")
    p.add_argument("--modules", default=DEFAULT_MODULES, help=f"for --release-dir (default {DEFAULT_MODULES})")
    p.add_argument("--format", dest="formats", default="dkms,rpm,deb", help="for --release-dir")
    p.add_argument("--name", default=DEFAULT_NAME, help="for --release-dir")
    add_source(p)
    add_jobs(p)


def request(args) -> WatchRequest:
    template = ReleaseRequest(args.from_, (), tuple(parse_formats(args.formats)), args.modules, args.name,
                              jobs=args.jobs, source=args.source, git_url=args.git_url,
                              conflicts=tuple(DEFAULT_CONFLICTS))
    return WatchRequest(args.from_, tuple(args.since), kernels(args), args.release_dir, template)


def run(args, cache) -> dict:
    result = pipeline.watch(session(args, cache), request(args))
    if args.changed and not args.json:
        result["text"] = ",".join(result["changed"])
    return result
