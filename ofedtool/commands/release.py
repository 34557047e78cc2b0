"""ofedtool release: check matrix + vmtest + packages for every target into one directory (ofedtool/release.py)."""

from __future__ import annotations

from pathlib import Path

from .. import pipeline
from ..package import parse_formats
from ..package.common import DEFAULT_NAME
from ..package.rpm import DEFAULT_CONFLICTS
from ..release import ReleaseRequest
from .options import add_jobs, add_selection, kernels, leave, session


def add_arguments(p) -> None:
    add_selection(p, many=True)
    p.add_argument("--format", dest="formats", default="dkms,rpm,deb")
    p.add_argument("--name", default=DEFAULT_NAME)
    p.add_argument("--release", type=int, default=1, dest="pkg_release", help="ofedtool release counter N")
    p.add_argument("--sign-key", type=Path)
    p.add_argument("--sign-cert", type=Path)
    p.add_argument("--no-vmtest", action="store_true", help="skip booting the targets (not a full release)")
    add_jobs(p)
    p.add_argument("-o", "--output", type=Path, default=Path("release"), help="parent directory (default ./release)")


def request(args) -> ReleaseRequest:
    return ReleaseRequest(args.from_, kernels(args), tuple(parse_formats(args.formats)), args.modules, args.name,
                          args.pkg_release, args.sign_key, args.sign_cert, not args.no_vmtest, args.jobs,
                          args.source, args.git_url, args.output, tuple(DEFAULT_CONFLICTS), leave(args))


def run(args, cache) -> dict:
    return pipeline.release(session(args, cache), request(args))
