"""What a CI reader gets from a failed build (issue 17): the real reason in every report, later
checks of a module that did not compile skipped, and reports written whatever the verdict.
Made-up result.json files shaped as `ofedtool build` writes them; no kernel build needed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import xmlschema

from conftest import run_cli
from ofedtool.prove.report import cells_from_build, junit_xml

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).parent / "data" / "junit.xsd"))
CORE = "drivers/infiniband/core"
SIW = "drivers/infiniband/sw/siw"


def _module(name, dir_, ko=True, errors=0, hazards=0, undefined=()):
    return {"name": name, "dir": dir_, "ko": f"/t/{dir_}/{name}.ko" if ko else None, "vermagic": None,
            "ok": ko and not errors and not undefined, "errors": errors, "hazards": hazards,
            "undefined": list(undefined), "warnings": 0}


def _result(modules, diagnostics, exit_code=2, failure="", failed_objects=(), ok=False):
    return {"ok": ok, "target": "debian-12", "source": {"version": "6.12.117"},
            "build": {"ok": ok, "seconds": 12.0, "exit_code": exit_code, "log": "/t/build.log", "failure": failure,
                      "failed_objects": list(failed_objects), "modules": modules, "diagnostics": diagnostics,
                      "counts": {}}}


def _by(cells):
    return {(c.module, c.stage): c for c in cells}


def test_a_compile_failure_carries_the_compiler_errors_and_skips_later_checks():
    res = _result([_module("ib_core", CORE), _module("siw", SIW, ko=False, errors=2)], [
        {"kind": "error", "file": f"{SIW}/siw_main.c", "line": 41, "msg": "#error deliberately broken", "unit": ""},
        {"kind": "error", "file": "include/rdma/ib_verbs.h", "line": 7, "msg": "unknown type name 'x'",
         "unit": f"{SIW}/siw_qp.c"},
        {"kind": "hazard", "file": f"{CORE}/cq.c", "line": 3, "msg": "bad cast [-Wcast-function-type]", "unit": ""},
    ])
    cells = _by(cells_from_build("debian-12", res, "", 12.0, "build.log"))
    compile_ = cells[("siw", "compile")]
    assert compile_.status == "fail"
    assert compile_.message.splitlines() == [f"{SIW}/siw_main.c:41: #error deliberately broken",
                                             "include/rdma/ib_verbs.h:7: unknown type name 'x'"]
    for stage in ("modpost", "hazards", "abi"):
        assert (cells[("siw", stage)].status, cells[("siw", stage)].message) == ("skip", "siw did not compile")
    haz = cells[("ib_core", "hazards")]
    assert haz.status == "fail" and f"{CORE}/cq.c:3: bad cast [-Wcast-function-type]" in haz.message
    assert cells[("(build)", "kbuild")].status == "pass"  # siw's failure is siw's own cell
    xml = junit_xml({"from": "6.12"}, list(cells.values()))
    SCHEMA.validate(xml)
    root = ET.fromstring(xml)
    failure = root.find(".//testcase[@classname='ofedtool.debian-12.siw'][@name='compile']/failure")
    assert "siw_main.c:41: #error deliberately broken" in failure.get("message")
    skipped = root.find(".//testcase[@classname='ofedtool.debian-12.siw'][@name='hazards']/skipped")
    assert skipped.get("message") == "siw did not compile"


def test_a_make_failure_is_named_in_the_kbuild_and_module_cells():
    why = "no space left on the device: /t/x.c:1:1: fatal error: closing dependency file: No space left on device"
    res = _result([_module("ib_core", CORE, ko=False), _module("ib_cm", CORE, ko=False)], [], failure=why)
    cells = _by(cells_from_build("debian-12", res, "", 12.0, "build.log"))
    kbuild = cells[("(build)", "kbuild")]
    assert kbuild.status == "fail" and kbuild.message == f"make exited 2: {why}"
    assert cells[("ib_core", "compile")].message == f"no ib_core.ko: make failed: {why}"
    SCHEMA.validate(junit_xml({"from": "6.12"}, list(cells.values())))


def test_a_compat_header_error_counts_for_the_modules_whose_objects_failed():
    res = _result([_module("ib_core", CORE, ko=False, errors=1), _module("siw", SIW)], [
        {"kind": "error", "file": "compat/compat.h", "line": 31, "msg": "expected expression", "unit": ""}],
        failed_objects=[f"{CORE}/cq.o"])
    cells = _by(cells_from_build("debian-12", res, "", 12.0, "build.log"))
    assert cells[("ib_core", "compile")].message == "compat/compat.h:31: expected expression"
    assert cells[("siw", "compile")].status == "pass"


def test_undefined_symbols_and_binding_problems_fail_modpost_with_their_names():
    res = _result([_module("rdma_rxe", "drivers/infiniband/sw/rxe", undefined=["ib_foo", "ib_bar"])], [
        {"kind": "undefined", "file": "drivers/infiniband/sw/rxe/rdma_rxe.ko", "line": 0, "msg": "ib_foo", "unit": ""},
        {"kind": "binding", "file": "drivers/infiniband/sw/rxe/rdma_rxe.ko", "line": 0,
         "msg": "ib_register_device binds to the distro's export", "unit": ""}], exit_code=0)
    c = _by(cells_from_build("debian-12", res, "", 1.0, "build.log"))[("rdma_rxe", "modpost")]
    assert c.status == "fail" and "undefined: ib_foo, ib_bar" in c.message
    assert "ib_register_device binds to the distro's export" in c.message


def _tree(path: Path, res: dict | None) -> Path:
    """A tree with real records (tests/data/tree-6.1) for target path.parent.name, its build
    replaced by `res` (None: generated, never built)."""
    data = Path(__file__).parent / "data" / "tree-6.1"
    path.mkdir(parents=True)
    man = json.loads((data / "manifest.json").read_text())
    man["target"]["id"] = path.parent.name
    (path / "manifest.json").write_text(json.dumps(man))
    if res is not None:
        real = json.loads((data / "result.json").read_text())
        real.update({k: v for k, v in res.items() if k != "build"})
        real["build"].update(res["build"])
        (path / "result.json").write_text(json.dumps(real))
        (path / "build.log").write_text("log\n")
    return path


def test_report_writes_every_report_whatever_the_verdict(tmp_path):
    """A failed cell, and a cell whose build never finished (no result.json): the reports are
    written; the exit status is the verdict, or 0 with --exit-zero while report.json keeps it."""
    bad = _tree(tmp_path / "out" / "debian-12" / "tree",
                _result([_module("siw", SIW, ko=False, errors=1)],
                        [{"kind": "error", "file": f"{SIW}/siw_main.c", "line": 41, "msg": "boom", "unit": ""}]))
    unbuilt = _tree(tmp_path / "out" / "debian-11" / "tree", None)
    for flags, code in (((), 1), (("--exit-zero",), 0)):
        rep = tmp_path / f"report{len(flags)}"
        p = run_cli("--json", "report", *flags, "-o", str(rep), str(bad), str(unbuilt))
        assert p.returncode == code, p.stderr
        assert json.loads(p.stdout)["verdict"] == "fail"
        report = json.loads((rep / "report.json").read_text())
        assert report["ok"] is False and "debian-12/siw/compile" in report["failed"]
        cells = {(c["target"], c["module"], c["stage"]): c for c in report["cells"]}
        assert "no result.json" in cells[("debian-11", "(all)", "compile")]["message"]
        assert cells[("debian-12", "siw", "compile")]["message"] == f"{SIW}/siw_main.c:41: boom"
        SCHEMA.validate(str(rep / "junit.xml"))
        assert (rep / "report.html").is_file()
