"""ofedtool fetch: upstream source and/or target build tree into the cache."""

from __future__ import annotations

from .. import ui
from ..catalog import parse_from, resolve_target
from ..errors import OfedError
from ..fetch.headers import fetch_headers, is_local
from .options import add_source


def add_arguments(p) -> None:
    p.add_argument("--from", dest="from_", metavar="X", help="upstream release: 6.12, 6.12.117 or v6.12")
    p.add_argument("--kernel", metavar="Y[,Y2...]",
                   help="target kernel(s): catalog id/alias (6.1, debian-12-cloud) or a build dir; comma-separated")
    add_source(p)


def run(args, cache) -> dict:
    from ..fetch.sources import fetch_source

    if not args.from_ and not args.kernel:
        raise OfedError("fetch: give --from X and/or --kernel Y")
    out: dict = {"ok": True}
    text = []
    # Validate both before any download, so bad input leaves the cache untouched.
    spec = parse_from(args.from_) if args.from_ else None
    kernels = [k.strip() for k in (args.kernel or "").split(",") if k.strip()]
    for k in kernels:
        if not is_local(k):
            resolve_target(k)
    if spec:
        with ui.stage("fetch", f"source {args.from_}"):
            src = fetch_source(cache, spec, args.source, args.git_url, args.offline)
        out["source"] = {"path": str(src.path), **src.manifest()}
        text.append(f"source  {src.version} ({src.provider}) {src.path}")
    trees = []
    for k in kernels:
        with ui.stage("fetch", f"headers {k}"):
            _, tree = fetch_headers(cache, k, args.offline)
        trees.append(tree.manifest() | {"build_dir": str(tree.build_dir)})
        text.append(f"kernel  {tree.release} ({tree.target_id}) {tree.build_dir}")
        if tree.toolchain:
            text.append(f"  toolchain {tree.toolchain.root.name}: {tree.toolchain.bin}")
    if trees:
        out["kernel"] = trees[0]   # the first, for single-kernel callers
        out["kernels"] = trees
    out["text"] = "\n".join(text)
    return out
