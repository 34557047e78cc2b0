"""The newest upstream: 7.3 (Debian's linux-source-7.3, trixie-backports) onto every Debian kernel
we support, with the same rules as --from 6.12: features decide, not versions."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.network]

CORE_7_3 = {"ib_core", "ib_cm", "iw_cm", "rdma_cm", "ib_umad", "ib_uverbs_support", "ib_uverbs", "rdma_ucm",
            "rdma_rxe", "siw"}


VM_STEPS = ("vm:load", "vm:ours", "vm:load_all", "vm:load_all_ours", "vm:pingpong", "vm:rping", "vm:siw_ours",
            "vm:nvmeof_connect", "vm:nvmeof_io", "vm:srp_login", "vm:srp_io", "vm:inbox", "vm:unload", "vm:dmesg")


@pytest.mark.parametrize("kernel,target", [
    pytest.param("5.10", "debian-11", id="debian-11"),
    # Debian 13 is a release run's (-m release): CI's ULP I/O pairs are 6.1 (the whole stack,
    # below) and Debian 11, where the distro's built-in blk_mq_rdma_map_queues oopsed
    pytest.param("trixie", "debian-13", id="debian-13", marks=pytest.mark.release),
])
def test_check_from_7_3_with_ulp_io_in_vmtest(tmp_path, kernel, target):
    """Debian 11's 5.10 (and Debian 13's 6.12, built with its own gcc-14): every module compiles
    and links clean, the ABI gate finds no import that would read our structures with the
    target's layout, and the real kernel loads all of ours, passes traffic, connects NVMe-oF
    over rxe (where Debian 11's built-in blk_mq_rdma_map_queues oopsed before the gate's shim)
    and moves verified data through it, as SRP and NFS-RDMA do (and NVMe-oF and NFS-RDMA again
    over siw), unloads everything, and logs no warning; IPoIB, which RoCE cannot carry, is a
    skip. Debian 12's 6.1 has the whole stack, below."""
    out = tmp_path / "check"
    p = run_cli("--json", "check", "--from", "7.3", "--kernel", kernel, "--vmtest",
                # iSER is left out here: on Debian 13 its teardown once hit a LIO WARNING in
                # iscsit_release_cmd (see the session note); iser_login/iser_io are proven by hand
                "--modules", "core,rxe,siw,ipoib,srp,nfsrdma,nvmeof", "--source", "debian", "-o", str(out))
    report = json.loads((out / "report.json").read_text())
    red = [(c["target"], c["module"], c["stage"], c["message"]) for c in report["cells"] if c["status"] == "fail"]
    assert p.returncode == 0 and red == [], red
    t = target
    built = {c["module"] for c in report["cells"]
             if c["target"] == t and c["stage"] == "modpost" and c["status"] == "pass"}
    # ib_uverbs_support exists only from 7.x on: it is in the set because X's kbuild makes it
    assert built >= CORE_7_3, (t, CORE_7_3 - built)
    skip = {c["stage"] for c in report["cells"] if c["target"] == t and c["module"] == "(vm)" and c["status"] == "skip"}
    assert "vm:ipoib_io" in skip, (t, skip)
    vm = {c["stage"] for c in report["cells"] if c["target"] == t and c["module"] == "(vm)" and c["status"] == "pass"}
    # NFS over RDMA (nfsd on rdma port 20049, v3 and v4.2 mounts), and NVMe-oF and NFS again
    # over siw: ~30 s of guest time per target
    for step in VM_STEPS + ("vm:nfsrdma_server", "vm:nfsrdma_io", "vm:nfsrdma_v4_io", "vm:nfsrdma_io_siw"):
        assert step in vm, (t, step)
    # Debian 11's own nvmet-rdma would WARN over iWARP (it flushes the system workqueue
    # from its CM handler): a skip there that says so, a pass elsewhere
    assert "vm:nvmeof_io_siw" in (skip if t == "debian-11" else vm), (t, skip)


