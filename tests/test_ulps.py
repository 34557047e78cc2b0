"""ULPs by the target rule: Y's own ULP source plus verb shims, against the 6.12 core.

One full build (6.1 ← 6.12, core + ULPs) and one pristine gap build are shared, module-scoped,
by every assertion that needs compiled output; the rest only generates or probes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, error_line, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.network]

ULPS = {"ib_ipoib", "ib_iser", "ib_isert", "ib_srp", "ib_srpt", "rpcrdma", "nvme-rdma", "nvmet-rdma"}
NUM_PRS = "ib-sa-path-rec-num-prs-unsigned-6.3"
CORE = ["ib_core", "ib_cm", "iw_cm", "rdma_cm", "ib_umad", "ib_uverbs", "rdma_ucm"]


@pytest.fixture(scope="module")
def ulp_build_6_1(tmp_path_factory, build_tree_6_1, src_6_12) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("u61") / "tree"
    p = run_cli("--json", "build", "--kernel", "6.1", "--from", "6.12", "--source", "debian",
                "--modules", "core,ulps", "-o", str(out))
    result = json.loads(p.stdout)
    assert p.returncode == 0, (p.stderr[-3000:], result.get("text"))
    return result, out


@pytest.fixture(scope="module")
def gap_6_1(tmp_path_factory, build_tree_6_1, src_6_12) -> dict:
    out = tmp_path_factory.mktemp("gap61") / "tree"
    p = run_cli("--json", "gap", "--kernel", "6.1", "--from", "6.12", "--source", "debian",
                "--modules", "core,ulps", "-o", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


def _shims(kernel: str) -> dict[str, dict]:
    p = run_cli("--json", "shims", "--kernel", kernel, "--from", "6.12", "--source", "debian")
    assert p.returncode == 0, p.stderr
    return {r["shim"]: r for r in json.loads(p.stdout)["shims"]}


def test_shims_apply_on_6_1_and_switch_off_on_6_12(build_tree_6_1, build_tree_6_12, src_6_12):
    on61 = _shims("6.1")
    assert on61[NUM_PRS]["active"], on61[NUM_PRS]
    assert on61[NUM_PRS]["modules"] == ["ib_ipoib", "ib_srp"]
    assert "OFED_CORE_SA_PATH_REC_NUM_PRS_UINT=1" in on61[NUM_PRS]["why"]
    assert "HAVE_SA_PATH_REC_NUM_PRS_INT=1" in on61[NUM_PRS]["why"]
    # X → X: 6.12's ULPs already use the core's API; its own probe switches every shim off.
    on612 = _shims("debian-12-6.12")
    assert on612 and not [s for s, r in on612.items() if r["active"]], on612
    assert "HAVE_SA_PATH_REC_NUM_PRS_INT=0" in on612[NUM_PRS]["why"]


def test_shim_off_when_core_probe_is_off(tmp_path, build_tree_6_1, src_6_12):
    """A core probe that does not match X's headers turns its shim off even for an old target."""
    bp = tmp_path / "backports"
    shutil.copytree(REPO / "backports", bp)
    cp = bp / "shims" / "core-probes.toml"
    cp.write_text(cp.read_text().replace(r"unsigned int num_prs, void \*context\)", "no such prototype"))
    p = run_cli("--json", "shims", "--kernel", "6.1", "--from", "6.12", "--source", "debian",
                env={"OFEDTOOL_BACKPORTS": str(bp)})
    assert p.returncode == 0, p.stderr
    row = {r["shim"]: r for r in json.loads(p.stdout)["shims"]}[NUM_PRS]
    assert not row["active"] and "OFED_CORE_SA_PATH_REC_NUM_PRS_UINT=0" in row["why"]


