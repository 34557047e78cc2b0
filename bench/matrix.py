#!/usr/bin/env python3
"""The whole X x Y matrix (issue 12): every upstream release of the catalog (kernels/sources)
onto every catalog target of the same or an older series, with the default (whole-stack)
module set, through the real `ofedtool check` (one check per X, all its targets in parallel).
Too long for CI (hours on 2 cores); run by hand:

    python bench/matrix.py [--from 7.3,6.12] [--kernel debian-12,debian-11] [--vmtest] [--gap]
                           [--modules stack] [--work /tmp/matrix] [--out matrix.json] [--table | --resume]

Per pair it reports errors, undefined symbols, hazards, binding problems, stranded modules,
ABI hazards (and the imports the gate could not verify), the modules built and skipped, and
the compile time of the build (make's wall time, from result.json) and of the whole cell; with
--vmtest the guest's verdict, its failed steps and its time; with --gap the errors and API root
causes of the same pair before any rule (`ofedtool gap`, one pair at a time). A markdown table
goes to stdout, everything to --out. --table only re-reads what an earlier run left in --work;
--resume runs only the checks and gaps that have left no report there yet.
Not a test: nothing here fails on a number.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ofedtool.catalog import load_sources, load_targets  # noqa: E402


def _series_key(s: str) -> tuple[int, ...]:
    return tuple(int(x) for x in s.split("."))


def pairs(froms: list[str] | None, kernels: list[str] | None) -> dict[str, list[str]]:
    """X → the targets it is offered onto: same or older series (the catalog's promise); an X
    the catalog does not offer (kernels/sources, [upstream] offered = false) has no row."""
    targets = load_targets()
    out = {}
    for x, rel in sorted(load_sources().items(), key=lambda kv: _series_key(kv[0]), reverse=True):
        if froms and x not in froms or not rel.offered:
            continue
        ys = [t.id for t in targets if _series_key(t.series) <= _series_key(x)
              and (not kernels or t.id in kernels or any(a in kernels for a in t.aliases))]
        if ys:
            out[x] = ys
    return out


def ofedtool() -> list[str]:
    venv = Path(sys.executable).parent / "ofedtool"
    return [str(venv)] if venv.exists() else [shutil.which("ofedtool") or "ofedtool"]


def row(x: str, target: str, tdir: Path, cell_seconds: float | None) -> dict:
    try:
        res = json.loads((tdir / "result.json").read_text())
    except (OSError, ValueError):
        return {"from": x, "target": target, "built": False}
    b = res.get("build", {})
    c = b.get("counts", {})
    abi = b.get("abi") or {}
    return {"from": x, "target": target, "built": True, "ok": res.get("ok"),
            "errors": c.get("errors"), "undefined": c.get("undefined"), "hazards": c.get("hazards"),
            "binding": c.get("binding"), "abi_hazards": c.get("abi"),
            "abi_unverified": len(abi.get("unverified", [])) if "skipped" not in abi else None,
            "abi_redirected": [h["symbol"] for h in abi.get("redirected", [])],
            "stranded": [s["name"] for s in res.get("stranded", [])],
            "left": [s["name"] for s in res.get("left", [])],
            "modules": sum(1 for m in b.get("modules", []) if m.get("ok")),
            "failed": [m["name"] for m in b.get("modules", []) if not m.get("ok")],
            "skipped": sorted(res.get("skipped", {})),
            "compile_s": round(b.get("seconds", 0.0), 1), "cell_s": cell_seconds} | vm_row(tdir)


def vm_row(tdir: Path) -> dict:
    try:
        vm = json.loads((tdir / "vmtest" / "result.json").read_text())
    except (OSError, ValueError):
        return {"vmtest": None}
    failed = [s["step"] for s in vm.get("steps", []) if s.get("status") == "FAIL"]
    return {"vmtest": "PASS" if vm.get("ok") else "FAIL", "vmtest_failed": failed,
            "vmtest_s": round((vm.get("seconds") or {}).get("qemu_total", 0.0), 1)}


def gap_row(gdir: Path) -> dict:
    try:
        g = json.loads((gdir / "gap.json").read_text())
    except (OSError, ValueError):
        return {"gap_errors": None, "gap_apis": None}
    return {"gap_errors": g.get("total"), "gap_apis": len(g.get("apis", []))}


def run_gap(x: str, y: str, args) -> None:
    gdir = args.work / f"gap-{x}" / y
    if args.resume and (gdir / "gap.json").exists():
        return
    cmd = [*ofedtool(), "--json", "gap", "--from", x, "--kernel", y, "--modules", args.modules,
           "--source", args.source, "-j", str(args.jobs), "-o", str(gdir)]
    print(f"[matrix] {' '.join(cmd)}", file=sys.stderr)
    with open(args.work / f"gap-{x}-{y}.log", "w") as log:
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=log)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="froms", help="upstream releases (default: every one of kernels/sources)")
    ap.add_argument("--kernel", help="targets (default: every catalog target)")
    ap.add_argument("--modules", default="stack")
    ap.add_argument("--vmtest", action="store_true", help="also boot each target (ofedtool check --vmtest)")
    ap.add_argument("--gap", action="store_true", help="also count each pair's gap before rules (ofedtool gap)")
    ap.add_argument("--table", action="store_true", help="run nothing: re-read --work and print the table")
    ap.add_argument("--resume", action="store_true", help="skip the checks and gaps --work already has")
    ap.add_argument("--source", default="debian")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/ofedtool-matrix"))
    ap.add_argument("--out", type=Path, default=Path("matrix.json"))
    args = ap.parse_args()
    plan = pairs(args.froms.split(",") if args.froms else None, args.kernel.split(",") if args.kernel else None)
    rows = []
    for x, ys in plan.items():
        out = args.work / f"from-{x}"
        cmd = [*ofedtool(), "--json", "check", "--from", x, "--kernel", ",".join(ys), "--modules", args.modules,
               "--source", args.source, "-j", str(args.jobs), "-o", str(out), *(["--vmtest"] if args.vmtest else [])]
        t0 = time.monotonic()
        run = not (args.table or args.resume and (out / "report.json").exists())
        if run:
            print(f"[matrix] {' '.join(cmd)}", file=sys.stderr)
            with open(args.work.mkdir(parents=True, exist_ok=True) or args.work / f"from-{x}.log", "w") as log:
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=log)
        wall = round(time.monotonic() - t0, 1) if run else None   # a re-read report's time is not this run's
        try:
            meta = {t["target"]: t for t in json.loads((out / "report.json").read_text()).get("targets", [])}
        except (OSError, ValueError):
            meta = {}
        for y in ys:
            rows.append(row(x, y, out / y, meta.get(y, {}).get("seconds")) | {"check_wall_s": wall})
    if args.gap:
        for r in rows:
            if not args.table:
                run_gap(r["from"], r["target"], args)
            r |= gap_row(args.work / f"gap-{r['from']}" / r["target"])
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    head = ["X", "Y", ".ko", "err", "undef", "haz", "binding", "stranded", "ABI haz", "ABI unverified",
            "compile s", "vmtest", "vmtest s"] + (["gap err", "gap APIs"] if args.gap else [])
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        if not r["built"]:
            cells = [r["from"], r["target"], "not built"] + [""] * (len(head) - 3)
        else:
            vm = r["vmtest"] or "-"
            if r.get("vmtest_failed"):
                vm += " (" + ", ".join(r["vmtest_failed"]) + ")"
            cells = [r["from"], r["target"], r["modules"], r["errors"], r["undefined"], r["hazards"], r["binding"],
                     len(r["stranded"]), r["abi_hazards"], r["abi_unverified"], r["compile_s"], vm,
                     r.get("vmtest_s", "")]
            if args.gap:
                cells += [r.get("gap_errors"), r.get("gap_apis")]
        print("| " + " | ".join("" if c is None else str(c) for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
