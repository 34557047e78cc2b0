"""Reports of a check/vmtest matrix: JSON for pipelines, JUnit XML for Jenkins, a static HTML page.

The matrix is plain data: one Cell per (target, module, stage). Every writer renders the same
cells, so the three files always agree.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..fetch.cache import atomic_write
from ..tree import BuildRecord, VmRecord


@dataclass
class Cell:
    target: str
    module: str
    stage: str        # compile | modpost | hazards | vmtest ...
    status: str       # pass | fail | skip
    seconds: float = 0.0
    message: str = ""
    log: str = ""     # path relative to the report directory
    data: dict = field(default_factory=dict)   # figures beside the verdict (conformance counts per run)


def _where(d: dict) -> str:
    return f"{d['file']}:{d['line']}: {d['msg']}" if d.get("line") else f"{d['file']}: {d['msg']}".lstrip(": ")


def _listed(diags: list[dict], limit: int = 5) -> str:
    """The first few diagnostics as the compiler printed them, one a line, and how many more."""
    lines = [_where(d) for d in diags[:limit]]
    if len(diags) > limit:
        lines.append(f"... and {len(diags) - limit} more")
    return "\n".join(lines)


def _module_diags(m: dict, build: dict) -> list[dict]:
    """The module's diagnostics from a result.json, by the same rules as the build summary
    (ofedtool.build.compile.module_diagnostics: its directory, the unit compiled, failed objects)."""
    from types import SimpleNamespace

    from ..build.compile import Diagnostic, module_diagnostics
    from ..modules import load_catalog
    names = [x["name"] for x in build["modules"]]
    catalog = None

    def module(x: dict) -> SimpleNamespace:
        nonlocal catalog
        if x.get("dir"):
            return SimpleNamespace(name=x["name"], dir=x["dir"])
        catalog = catalog or load_catalog()  # a result.json from before ModuleResult.dir
        known = catalog.modules.get(x["name"])
        return SimpleNamespace(name=x["name"], dir=known.dir if known else x["name"])

    mods = [module(x) for x in build["modules"]]
    diags = [Diagnostic(d["kind"], d["file"], d["line"], d["msg"], d.get("unit", ""))
             for d in build.get("diagnostics", [])]
    mine = module_diagnostics(mods[names.index(m["name"])], diags, mods, set(build.get("failed_objects", [])))
    return [asdict(d) for d in mine]


def cells_from_build(target: str, res: BuildRecord | dict | None, err: str, seconds: float, log: str,
                     dirs: dict[str, str] | None = None) -> list[Cell]:
    """Cells of one target from its build record (tree.BuildRecord, or the same as a dict:
    result.json, `ofedtool build --json`). dirs: module → its directory in the tree (the
    manifest's), for records whose modules do not say.

    A failure's message is what the build summary printed: the first compiler errors, the
    undefined symbols, the hazardous warnings (file:line: msg), or why make itself failed. A
    module that did not compile has its later checks skipped, saying so, not passed."""
    if res is not None and not isinstance(res, dict):
        res = res.as_dict()
    if res is not None and dirs:
        for m in res.get("build", {}).get("modules", []):
            m.setdefault("dir", dirs.get(m["name"]))
    if res is None or "build" not in res:
        return [Cell(target, "(all)", "compile", "fail", seconds, err or "build did not run", log)]
    cells = []
    build = res["build"]
    failure = build.get("failure", "")
    for m in build["modules"]:
        name = m["name"]
        mine = _module_diags(m, build)
        compiled = bool(m["ko"]) and m["errors"] == 0
        errors = [d for d in mine if d["kind"] == "error"]
        if compiled:
            why = ""
        elif errors:
            why = _listed(errors)
        elif failure:
            why = f"no {name}.ko: make failed: {failure}"
        else:
            why = f"no {name}.ko and no compiler error for it (see the build log)"
        cells.append(Cell(target, name, "compile", "pass" if compiled else "fail", 0.0, why, log))
        not_compiled = f"{name} did not compile"
        und = m.get("undefined", [])
        binding = [d for d in mine if d["kind"] == "binding"]
        if not compiled:
            cells.append(Cell(target, name, "modpost", "skip", 0.0, not_compiled, log))
        elif und or binding:
            msg = [f"undefined: {', '.join(und[:10])}" + (f" and {len(und) - 10} more" if len(und) > 10 else "")] if und else []
            cells.append(Cell(target, name, "modpost", "fail", 0.0, "\n".join(msg + [_listed(binding)] if binding else msg), log))
        else:
            cells.append(Cell(target, name, "modpost", "pass", 0.0, "", log))
        hazards = [d for d in mine if d["kind"] == "hazard"]
        if not compiled:
            cells.append(Cell(target, name, "hazards", "skip", 0.0, not_compiled, log))
        else:
            count = max(m["hazards"], len(hazards))
            cells.append(Cell(target, name, "hazards", "fail" if count else "pass", 0.0,
                              (f"{count} hazardous warnings:\n" + _listed(hazards)) if count else "", log))
    # The ABI gate (ofedtool/build/abi.py): per module, its imports from code we do not rebuild.
    abi = build.get("abi") or {"skipped": "not checked (built before the ABI gate)"}
    diags = build.get("diagnostics", [])
    for m in build["modules"]:
        bad = [d for d in diags if d["kind"] == "abi" and d["file"].endswith(f"/{m['name']}.ko")]
        compiled = bool(m["ko"]) and m["errors"] == 0
        if bad:
            status, why = "fail", _listed(bad)
        elif not compiled:
            status, why = "skip", f"{m['name']} did not compile"
        else:
            status, why = ("skip", abi["skipped"]) if "skipped" in abi else ("pass", "")
        cells.append(Cell(target, m["name"], "abi", status, 0.0, why, log))
    for name, why in res.get("skipped", {}).items():
        cells.append(Cell(target, name, "compile", "skip", 0.0, why, log))
    # Distro modules that import from ours and are not rebuilt would not load beside them.
    # A partial --modules strands by choice (skip); the default, whole-stack build must not (fail).
    for x in res.get("stranded") or []:
        cells.append(Cell(target, x["name"], "stranded", "fail" if res.get("stranded_fail", True) else "skip", 0.0,
                          f"{x['path']} imports from {', '.join(x['imports_from'])} and is not rebuilt", log))
    for x in res.get("left") or []:
        cells.append(Cell(target, x["name"], "stranded", "skip", 0.0, "left (--leave): blacklisted in modprobe.d", log))
    # The kbuild run is one testcase carrying the wall time. It is red when make itself failed
    # (a full disk, a path it split, another build in the tree) or for a failure no module cell
    # explains (a broken shared header), so a broken module stays its own.
    rc = build.get("exit_code")
    unexplained = (rc != 0 or not res.get("ok", True)) and not any(c.status == "fail" for c in cells)
    if failure:
        why = f"make exited {rc}: {failure}"
    elif unexplained:
        bad = [d for d in build.get("diagnostics", []) if d["kind"] in ("error", "modpost", "undefined", "hazard", "binding", "abi")]
        why = f"make exited {rc}" + (":\n" + _listed(bad) if bad else "")
    else:
        why = ""
    cells.insert(0, Cell(target, "(build)", "kbuild", "fail" if why else "pass", build["seconds"], why, log))
    return cells


def cells_from_vmtest(target: str, res: VmRecord | None, log: str = "", missing: str = "") -> list[Cell]:
    """A vmtest record: one cell per guest step (load, ours, rxe, pingpong, rping, siw...);
    None (vmtest wrote none): one failed cell saying so (missing)."""
    if res is None:
        return [Cell(target, "(vm)", "vmtest", "fail", 0.0, missing or "vmtest produced no result", log)]
    if not res.steps:
        return [Cell(target, "(vm)", "vmtest", "pass" if res.ok else "fail", 0.0, res.reason, log)]
    status = {"PASS": "pass", "FAIL": "fail"}
    cells = [Cell(target, "(vm)", f"vm:{s.step}", status.get(s.status, "skip"), 0.0, s.detail, log)
             for s in res.steps]
    if not res.ok and not any(c.status == "fail" for c in cells):
        cells.append(Cell(target, "(vm)", "vmtest", "fail", 0.0, res.reason, log))
    if res.conformance:
        cells += cells_from_conformance(target, res.conformance, log)
    return cells


def cells_from_conformance(target: str, conf: dict, log: str = "") -> list[Cell]:
    """rdma-core's suite: one cell with the counts per run, then one per suite test, judged as
    the comparison judged it. A test failing on ours that is no backport regression (it fails on
    the inbox stack too, or on X's own kernel) is a skip that says so, not a failure."""
    counts = conf.get("counts", {})
    text = "; ".join(f"{run}: " + ", ".join(f"{v} {k}" for k, v in c.items()) for run, c in counts.items())
    cells = [Cell(target, "(conformance)", "suite", "pass" if conf.get("ok") else "fail", 0.0,
                  f"{conf.get('summary', '')}", log, {"counts": counts})]
    runs = conf.get("runs", {})
    ours = runs.get("ours", {}).get("results", {})
    reasons = runs.get("ours", {}).get("skip_reasons", {})
    regressions, upstream, gained = (set(conf.get(k, [])) for k in ("regressions", "upstream_behaviour", "gained"))
    tests = sorted(set(ours) | regressions)
    for t in tests:
        got = ours.get(t, "absent")
        elsewhere = ", ".join(f"{run} {r.get('results', {}).get(t, 'absent')}" for run, r in runs.items() if run != "ours")
        if t in regressions:
            status, why = "fail", f"backport regression: {got} on ours; {elsewhere}"
        elif got in ("pass", "xfail"):
            status, why = "pass", ("gained: " if t in gained else "") + f"{got} on ours; {elsewhere}"
        elif got == "skip":
            status, why = "skip", reasons.get(t, "skipped")
        else:
            kind = "upstream behaviour" if t in upstream else "not a regression"
            status, why = "skip", f"{kind}: {got} on ours; {elsewhere}"
        cells.append(Cell(target, "(conformance)", f"suite:{t}", status, 0.0, why, log))
    cells[0].message = f"{cells[0].message}\n{text}".strip()
    return cells


def write_json(path: Path, meta: dict, cells: list[Cell]) -> None:
    rows = [{k: v for k, v in asdict(c).items() if k != "data" or v} for c in cells]
    atomic_write(path, json.dumps({**meta, "cells": rows}, indent=2, sort_keys=True) + "\n")


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
            if c.data.get("counts"):
                props = ET.SubElement(tc, "properties")
                for run, counted in c.data["counts"].items():
                    for kind, n in counted.items():
                        ET.SubElement(props, "property", name=f"{run}.{kind}", value=str(n))
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
            title = html.escape("\n".join(f"{c.stage}: {c.status} {c.message}" for c in cs
                                           if not c.stage.startswith("suite:") or c.status == "fail"))
            if m == "(conformance)":
                # hundreds of suite tests: the counts per run, and the failed tests by name
                counts = next((c.data["counts"] for c in cs if c.data.get("counts")), {})
                text = "<br>".join(html.escape(f"{run}: " + " ".join(f"{v} {k}" for k, v in n.items()))
                                   for run, n in counts.items())
                bad = [c.stage for c in cs if c.status == "fail" and c.stage.startswith("suite:")]
                text += "".join(f"<br>✗ {html.escape(b)}" for b in bad[:10])
                tds.append(f'<td class={worst} style="background:{_COLOURS[worst]}" title="{title}">{text}</td>')
                continue
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
