"""ofedtool report: the JSON/JUnit/HTML matrix from trees built elsewhere (a Jenkins matrix's cells).

Each TREE is an `ofedtool build -o` directory: its result.json gives the build cells and, when
`ofedtool vmtest --tree TREE` ran, its vmtest/result.json the guest's cells.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import OfedError
from ..fsutil import claim_dir
from ..report import cells_from_build, cells_from_vmtest, write_all
from ..screenshot import screenshot


def add_arguments(p) -> None:
    p.add_argument("trees", nargs="+", type=Path, metavar="TREE", help="built output directories")
    p.add_argument("-o", "--output", type=Path, required=True, help="report directory")
    p.add_argument("--screenshot", type=Path, metavar="PNG",
                   help="also render report.html in headless Chromium into this PNG (for CI artifacts)")


def run(args, cache) -> dict:
    cells, targets, froms = [], [], set()
    out = claim_dir(args.output, "report -o")
    for tree in args.trees:
        res_file = tree / "result.json"
        if not res_file.exists():
            raise OfedError(f"{tree}: no result.json (not an `ofedtool build` output directory)")
        res = json.loads(res_file.read_text())
        target = res.get("target") or tree.name
        froms.add(res.get("source", {}).get("version", "?"))
        log = os.path.relpath(tree / "build.log", out)
        cells += cells_from_build(target, res, "", res.get("build", {}).get("seconds", 0.0), log)
        vm = tree / "vmtest" / "result.json"
        if vm.exists():
            cells += cells_from_vmtest(target, json.loads(vm.read_text()),
                                       os.path.relpath(tree / "vmtest" / "console.log", out))
        targets.append({"target": target, "ok": bool(res.get("ok")), "output": str(tree)})
    meta = {"from": ",".join(sorted(froms)), "targets": targets}
    files = write_all(out, meta, cells)
    ok = all(c.status != "fail" for c in cells)
    failed = [f"{c.target}/{c.module}/{c.stage}" for c in cells if c.status == "fail"]
    if args.screenshot:
        files["screenshot"] = str(screenshot(Path(files["html"]), args.screenshot))
    return {"ok": ok, "reports": files, "failed": failed,
            "text": f"{len(cells)} cells, {len(failed)} failed: {', '.join(failed[:10]) or 'none'}\n"
                    f"reports: {files['html']} {files['junit']} {files['json']}"
                    + (f"\nscreenshot: {files['screenshot']}" if args.screenshot else "")}