def test_whole_stack_7_3_onto_6_1_with_vmtest(tmp_path):
    """The default module set, the whole RDMA stack Debian 12's 6.1 ships (every hardware
    driver, the ULPs, 9pnet_rdma, rds_rdma, smc), rebuilt onto 7.3's core: 0 errors, undefined
    symbols, hazards, binding problems and ABI hazards (the imports of mlx5_ib from mlx5_core
    compared, none unverified), no distro module stranded, and the real kernel loads every one
    of them, hardware drivers without their device, connects NVMe-oF over rxe, unloads them all
    and logs nothing (dmesg)."""
    out = tmp_path / "check"
    p = run_cli("--json", "check", "--from", "7.3", "--kernel", "6.1", "--vmtest", "--source", "debian",
                "-o", str(out))
    report = json.loads((out / "report.json").read_text())
    red = [(c["module"], c["stage"], c["message"]) for c in report["cells"] if c["status"] == "fail"]
    assert p.returncode == 0 and red == [], red
    res = json.loads((out / "debian-12" / "result.json").read_text())
    c = res["build"]["counts"]
    assert (c["errors"], c["undefined"], c["hazards"], c["binding"], c["abi"]) == (0, 0, 0, 0, 0)
    abi = res["build"]["abi"]
    assert abi["hazards"] == [] and abi["unverified"] == [], abi["unverified"][:3]
    assert {"devlink_port_type_ib_set", "mlx5_rdma_rn_get_params"} == {h["symbol"] for h in abi["redirected"]}
    assert any(s.startswith("mlx5_") for s in abi["compared"])  # mlx5_core's files preprocess
    assert res["consumers"] == [] and "stranded" not in res
    built = {m["name"] for m in res["build"]["modules"] if m["ok"]}
    assert {"mlx5_ib", "mlx4_ib", "irdma", "hfi1", "rdmavt", "ib_qib", "qedr", "iw_cxgb4", "ocrdma",
            "usnic_verbs", "ib_mthca", "9pnet_rdma", "rds_rdma", "smc", "smc_diag", "ib_ipoib", "nvme-rdma",
            "ib_iser", "ib_srp", "rpcrdma"} | CORE_7_3 <= built
    assert {"bnxt_re", "mana_ib"} <= set(res["skipped"])  # Debian 12's 6.1 builds neither
    assert [(o["module"], o["config"]) for o in res["off"]] == [("mlx5_ib", "CONFIG_INFINIBAND_ON_DEMAND_PAGING")]
    vm = {c["stage"] for c in report["cells"] if c["module"] == "(vm)" and c["status"] == "pass"}
    for step in VM_STEPS:
        assert step in vm, step


def test_conformance_7_3_on_debian_12(tmp_path):
    """rdma-core's own test suite over rxe on Debian 12's 6.1: with its inbox stack, with 7.3's
    core and rxe, and on Debian's own 7.3 kernel as the upstream reference. No test that passes
    on the references fails on ours; the run is recorded test by test in result.json and the
    reports. (~2 min build, ~1 min ULP-less guest, ~2 min per suite run under TCG.)"""
    tree = tmp_path / "tree"
    p = run_cli("build", "--kernel", "6.1", "--from", "7.3", "--modules", "core,rxe", "--source", "debian",
                "-o", str(tree))
    assert p.returncode == 0, p.stderr[-3000:]
    p = run_cli("--json", "vmtest", "--kernel", "6.1", "--from", "7.3", "--tree", str(tree), "--conformance")
    res = json.loads((tree / "vmtest" / "result.json").read_text())
    conf = res["conformance"]
    assert p.returncode == 0 and conf["ok"] and conf["regressions"] == [], (conf.get("summary"), p.stderr[-2000:])
    assert set(conf["runs"]) == {"inbox", "ours", "upstream"}, conf.get("reference")
    for run in conf["runs"].values():
        c = run["counts"]
        assert run["ok"] and run["ran"] == sum(c.values()) and c["pass"] > 50, (run["run"], run["reason"], c)
    assert conf["reference"]["package"].startswith("linux-image-7.3")
    report = tmp_path / "report"
    p = run_cli("report", "-o", str(report), str(tree))
    cells = json.loads((report / "report.json").read_text())["cells"]
    suite = [c for c in cells if c["module"] == "(conformance)" and c["stage"].startswith("suite:")]
    assert len(suite) == conf["runs"]["ours"]["ran"] and not [c for c in suite if c["status"] == "fail"]
