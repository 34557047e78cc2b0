"""ofedtool package: turn a generated and built tree into DKMS, RPM and Debian packages."""

from __future__ import annotations

from pathlib import Path

from ..errors import OfedError
from .. import pipeline
from ..package import DEFAULT_NAME, Options, parse_formats
from ..package.rpm import DEFAULT_CONFLICTS
from .options import session


def add_package_options(p, for_build: bool) -> None:
    """Options shared by `ofedtool package` and `ofedtool build --package`."""
    if for_build:
        p.add_argument("--package", dest="formats", metavar="FORMATS",
                       help="after a successful build, make packages: comma-separated dkms, rpm, deb")
        p.add_argument("--package-dir", type=Path, help="where --package writes (default <output>-packages)")
    else:
        p.add_argument("--format", dest="formats", metavar="FORMATS", default="dkms,rpm,deb",
                       help="comma-separated: dkms, rpm, deb (default all three)")
    p.add_argument("--name", default=DEFAULT_NAME, help=f"package name (default {DEFAULT_NAME})")
    p.add_argument("--release", type=int, default=1, dest="pkg_release",
                   help="ofedtool release counter: version is <X>-<N> (default 1)")
    p.add_argument("--sign-key", type=Path, help="private key (PEM) to sign every .ko with the target's sign-file")
    p.add_argument("--sign-cert", type=Path, help="X.509 certificate matching --sign-key")
    p.add_argument("--kernel-dir", type=Path,
                   help="target build tree for scripts/sign-file (default: the cached one the tree was built against)")
    p.add_argument("--conflicts", default=",".join(DEFAULT_CONFLICTS),
                   help="comma-separated RPM Conflicts: other OFED stacks (default %(default)s)")
    p.add_argument("--obsoletes", default="", help="comma-separated RPM Obsoletes (default none)")
    p.add_argument("--kernel-requires", help="RPM Requires on the kernel (default 'kernel-uname-r = <kver>')")
    p.add_argument("--no-variants", dest="variants", action="store_false",
                   help="the DKMS package for the tree's own kernel's features only: do not generate the trees "
                        "of the release's other kernels (Debian 12's 6.12 for a 6.1 tree), which it then refuses")


def options(args, flag: str = "--format") -> Options:
    split = lambda s: [x.strip() for x in (s or "").split(",") if x.strip()]  # noqa: E731
    return Options(formats=parse_formats(args.formats, flag), name=args.name, counter=args.pkg_release,
                   sign_key=args.sign_key, sign_cert=args.sign_cert, kernel_dir=args.kernel_dir,
                   conflicts=split(args.conflicts), obsoletes=split(args.obsoletes),
                   kernel_requires=args.kernel_requires, variants=args.variants)




def add_arguments(p) -> None:
    p.add_argument("--tree", type=Path, help="the -o directory of `ofedtool build` (default: the only one under build/)")
    p.add_argument("-o", "--output", type=Path, help="where the packages go (default <tree>-packages)")
    add_package_options(p, for_build=False)


def _default_tree() -> Path:
    built = sorted(p.parent for p in Path("build").glob("*/result.json"))
    if len(built) == 1:
        return built[0]
    if not built:
        raise OfedError("no built tree under build/: run `ofedtool build` first or give --tree")
    raise OfedError(f"several built trees under build/ ({', '.join(str(b) for b in built)}): choose one with --tree")


def run(args, cache) -> dict:
    tree = args.tree or _default_tree()
    return pipeline.package(tree, args.output, options(args), session(args, cache))
