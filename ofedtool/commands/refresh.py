"""ofedtool refresh: re-base backports/patches onto a new upstream release (like quilt refresh).

Each patch is applied (with fuzz) to the new X's pristine file and rewritten from the result, so
it applies exactly again. A patch that no longer applies is named with its hunk and left as it
was; the others are still refreshed, and the exit code says something needs a human.
"""

from __future__ import annotations


from .. import ui
from ..catalog import data_dir, parse_from
from ..errors import OfedError
from ..fetch.sources import fetch_source
from .options import add_source


def add_arguments(p) -> None:
    p.add_argument("--from", dest="from_", required=True, metavar="X", help="the new upstream release")
    p.add_argument("--fuzz", type=int, default=2, help="context lines a hunk may lose (default 2)")
    add_source(p)


def run(args, cache) -> dict:
    from ..adapt.patches import PatchError, refresh_patch

    src = fetch_source(cache, parse_from(args.from_), args.source, args.git_url, args.offline)
    root = data_dir("backports")
    patches = sorted((root / "patches").rglob("*.patch"))
    if not patches:
        raise OfedError(f"no patches under {root / 'patches'}")
    done, failed = [], []
    for p in patches:
        rel = str(p.relative_to(root / "patches"))[: -len(".patch")]
        try:
            r = refresh_patch(src.path, root, rel, p, max_fuzz=args.fuzz)
        except PatchError as e:
            ui.info(f"[refresh] FAILED {e}")
            failed.append({"patch": str(p.relative_to(root)), "error": str(e)})
            continue
        moved = [h for h in r.hunks if h.offset or h.fuzz]
        ui.info(f"[refresh] {r.patch}: {'rewritten' if r.changed else 'unchanged'}"
                + (f" ({len(moved)} hunks moved)" if moved else ""))
        done.append({"patch": r.patch, "changed": r.changed, "sha256": r.sha256})
    text = (f"refreshed {len(done)} patches against {src.version} "
            f"({sum(d['changed'] for d in done)} rewritten), {len(failed)} failed")
    return {"ok": not failed, "source": src.version, "patches": done, "failed": failed, "text": text}