def test_stale_shim_names_patch_and_hunk_and_writes_nothing(tmp_path, build_tree_6_1, src_6_12):
    bp = tmp_path / "backports"
    shutil.copytree(REPO / "backports", bp)
    victim = bp / "shims" / NUM_PRS / "ib_ipoib.patch"
    lines = victim.read_text().splitlines(keepends=True)
    i = next(k for k, ln in enumerate(lines) if ln.startswith("@@"))
    j = next(k for k in range(i + 1, len(lines)) if lines[k].startswith(" "))
    lines[j] = " this line is not in the source\n"
    victim.write_text("".join(lines))
    out = tmp_path / "out"
    p = run_cli("generate", "--kernel", "6.1", "--from", "6.12", "--source", "debian", "--modules", "ipoib",
                "-o", str(out), env={"OFEDTOOL_BACKPORTS": str(bp)})
    assert p.returncode != 0
    line = error_line(p.stderr)
    assert f"shims/{NUM_PRS}/ib_ipoib.patch" in line and "hunk #1" in line, line
    assert "drivers/infiniband/ulp/ipoib/ipoib_main.c" in line, line
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_6_1_ulps_build_clean_and_bind_to_our_core(ulp_build_6_1):
    result, out = ulp_build_6_1
    b = result["build"]
    assert result["ok"] and b["ok"], result["text"]
    assert b["counts"]["errors"] == 0 and b["counts"]["undefined"] == 0 and b["counts"]["hazards"] == 0
    assert b["counts"]["binding"] == 0
    mods = {m["name"]: m for m in b["modules"]}
    assert ULPS <= set(mods) and all(mods[n]["ok"] and mods[n]["ko"] for n in ULPS)
    assert all(m["vermagic"].startswith("6.1.0-") for m in mods.values())
    # Y's own source: 6.1's ipoib, not 6.12's (both in the manifest).
    man = json.loads((out / "manifest.json").read_text())
    assert man["target_source"]["version"].startswith("6.1.")
    applied = {r["shim"] for r in man["shims"] if r["active"]}
    assert NUM_PRS in applied
    assert "unsigned int num_prs" in (out / "drivers/infiniband/ulp/ipoib/ipoib_main.c").read_text()


def test_binding_reads_our_crcs(ulp_build_6_1, build_tree_6_1):
    from ofedtool.build.binding import check_binding, read_symvers
    from ofedtool.kmod import dump_modversions
    _, out = ulp_build_6_1
    ours = read_symvers(out / "Module.symvers")
    distro = read_symvers(build_tree_6_1 / "Module.symvers")
    ko = out / "drivers/infiniband/ulp/ipoib/ib_ipoib.ko"
    imports = dump_modversions(ko)
    rdma = [s for s in imports if s in ours]
    assert "ib_sa_path_rec_get" in rdma and len(rdma) > 20
    assert all(imports[s] == ours[s].crc for s in rdma)
    # The distro's core has other CRCs for at least some of them: binding to it would be wrong.
    assert any(s in distro and distro[s].crc != ours[s].crc for s in rdma)
    ulp_kos = sorted(out.rglob("*.ko"))
    assert check_binding(out, ulp_kos, build_tree_6_1 / "Module.symvers") == []
    # A Module.symvers with one CRC changed: the check names the module and the symbol.
    bad = out.parent / "bad"
    bad.mkdir(exist_ok=True)
    text = (out / "Module.symvers").read_text().splitlines()
    text = [("0x12345678" + ln[ln.index("\t"):]) if ln.split("\t")[1] == "ib_sa_path_rec_get" else ln for ln in text]
    (bad / "Module.symvers").write_text("\n".join(text) + "\n")
    probs = check_binding(bad, [ko])
    assert [(p.module, p.symbol) for p in probs] == [("ib_ipoib", "ib_sa_path_rec_get")]


def test_build_lists_consumers(ulp_build_6_1):
    result, out = ulp_build_6_1
    names = {c["name"] for c in result["consumers"]}
    # Real in-kernel RDMA users of Debian 12's 6.1 that this build (core + ULPs) does not ship.
    # (Debian does not build siw; its rxe is a consumer when we do not build ours.)
    assert {"rds_rdma", "9pnet_rdma", "smc", "mlx5_ib", "rdma_rxe"} <= names, names
    assert not names & {"ib_core", "rdma_cm", "ib_ipoib", "nvme_rdma"}
    assert json.loads((out / "result.json").read_text())["consumers"] == result["consumers"]


