"""Reports of a check/vmtest matrix: JSON for pipelines, JUnit XML for Jenkins, a static HTML page.

The matrix is plain data: one Cell per (target, module, stage). Every writer renders the same
cells, so the three files always agree.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

from .cache import atomic_write


@dataclass
class Cell:
    target: str
    module: str
    stage: str        # compile | modpost | hazards | vmtest ...
    status: str       # pass | fail | skip
    seconds: float = 0.0
    message: str = ""
    log: str = ""     # path relative to the report directory


def cells_from_build(target: str, res: dict | None, err: str, seconds: float, log: str) -> list[Cell]:
    """Cells of one target from `ofedtool build --json` output (or its result.json)."""
    if res is None or "build" not in res:
        return [Cell(target, "(all)", "compile", "fail", seconds, err or "build did not run", log)]
    cells = []
    diags = res["build"].get("diagnostics", [])
    for m in res["build"]["modules"]:
        name = m["name"]
        compiled = bool(m["ko"]) and m["errors"] == 0
        first_err = next((f"{d['file']}:{d['line']}: {d['msg']}" for d in diags
                          if d["kind"] == "error" and name in d["file"]), "")
        cells.append(Cell(target, name, "compile", "pass" if compiled else "fail", 0.0,
                          "" if compiled else (first_err or f"{m['errors']} errors, no .ko"), log))
        und = m.get("undefined", [])
        cells.append(Cell(target, name, "modpost", "pass" if (compiled and not und) else "skip" if not compiled else "fail",
                          0.0, ", ".join(und[:10]), log))
        cells.append(Cell(target, name, "hazards", "pass" if m["hazards"] == 0 else "fail", 0.0,
                          f"{m['hazards']} hazardous warnings" if m["hazards"] else "", log))
    # The ABI gate (ofedtool/abi.py): per module, its imports from code we do not rebuild.
    abi = res["build"].get("abi") or {"skipped": "not checked (built before the ABI gate)"}
    for m in res["build"]["modules"]:
        bad = [d["msg"] for d in diags if d["kind"] == "abi" and d["file"].endswith(f"/{m['name']}.ko")]
        status = "fail" if bad else "skip" if ("skipped" in abi or not m["ko"]) else "pass"
        cells.append(Cell(target, m["name"], "abi", status, 0.0, bad[0] if bad else abi.get("skipped", ""), log))
    for name, why in res.get("skipped", {}).items():
        cells.append(Cell(target, name, "compile", "skip", 0.0, why, log))
    # The kbuild run is one testcase carrying the wall time. It is red only for a failure no
    # module cell explains (a broken shared header, make itself), so a broken module stays its own.
    rc = res["build"].get("exit_code")
    unexplained = rc != 0 and not any(c.status == "fail" for c in cells)
    cells.insert(0, Cell(target, "(build)", "kbuild", "fail" if unexplained else "pass", res["build"]["seconds"],
                         f"make exited {rc}" if unexplained else "", log))
    return cells


def cells_from_vmtest(target: str, res: dict, log: str = "") -> list[Cell]:
    """`ofedtool vmtest` result.json: one cell per guest step (load, ours, rxe, pingpong, rping, siw...)."""
    steps = res.get("steps") or []
    if not steps:
        return [Cell(target, "(vm)", "vmtest", "pass" if res.get("ok") else "fail", 0.0,
                     res.get("reason", ""), log)]
    status = {"PASS": "pass", "FAIL": "fail"}
    cells = [Cell(target, "(vm)", f"vm:{s['step']}", status.get(s["status"], "skip"), 0.0, s.get("detail", ""), log)
             for s in steps]
    if not res.get("ok") and not any(c.status == "fail" for c in cells):
        cells.append(Cell(target, "(vm)", "vmtest", "fail", 0.0, res.get("reason", ""), log))
    return cells


def write_json(path: Path, meta: dict, cells: list[Cell]) -> None:
    atomic_write(path, json.dumps({**meta, "cells": [asdict(c) for c in cells]}, indent=2, sort_keys=True) + "\n")


def junit_xml(meta: dict, cells: list[Cell]) -> str:
    """One <testsuite> per target, one <testcase> per module × stage (Jenkins' junit plugin schema)."""
    root = ET.Element("testsuites", name=f"ofedtool check from {meta.get('from', '')}")
    for target in sorted({c.target for c in cells}):
        mine = [c for c in cells if c.target == target]
        suite = ET.SubElement(root, "testsuite", name=target, tests=str(len(mine)),
                              failures=str(sum(c.status == "fail" for c in mine)), errors="0",
                              skipped=str(sum(c.status == "skip" for c in mine)),
                              time=f"{sum(c.seconds for c in mine):.1f}")
        for c in mine:
            tc = ET.SubElement(suite, "testcase", classname=f"ofedtool.{target}.{c.module}", name=c.stage,
                               time=f"{c.seconds:.1f}")
            if c.status == "fail":
                ET.SubElement(tc, "failure", message=c.message[:500] or "failed", type=c.stage).text = c.message
            elif c.status == "skip":
                ET.SubElement(tc, "skipped", message=c.message[:500])
            if c.log:
                ET.SubElement(tc, "system-out").text = f"log: {c.log}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_COLOURS = {"pass": "#2e9d48", "fail": "#d0312d", "skip": "#9a9a9a"}


def html_page(meta: dict, cells: list[Cell]) -> str:
    targets = sorted({c.target for c in cells})
    modules = list(dict.fromkeys(c.module for c in cells))
    by = {(c.target, c.module): [] for c in cells}
    for c in cells:
        by[(c.target, c.module)].append(c)
    rows = []
    for m in modules:
        tds = [f"<th>{html.escape(m)}</th>"]
        for t in targets:
            cs = by.get((t, m), [])
            if not cs:
                tds.append("<td class=empty>—</td>")
                continue
            worst = "fail" if any(c.status == "fail" for c in cs) else "pass" if any(
                c.status == "pass" for c in cs) else "skip"
            title = html.escape("\n".join(f"{c.stage}: {c.status} {c.message}" for c in cs))
            stages = " ".join(
                (f'<a href="{html.escape(c.log)}">{html.escape(c.stage)}</a>' if c.log else html.escape(c.stage))
                + ("✓" if c.status == "pass" else "✗" if c.status == "fail" else "–") for c in cs)
            tds.append(f'<td class={worst} style="background:{_COLOURS[worst]}" title="{title}">{stages}</td>')
        rows.append("<tr>" + "".join(tds) + "</tr>")
    head = "".join(f"<th>{html.escape(t)}</th>" for t in targets)
    failed = sum(c.status == "fail" for c in cells)
    summary = html.escape(f"{len(cells)} checks, {failed} failed — from {meta.get('from', '?')}")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>ofedtool check {html.escape(str(meta.get('from', '')))}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
td.pass, td.fail, td.skip {{ color: white; }}
td a {{ color: white; }}
</style></head>
<body>
<h1>ofedtool check</h1>
<p id="summary">{summary}</p>
<table id="matrix"><tr><th>module</th>{head}</tr>
{chr(10).join(rows)}
</table>
</body></html>
"""


def write_all(outdir: Path, meta: dict, cells: list[Cell]) -> dict[str, str]:
    outdir.mkdir(parents=True, exist_ok=True)
    write_json(outdir / "report.json", meta, cells)
    atomic_write(outdir / "junit.xml", junit_xml(meta, cells))
    atomic_write(outdir / "report.html", html_page(meta, cells))
    return {k: str(outdir / f) for k, f in
            (("json", "report.json"), ("junit", "junit.xml"), ("html", "report.html"))}
