"""ofedtool report: the JSON/JUnit/HTML matrix from trees built elsewhere (a Jenkins matrix's cells).

Each TREE is an `ofedtool build -o` directory: its result.json gives the build cells and, when
`ofedtool vmtest --tree TREE` ran, its vmtest/result.json the guest's cells. A tree whose build
never finished (no result.json: fetch or generate failed) is a failed cell, not a reason to
write no report: the reports are written whatever the verdict.

The verdict is the exit status (1 when any cell failed), or with --exit-zero (as in ruff,
flake8, pylint) only report.json's "ok"/"failed" and the JSON output's "verdict", so a CI step
that publishes the reports succeeds and the JUnit publisher judges the build.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import OfedError
from ..fsutil import claim_dir
from ..prove.report import Cell, cells_from_build, cells_from_vmtest, write_all
from ..tree import BuiltTree
from ..prove.screenshot import screenshot


def add_arguments(p) -> None:
    p.add_argument("trees", nargs="+", type=Path, metavar="TREE", help="built output directories")
    p.add_argument("-o", "--output", type=Path, required=True, help="report directory")
    p.add_argument("--screenshot", type=Path, metavar="PNG",
                   help="also render report.html in headless Chromium into this PNG (for CI artifacts)")
    p.add_argument("--exit-zero", action="store_true",
                   help="exit 0 when the reports were written, even if cells failed (the verdict is in "
                        "report.json's \"ok\" and the JUnit failures)")


def run(args, cache) -> dict:
    cells, targets, froms = [], [], set()
    out = claim_dir(args.output, "report -o")
    for tree in args.trees:
        if not tree.is_dir():
            raise OfedError(f"{tree}: no such directory, so no result.json (give `ofedtool build -o` directories)")
        if not (tree / "result.json").exists():
            target = _target_of(tree)
            why = ("no result.json: its build did not finish (fetch, generate or the compile stopped "
                   "before judging; see the CI log)")
            log = tree / "build.log"
            cells.append(Cell(target, "(all)", "compile", "fail", 0.0, why,
                              os.path.relpath(log, out) if log.exists() else ""))
            targets.append({"target": target, "ok": False, "output": str(tree)})
            continue
        bt = BuiltTree.open(tree)
        res = bt.build
        target = res.target or tree.name
        froms.add(res.source.get("version", "?"))
        log = os.path.relpath(tree / "build.log", out)
        dirs = {m.name: m.dir for m in bt.manifest.modules}
        cells += cells_from_build(target, res, "", res.seconds, log, dirs)
        if bt.vm is not None:
            cells += cells_from_vmtest(target, bt.vm, os.path.relpath(tree / "vmtest" / "console.log", out))
        targets.append({"target": target, "ok": res.ok, "output": str(tree)})
    ok = all(c.status != "fail" for c in cells)
    failed = [f"{c.target}/{c.module}/{c.stage}" for c in cells if c.status == "fail"]
    meta = {"from": ",".join(sorted(froms)) or "?", "targets": targets, "ok": ok, "failed": failed}
    files = write_all(out, meta, cells)
    if args.screenshot:
        files["screenshot"] = str(screenshot(Path(files["html"]), args.screenshot))
    return {"ok": ok or args.exit_zero, "verdict": "pass" if ok else "fail", "reports": files, "failed": failed,
            "text": f"{len(cells)} cells, {len(failed)} failed: {', '.join(failed[:10]) or 'none'}\n"
                    f"reports: {files['html']} {files['junit']} {files['json']}"
                    + (f"\nscreenshot: {files['screenshot']}" if args.screenshot else "")}


def _target_of(tree: Path) -> str:
    """The target a tree was generated for (its manifest), else its directory's name (the
    Jenkinsfile's out/<kernel>/tree: the kernel)."""
    try:
        return json.loads((tree / "manifest.json").read_text())["target"]["id"]
    except (OSError, ValueError, KeyError, TypeError):
        return tree.parent.name if tree.name == "tree" else tree.name
