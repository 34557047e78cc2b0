"""rdma-core's test suite as the conformance gate: reading run_tests.py's verbose output and
judging runs against each other, on real output recorded from `ofedtool vmtest --conformance`
(7.3 onto Debian 12's 6.1.0-57: the inbox stack, then ours, in the same TCG guest)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ofedtool.prove.conformance import Run, compare, counts, parse
from ofedtool.prove.report import cells_from_conformance, html_page, junit_xml
from ofedtool.tree import VmStep

DATA = Path(__file__).parent / "data" / "conformance"
INBOX = (DATA / "debian-12_from-7.3_inbox.txt").read_text()
OURS = (DATA / "debian-12_from-7.3_ours.txt").read_text()
DONE = (VmStep("conformance_run", "PASS", "exited 0", 1.0, 1.0), VmStep("done", "PASS", "finished", 2.0, 2.0))


def _run(name, text, steps=DONE):
    return Run.from_boot(name, "6.1.0-57-amd64", steps, False, text, "console.log", 1, 1.0)


def test_parse_reads_every_verdict_the_suite_counted():
    """unittest's own summary lines say how many ran, errored and were skipped: the verbose lines
    read must add up to exactly that (a docstring line between name and verdict included)."""
    for text, summary in ((INBOX, "FAILED (errors=1, skipped=186)"), (OURS, "OK (skipped=179)")):
        results, reasons, ran = parse(text)
        assert summary in text and ran == 273 == len(results)
        c = counts(results)
        assert c["skip"] == int(summary.split("skipped=")[1].rstrip(")")) and c.get("error", 0) == ("errors=1" in summary)
        assert all(reasons[t] for t, v in results.items() if v == "skip")
    results, reasons, _ = parse(INBOX)
    # the recorded inbox error, read from its verbose line and its summary block alike
    assert results["tests.test_qpex.QpExTestCase.test_qp_ex_rc_atomic_write"] == "error"
    assert results["tests.test_addr.AHTest.test_create_ah_roce"] == "pass"   # docstring on its own line
    assert reasons["tests.test_atomic.AtomicTest.test_xrc_atomic_cmp_and_swap"] == "Create XRCD is not supported"


def test_ours_against_inbox_has_no_regression_and_lists_gains():
    c = compare({"inbox": _run("inbox", INBOX), "ours": _run("ours", OURS)})
    assert c.ok and c.regressions == () and c.upstream_behaviour == ()
    # 7.3's rxe: on-demand paging and atomic write, which 6.1's inbox rxe lacks
    assert "tests.test_odp.OdpTestCase.test_odp_rc_traffic" in c.gained
    assert "tests.test_qpex.QpExTestCase.test_qp_ex_rc_atomic_write" in c.gained
    assert "0 backport regressions" in c.summary() and "no upstream-kernel run" in c.summary()


def test_a_test_lost_is_a_regression_unless_the_upstream_kernel_loses_it_too():
    """The recorded runs swapped (ours as the reference): what 7.3 gained is now lost. With only
    the inbox reference it is a backport regression; with an upstream run where it does not pass
    either it is upstream behaviour; an upstream run that did not finish excuses nothing."""
    swapped = {"inbox": _run("inbox", OURS), "ours": _run("ours", INBOX)}
    c = compare(swapped)
    before, after = parse(OURS)[0], parse(INBOX)[0]
    lost = {t for t, v in before.items() if v == "pass" and after[t] != "pass"}
    assert not c.ok and set(c.regressions) == lost and len(lost) == 8
    c = compare({**swapped, "upstream": _run("upstream", INBOX)})
    assert c.ok and set(c.upstream_behaviour) == lost and c.regressions == ()
    broken = _run("upstream", INBOX, (VmStep("conformance_run", "FAIL", "did not finish", 1.0, 1.0),))
    c = compare({**swapped, "upstream": broken})
    assert not c.ok and set(c.regressions) == lost and "upstream-kernel run unusable" in c.summary()


def test_a_run_that_did_not_finish_fails_the_step():
    half = INBOX[: len(INBOX) // 2]
    r = _run("ours", half, (VmStep("conformance_run", "FAIL", "did not finish in 1500s", 1.0, 1.0),))
    assert not r.ok and "did not finish" in r.reason
    c = compare({"inbox": _run("inbox", INBOX), "ours": r})
    assert not c.ok and "run ours" in c.reason
    # verdicts that do not add up to what the suite says it ran
    r = _run("ours", OURS.replace("test_create_ah_roce (tests.test_addr.AHTest.test_create_ah_roce)", ""))
    assert not r.ok and "read 272 verdicts" in r.reason


def test_report_has_one_testcase_per_suite_test_and_the_counts(tmp_path):
    c = compare({"inbox": _run("inbox", OURS), "ours": _run("ours", INBOX)}).as_dict()
    cells = cells_from_conformance("debian-12", c, "vmtest/console.log")
    suite = [x for x in cells if x.stage.startswith("suite:")]
    assert len(suite) == 273 and cells[0].stage == "suite" and cells[0].status == "fail"
    failed = {x.stage for x in suite if x.status == "fail"}
    assert failed == {f"suite:{t}" for t in c["regressions"]}
    # a test failing on both sides is no regression: skipped with the reason, never a pass
    xml = junit_xml({"from": "7.3"}, cells)
    assert xml.count("<testcase") == 274 and 'name="ours.pass" value="86"' in xml and 'name="inbox.skip" value="179"' in xml
    page = html_page({"from": "7.3"}, cells)
    assert "ours: 86 pass 0 fail 1 error 186 skip" in page and "✗ suite:tests.test_odp" in page


def test_conformance_init_is_valid_sh(tmp_path):
    from ofedtool.templates import render
    for run in ("inbox", "ours"):
        script = render("vmtest-conformance.sh.j2", release="6.1.0-57-amd64", ip="10.0.2.15",
                        gid="0000:0000:0000:0000:0000:ffff:0a00:020f", run=run, ours=[("ib_core", "ab")],
                        inbox=[("ib_core", "cd", "kernel/x/ib_core.ko")], load=["updates/ofed/ib_core.ko"],
                        names=["ib_core"], python="python3.11", suite_dir="usr/share/doc/rdma-core/tests",
                        suite_timeout=1500)
        (tmp_path / "init").write_text(script)
        p = subprocess.run(["sh", "-n", str(tmp_path / "init")], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        assert ("conformance_ours" in script) == (run == "ours") and "run_tests.py --dev rxe0 -v" in script


def test_ours_on_6_1_passes_exactly_what_7_3_passes_on_its_own_kernel():
    """Recorded on Debian's own 7.3.4 kernel (trixie-backports) in the same guest: our 7.3 core
    and rxe on 6.1 give the same verdict as X's kernel for every test of the suite."""
    up = _run("upstream", (DATA / "debian-13-7.3.4_upstream.txt").read_text())
    assert up.ok and up.ran == 273
    assert up.results == _run("ours", OURS).results
    c = compare({"inbox": _run("inbox", INBOX), "ours": _run("ours", OURS), "upstream": up})
    assert c.ok and c.regressions == () and c.upstream_behaviour == () and len(c.gained) == 8
    assert "upstream 94 pass/0 fail/0 error/179 skip" in c.summary()


