"""check: the build matrix and its reports."""

from __future__ import annotations

import difflib
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from conftest import REPO, artifact_dir, render_page, run_cli
from ofedtool.prove.report import Cell, html_page, junit_xml

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).parent / "data" / "junit.xsd"))


def test_reports_agree_and_junit_validates():
    cells = [Cell("debian-12", "ib_core", "compile", "pass", 12.5),
             Cell("debian-12", "siw", "compile", "fail", 3.0, "siw_main.c:1: error: boom <&>", "debian-12.log"),
             Cell("debian-11", "ib_ipoib", "compile", "skip", 0, "CONFIG_INFINIBAND_IPOIB is not set")]
    meta = {"from": "6.12"}
    xml = junit_xml(meta, cells)
    SCHEMA.validate(xml)
    root = ET.fromstring(xml)
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert suites["debian-12"].get("failures") == "1" and suites["debian-11"].get("skipped") == "1"
    fail = root.find(".//testcase[@classname='ofedtool.debian-12.siw']/failure")
    assert "boom <&>" in fail.get("message")
    page = html_page(meta, cells)
    assert page.count("class=fail") == 1 and page.count("class=pass") == 1 and "href=\"debian-12.log\"" in page
    assert "boom &lt;&amp;&gt;" in page


def _break_siw(src_6_12: Path, tmp_path: Path) -> Path:
    """A copy of backports/ with one extra patch that makes siw fail to compile, on every target."""
    bp = tmp_path / "backports"
    shutil.copytree(REPO / "backports", bp)
    rel = "drivers/infiniband/sw/siw/siw_main.c"
    old = (src_6_12 / rel).read_text().splitlines(keepends=True)
    new = old[:40] + ["#error deliberately broken by the check test\n"] + old[40:]
    patch = "".join(difflib.unified_diff(old, new, f"a/{rel}", f"b/{rel}"))
    target = bp / "patches" / f"{rel}.patch"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(patch)
    return bp


@pytest.mark.slow
@pytest.mark.network
def test_broken_module_makes_exactly_its_cells_red(tmp_path, src_6_12, build_tree_6_1, build_tree_6_12):
    bp = _break_siw(src_6_12, tmp_path)
    out = tmp_path / "check"
    p = run_cli("--json", "check", "--from", "6.12", "--kernel", "6.1,6.12", "--modules", "core,siw",
                "--source", "debian", "-o", str(out), env={"OFEDTOOL_BACKPORTS": str(bp)})
    assert p.returncode != 0
    res = json.loads(p.stdout)
    assert {t["target"] for t in res["targets"]} == {"debian-12", "debian-12-6.12"}
    report = json.loads((out / "report.json").read_text())
    red = {(c["target"], c["module"], c["stage"]) for c in report["cells"] if c["status"] == "fail"}
    assert red == {("debian-12", "siw", "compile"), ("debian-12-6.12", "siw", "compile")}
    green = {(c["target"], c["module"]) for c in report["cells"] if c["status"] == "pass"}
    for t in ("debian-12", "debian-12-6.12"):  # both targets ran to the end: every core module built
        assert {m for tt, m in green if tt == t} >= {"ib_core", "ib_cm", "iw_cm", "rdma_cm", "ib_uverbs"}
    SCHEMA.validate(str(out / "junit.xml"))
    page = (out / "report.html").read_text()
    assert page.count("class=fail") == 2
    assert "deliberately broken" in json.dumps(report)
    # As a reader sees it: Chromium parsed two red siw cells and painted them red.
    colours, dom = render_page(out / "report.html", artifact_dir(tmp_path) / "matrix-broken-siw.png")
    assert dom.count('<td class="fail"') == 2 and colours["fail"] > 1000 and colours["pass"] > 0, colours


# A release run's (-m release): CI boots 6.1 and 5.10 in other tests, and `check` with its
# reports in test_broken_module_makes_exactly_its_cells_red.
@pytest.mark.slow
@pytest.mark.network
@pytest.mark.release
def test_matrix_with_vmtest_on_two_targets(tmp_path, build_tree_6_1):
    """The proof issue's matrix: build, boot the real kernel, load ours, pass traffic, on 6.1 and 5.10."""
    out = tmp_path / "check"
    p = run_cli("--json", "check", "--from", "6.12", "--kernel", "6.1,5.10", "--vmtest", "--source", "debian",
                "--modules", "core,rxe,siw", "-o", str(out))
    report = json.loads((out / "report.json").read_text())
    red = [(c["target"], c["module"], c["stage"], c["message"]) for c in report["cells"] if c["status"] == "fail"]
    assert p.returncode == 0 and red == [], red
    vm = {(c["target"], c["stage"]) for c in report["cells"] if c["status"] == "pass" and c["module"] == "(vm)"}
    for t in ("debian-12", "debian-11"):
        for step in ("vm:load", "vm:ours", "vm:pingpong", "vm:rping", "vm:siw_ours", "vm:inbox"):
            assert (t, step) in vm, (t, step)
    SCHEMA.validate(str(out / "junit.xml"))
    colours, dom = render_page(out / "report.html", artifact_dir(tmp_path) / "matrix-vmtest-6.1-5.10.png")
    assert '<td class="fail"' not in dom and colours["fail"] == 0 and colours["pass"] > 0, colours
