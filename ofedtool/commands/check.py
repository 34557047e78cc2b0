"""ofedtool check: build for several targets in parallel (ofedtool/matrix.py) and write reports."""

from __future__ import annotations

from pathlib import Path

from .. import pipeline
from ..errors import OfedError
from ..matrix import CheckRequest
from ..modules import parse_rules
from .options import add_ccache, add_jobs, add_selection, kernels, leave, session


def add_arguments(p) -> None:
    add_selection(p, many=True, kernel_required=False)
    p.add_argument("--all", action="store_true", help="every target in the catalog")
    add_jobs(p, "total parallel jobs")
    p.add_argument("-o", "--output", type=Path, default=Path("check"), help="report directory (default ./check)")
    p.add_argument("--vmtest", action="store_true", help="also boot each target and pass traffic (ofedtool vmtest)")
    p.add_argument("--conformance", action="store_true",
                   help="with --vmtest: also rdma-core's own test suite on each target (ofedtool vmtest --conformance)")
    add_ccache(p, "passed to every build")


def request(args) -> CheckRequest:
    if args.conformance and not args.vmtest:
        raise OfedError("--conformance needs --vmtest (the suite runs in the vmtest guests)")
    return CheckRequest(args.from_, kernels(args), args.all, args.modules, args.source, args.git_url, args.jobs,
                        args.output, args.vmtest, args.ccache, args.conformance, leave(args),
                        parse_rules(args.rule))


def run(args, cache) -> dict:
    return pipeline.check(session(args, cache), request(args))