def test_debian_11_loses_raw_qps_as_7_3_itself_does():
    """Recorded on Debian 11's 5.10.0-46: its inbox rxe creates raw packet QPs, 7.3's rxe (ours,
    and Debian's own 7.3.4 kernel) skips those tests: upstream behaviour, not a regression."""
    inbox = _run("inbox", (DATA / "debian-11_from-7.3_inbox.txt").read_text())
    ours = _run("ours", (DATA / "debian-11_from-7.3_ours.txt").read_text())
    up = _run("upstream", (DATA / "debian-13-7.3.4_upstream.txt").read_text())
    lost = {t for t, v in inbox.results.items() if v == "pass" and ours.results[t] != "pass"}
    raw = {t for t in lost if ".test_qp.QPTest." in t and "raw_qp" in t}
    assert lost == raw and len(raw) == 5 and all(ours.results[t] == up.results[t] == "skip" for t in raw)
    assert set(compare({"inbox": inbox, "ours": ours}).regressions) == raw
    c = compare({"inbox": inbox, "ours": ours, "upstream": up})
    assert c.ok and set(c.upstream_behaviour) == raw and c.regressions == ()
    assert len(c.gained) == 20 and ("tests.test_rss_traffic.RSSTrafficTest.test_rss_traffic", "error", "skip") in c.changed
