"""The matrix page as a reader sees it: report.html rendered by Debian's headless Chromium.

A PNG screenshot is kept as an artifact ($OFEDTOOL_ARTIFACTS, else the test's tmp dir; the path
is printed). Chromium's DOM says it parsed the table; the pixels say it painted it: a failing cell
is red on screen, and a page with no failure has no red at all.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import artifact_dir, cell_pixels, render_page, run_cli
from ofedtool.prove.report import Cell, write_all
from ofedtool.prove.screenshot import dump_dom, png_size

MODULES = ("ib_core", "ib_cm", "rdma_cm", "siw")


def _page(tmp_path, name, broken: set[str]):
    cells = [Cell(t, m, "compile", "fail" if (t, m) in broken else "pass", 1.0, "boom" if (t, m) in broken else "")
             for t in ("debian-11", "debian-12") for m in MODULES]
    return write_all(tmp_path / name, {"from": "6.12"}, cells)["html"]


def _cells(dom: str, status: str) -> int:
    return len(re.findall(rf'<td class="{status}"', dom))


def test_red_on_screen_only_for_a_failing_module(tmp_path):
    art = artifact_dir(tmp_path)
    green, dom_ok = render_page(tmp_path / _page(tmp_path, "ok", set()), art / "matrix-all-pass.png")
    red, dom_bad = render_page(tmp_path / _page(tmp_path, "bad", {("debian-12", "siw")}),
                               art / "matrix-one-fail.png")
    for dom in (dom_ok, dom_bad):  # Chromium built the table: a header row and one row per module
        assert dom.count('<table id="matrix">') == 1 and dom.count("<tr>") == 1 + len(MODULES), dom
    assert (_cells(dom_ok, "pass"), _cells(dom_ok, "fail")) == (8, 0)
    assert (_cells(dom_bad, "pass"), _cells(dom_bad, "fail")) == (7, 1)
    assert green["fail"] == 0 and green["pass"] > 0, green
    # One red cell, painted: more than a sliver, less than a green cell's share times eight.
    assert red["fail"] > 500 and red["pass"] > 0, red
    assert red["fail"] < green["pass"] / 4, (red, green)
    assert red["pass"] < green["pass"], (red, green)


def test_screenshot_of_a_missing_page_is_one_error_line(tmp_path):
    p = run_cli("report", str(tmp_path / "nothing"), "-o", str(tmp_path / "r"), "--screenshot", str(tmp_path / "x.png"))
    assert p.returncode != 0 and "no result.json" in p.stderr


@pytest.mark.slow
@pytest.mark.network
def test_report_screenshot_of_a_real_build(built_tree_6_1, tmp_path):
    """`ofedtool report --screenshot` over the session's real 6.1 build: every cell green, none red."""
    png = artifact_dir(tmp_path) / "matrix-built-6.1.png"
    p = run_cli("--json", "report", str(built_tree_6_1), "-o", str(tmp_path / "r"), "--screenshot", str(png))
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads(p.stdout)
    assert res["reports"]["screenshot"] == str(png) and png_size(png) == (1280, 960)
    print(f"screenshot: {png}")
    colours, dom = cell_pixels(png), dump_dom(tmp_path / "r" / "report.html")
    built = json.loads((built_tree_6_1 / "result.json").read_text())["build"]["modules"]
    assert _cells(dom, "fail") == 0 and _cells(dom, "pass") == 1 + len(built), dom  # (build) + modules
    assert colours["fail"] == 0 and colours["pass"] > 0, colours
