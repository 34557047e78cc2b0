"""X's mlx5 (mlx5_core with its Ethernet driver, mlxfw, mlx5_ib) on a pair the rules carry:
6.12 onto Debian 12's 6.12 (bookworm-security; debian-13 is the same series and is carried
too, proven by hand). That pair shares the core's objects with the other 6.12-on-6.12 builds
in ccache, which keeps CI's cost to mlx5 itself. Built once with as few other modules as the
traffic needs (the core and rxe), then booted on that kernel: mlx5 registers its PCI and auxiliary
drivers with no hardware, rxe traffic still passes beside it, everything unloads, dmesg clean.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli

MLX5 = {"mlx5_core", "mlxfw", "mlx5_ib"}


@pytest.fixture(scope="module")
def mlx5_tree(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mlx5") / "tree"
    p = run_cli("--json", "build", "--kernel", "debian-12-6.12", "--from", "6.12", "--source", "debian",
                "--modules", "core,rxe,mlx5", "-o", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    return out


@pytest.mark.slow
@pytest.mark.network
def test_mlx5_from_6_12_builds_clean_on_debian_12_6_12(mlx5_tree):
    res = json.loads((mlx5_tree / "result.json").read_text())
    man = json.loads((mlx5_tree / "manifest.json").read_text())
    b = res["build"]
    mods = {m["name"]: m for m in b["modules"]}
    assert MLX5 <= set(mods) and all(mods[n]["ko"] for n in MLX5)
    assert b["counts"]["errors"] == 0 and b["counts"]["undefined"] == 0 and b["counts"]["hazards"] == 0
    assert b["counts"]["abi"] == 0 and "skipped" not in b["abi"]
    # Replacing the distro's mlx5_core strands nothing: its one RDMA importer, mlx5_ib, is ours.
    # (The other RDMA modules this partial --modules leaves out are reported as stranded, as for
    # any partial set; the default whole stack rebuilds them.)
    stranded = res.get("stranded", [])
    assert stranded and not [s["name"] for s in stranded if {"mlx5_core", "mlxfw"} & set(s["imports_from"])]
    assert "mlx5_ib" not in {s["name"] for s in stranded}
    # the default for this pair, recorded, and X's mlx5 headers took the target's place
    assert [(r["name"], r["rule"], r["explicit"]) for r in man["rules"]] == [("mlx5", "upstream", False)]
    assert {m["name"]: m["rule"] for m in man["modules"]}["mlx5_ib"] == "upstream"
    assert (mlx5_tree / "include/linux/mlx5/driver.h").is_file()
    # X → X (6.12.117 on 6.12.117): no compat item is active
    assert man["compat"]["active"] == [], man["compat"]["active"]


@pytest.mark.slow
@pytest.mark.network
def test_mlx5_loads_beside_rxe_traffic_on_debian_12_6_12(mlx5_tree, tmp_path):
    out = tmp_path / "vm"
    p = run_cli("--json", "vmtest", "--kernel", "debian-12-6.12", "--from", "6.12", "--tree", str(mlx5_tree),
                "-o", str(out), "--timeout", "500")
    res = json.loads((out / "result.json").read_text())
    steps = {s["step"]: s for s in res["steps"]}
    assert p.returncode == 0, (p.stderr[-2000:], res["steps"])
    for step in ("load_all", "load_all_ours", "drivers", "rxe", "pingpong", "rping", "unload", "dmesg", "done"):
        assert steps[step]["status"] == "PASS", (step, res["steps"])
    said = steps["drivers"]["detail"]
    assert "mlx5_core: " in said and "pci:mlx5_core" in said and "auxiliary:" in said
    assert "mlx5_ib: auxiliary:mlx5_ib" in said
    # checked by build-id in load_all_ours: every one of ours, the mlx5 three among them
    assert MLX5 <= set(res["initramfs"]["ours"])
    assert {m.rsplit("/", 1)[-1] for m in res["initramfs"]["all_load"]} >= {f"{n}.ko" for n in MLX5}
    print("vmtest seconds:", res["seconds"])


@pytest.mark.slow
@pytest.mark.network
def test_mlx5_packages_replace_the_distro_driver(mlx5_tree, tmp_path):
    out = tmp_path / "pkg"
    p = run_cli("package", "--tree", str(mlx5_tree), "-o", str(out), "--format", "rpm,deb")
    assert p.returncode == 0, p.stderr[-2000:]
    spec = next(out.glob("*.spec")).read_text()
    for n in MLX5:
        assert f"Provides:       kmod({n}.ko)" in spec
    assert "Conflicts:      mlnx-ofa_kernel" in spec and "Conflicts:      mlnx-en" in spec
    assert "mlx5: rule upstream" in spec
    deb = next(out.glob("*-modules-*.deb"))
    control = subprocess.run(["dpkg-deb", "-f", str(deb), "Conflicts", "Description"], capture_output=True,
                             text=True, check=True).stdout
    assert "mlnx-ofed-kernel-dkms" in control and "mlnx-en-dkms" in control
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "mlx5_core.ko" in listing
    conf = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    assert b"override mlx5_core " in conf
