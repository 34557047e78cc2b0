"""ofedtool fetch: upstream source and/or target build tree into the cache."""

from __future__ import annotations

from .. import ui
from ..catalog import parse_from
from ..errors import OfedError


def add_arguments(p) -> None:
    p.add_argument("--from", dest="from_", metavar="X", help="upstream release: 6.12, 6.12.117 or v6.12")
    p.add_argument("--kernel", metavar="Y", help="target kernel: catalog id/alias (6.1, debian-12-cloud) or a build dir")
    add_source_arguments(p)


def add_source_arguments(p) -> None:
    p.add_argument("--source", choices=("git", "debian", "auto"), default="auto",
                   help="where --from comes from (auto: git, falling back to Debian's linux-source)")
    p.add_argument("--git-url", help="git remote for --source git (default: kernel.org linux stable)")


def run(args, cache) -> dict:
    from ..headers import fetch_headers
    from ..sources import fetch_source

    if not args.from_ and not args.kernel:
        raise OfedError("fetch: give --from X and/or --kernel Y")
    out: dict = {"ok": True}
    text = []
    # Validate both before any download, so bad input leaves the cache untouched.
    spec = parse_from(args.from_) if args.from_ else None
    if args.kernel:
        from ..headers import is_local
        from ..catalog import resolve_target
        if not is_local(args.kernel):
            resolve_target(args.kernel)
    if spec:
        with ui.stage("fetch", f"source {args.from_}"):
            src = fetch_source(cache, spec, args.source, args.git_url, args.offline)
        out["source"] = {"path": str(src.path), **src.manifest()}
        text.append(f"source  {src.version} ({src.provider}) {src.path}")
    if args.kernel:
        with ui.stage("fetch", f"headers {args.kernel}"):
            target, tree = fetch_headers(cache, args.kernel, args.offline)
        out["kernel"] = tree.manifest() | {"build_dir": str(tree.build_dir)}
        text.append(f"kernel  {tree.release} ({tree.target_id}) {tree.build_dir}")
    out["text"] = "\n".join(text)
    return out
