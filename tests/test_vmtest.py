"""vmtest: our modules on the real distro kernel in QEMU (TCG), with traffic over soft-RoCE.

The slow tests boot Debian 12's own 6.1 kernel image with the session's built tree
(conftest.built_tree_6_1); one of them hides our core from the guest so the distro's inbox
modules load instead, and the identity check (build-id; Debian's modules carry no srcversion)
has to be what fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import error_line, run_cli
from ofedtool import cpio
from ofedtool.vmtest import Step, _gid, judge

INBOX_IN_DEBIAN = "ib_core,ib_cm,iw_cm,rdma_cm,ib_umad,ib_uverbs,rdma_ucm,rdma_rxe"  # Debian builds no siw


def test_initramfs_is_deterministic_and_readable(tmp_path):
    entries = [cpio.file("usr/bin/x", b"abc", 0o755), cpio.symlink("bin", "usr/bin"), cpio.chardev("dev/console", 5, 1)]
    a, b = cpio.initramfs(entries), cpio.initramfs(list(reversed(entries)))
    assert a == b
    if shutil.which("cpio"):
        (tmp_path / "i.gz").write_bytes(a)
        listing = subprocess.run(f"zcat {tmp_path / 'i.gz'} | cpio -tv", shell=True, capture_output=True,
                                 text=True).stdout
        assert "usr/bin/x" in listing and "bin -> usr/bin" in listing and "dev/console" in listing


def test_gid_of_ipv4():
    assert _gid("10.0.2.15") == "0000:0000:0000:0000:0000:ffff:0a00:020f"


def test_judge_names_first_failed_step():
    steps = [Step("init", "PASS", "", 1, 1), Step("load", "PASS", "", 2, 2),
             Step("ours", "FAIL", "ib_core (build-id X) is the inbox kernel/...", 3, 3),
             Step("rping", "FAIL", "x", 4, 4), Step("done", "PASS", "", 5, 5)]
    ok, reason = judge(steps, False, 60)
    assert not ok and reason.startswith("step ours failed: ib_core") and "rping" in reason
    ok, reason = judge(steps[:2], True, 60)
    assert not ok and "after load" in reason and "timed out" in reason


def test_tree_that_is_not_built(tmp_path):
    p = run_cli("vmtest", "--kernel", "6.1", "--from", "6.12", "--tree", str(tmp_path), "-o", str(tmp_path / "o"))
    assert p.returncode != 0
    assert "not a built tree" in error_line(p.stderr)


def _vmtest(tree, out, *extra):
    p = run_cli("--json", "vmtest", "--kernel", "6.1", "--from", "6.12", "--tree", str(tree), "-o", str(out),
                "--timeout", "400", *extra)
    return p, json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else None


@pytest.mark.slow
@pytest.mark.network
def test_vmtest_6_1_passes(built_tree_6_1, tmp_path):
    p, res = _vmtest(built_tree_6_1, tmp_path / "vm")
    assert p.returncode == 0, (p.stderr[-3000:])
    steps = {s["step"]: s["status"] for s in res["steps"]}
    for step in ("init", "load", "ours", "rxe", "ibv_devices", "pingpong", "rping", "siw_ours", "siw_link",
                 "inbox", "done"):
        assert steps.get(step) == "PASS", (step, res["steps"])
    assert (tmp_path / "vm" / "console.log").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.network
def test_inbox_module_instead_of_ours_fails(built_tree_6_1, tmp_path):
    """Our core and rxe left out of the guest: Debian's own load (a consistent inbox stack), the
    traffic may well pass: only the identity check can tell, and it must name the module."""
    p, res = _vmtest(built_tree_6_1, tmp_path / "vm", "--omit-module", INBOX_IN_DEBIAN)
    assert p.returncode != 0
    line = error_line(p.stderr)
    assert "step ours failed" in line and "ib_core" in line and "inbox kernel/drivers/infiniband" in line, line
    steps = {s["step"]: s["status"] for s in res["steps"]}
    assert steps["load"] == "PASS" and steps["ours"] == "FAIL" and steps["inbox"] == "FAIL"