def test_consumers_on_debian_12(cache, build_tree_6_1):
    from ofedtool.catalog import resolve_target
    from ofedtool.build.consumers import find_consumers
    from ofedtool.fetch.headers import fetch_headers
    from ofedtool.fetch.image import fetch_image
    t, b = fetch_headers(cache, "6.1")
    assert t.id == resolve_target("6.1").id
    found = {c.name: c for c in find_consumers(cache, t, b, CORE + ["rdma_rxe", "siw"] + sorted(ULPS))}
    assert {"rds_rdma", "9pnet_rdma", "smc", "mlx5_ib", "mlx4_ib", "irdma", "rdmavt"} <= set(found), sorted(found)
    assert not {"rdma_rxe", "siw", "ib_core", "ib_ipoib"} & set(found)
    rds = found["rds_rdma"]
    assert rds.path == "kernel/net/rds/rds_rdma.ko" and set(rds.imports_from) == {"ib_core", "rdma_cm"}
    # The unpacked image stays in the cache, whole, for QEMU.
    img = fetch_image(cache, t, b)
    assert img.vmlinuz.is_file() and (img.modules_dir / rds.path).is_file()
    # modinfo agrees with our .modinfo reader.
    p = subprocess.run(["modinfo", "-F", "depends", str(img.modules_dir / found["9pnet_rdma"].path)],
                       capture_output=True, text=True)
    assert set(p.stdout.strip().split(",")) >= {"ib_core", "rdma_cm"}


def test_gap_groups_real_errors(gap_6_1):
    apis = {(a["kind"], a["name"]): a for a in gap_6_1["apis"]}
    # 6.1's ULPs on the 6.12 core, unshimmed: the num_prs callback type.
    pr = apis[("function", "ib_sa_path_rec_get")]
    assert pr["count"] == 2
    assert {"drivers/infiniband/ulp/ipoib/ipoib_main.c", "drivers/infiniband/ulp/srp/ib_srp.c"} == set(pr["files"])
    assert pr["sites"][0]["line"] > 0
    # 6.12's core on 6.1, uncompat'ed: the kernel APIs backports/ covers (errors > 0, several kinds).
    assert gap_6_1["total"] > 2 and len(gap_6_1["by_kind"]) >= 2
    assert gap_6_1["total"] == sum(a["count"] for a in gap_6_1["apis"])
    assert not gap_6_1["modules"]["ib_core"]["ko"]


def test_abi_gate_passes_our_build_and_catches_the_distros_nvme_rdma(ulp_build_6_1, cache, build_tree_6_1):
    """The crash of the first NVMe-oF connect: the target's built-in blk_mq_rdma_map_queues()
    reading our struct ib_device. Our nvme-rdma calls our own copy (compat), so the build is
    clean; the distro's nvme-rdma.ko, planted as if we had shipped it unshimmed, imports the
    target's and must be caught, with the structure named."""
    from ofedtool.build.abi import check_abi
    from ofedtool.build.binding import dump_modversions
    from ofedtool.catalog import resolve_target
    from ofedtool.fetch.exports import fetch_index
    from ofedtool.fetch.headers import fetch_headers
    from ofedtool.fetch.image import fetch_image
    from ofedtool.modules import load_catalog

    result, tree = ulp_build_6_1
    abi = result["build"]["abi"]
    assert result["build"]["counts"]["abi"] == 0 and abi["hazards"] == [], abi
    # It compared real exports whose files see RDMA headers (lib/dynamic_debug.c's) and found
    # them unchanged by our headers; the two the compat redirects are no longer imported at all.
    assert {"__dynamic_dev_dbg", "__dynamic_pr_debug"} <= set(abi["compared"]), abi
    ours = dump_modversions(tree / "drivers/nvme/host/nvme-rdma.ko")
    assert "blk_mq_rdma_map_queues" not in ours and "blk_mq_map_queues" in ours
    assert not any("__dynamic_ibdev_dbg" in dump_modversions(k) for k in tree.rglob("*.ko"))

    t, b = fetch_headers(cache, "6.1")
    hv = next(p["version"] for p in b.provenance["packages"] if p["package"].startswith("linux-headers-"))
    index = fetch_index(cache, resolve_target("6.1"), hv, "x86", load_catalog().include_paths)
    distro = fetch_image(cache, t, b).modules_dir / "kernel/drivers/nvme/host/nvme-rdma.ko"
    rep = check_abi(tree, [distro], build_tree_6_1, index)
    hz = {h.symbol: h for h in rep.hazards}
    assert set(hz) == {"blk_mq_rdma_map_queues"}, rep
    h = hz["blk_mq_rdma_map_queues"]
    assert h.exporter == "vmlinux" and h.source == "block/blk-mq-rdma.c" and h.importers == ("nvme-rdma",)
    assert h.types[0] == "struct ib_device" and h.ours != h.target
    # The target pass reproduced the target's own CRC: the method sees what kbuild saw.
    from ofedtool.build.binding import read_symvers
    assert read_symvers(build_tree_6_1 / "Module.symvers")["blk_mq_rdma_map_queues"].crc == h.target
