"""Nothing stranded: the consumer gate, --leave and its blacklist, the whole-stack default.

Quick tier: the distro's modules directory is a directory of tiny real ELF objects with a
.modinfo section (assembled with `as`, section added with `objcopy`, as kbuild's modpost
writes it), read by the same consumers.scan that reads a real linux-image; the packages are
made by the real rpmbuild and dpkg-deb from a tree holding such objects.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import REPO, run_cli
from ofedtool.build.consumers import judge_consumers, scan
from ofedtool.errors import OfedError
from ofedtool import tree
from ofedtool.defaults import DEFAULT_MODULES
from ofedtool.modules import load_catalog, select
from ofedtool.pipeline import apply_leave, buildable, parse_leave

OURS = ["ib_core", "ib_cm", "iw_cm", "rdma_cm", "ib_umad", "ib_uverbs", "rdma_ucm", "rdma_rxe", "siw"]


def fake_ko(path: Path, depends: str) -> Path:
    """A relocatable ELF object whose .modinfo holds name= and depends= (NUL-separated)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = path.with_suffix(".o")
    subprocess.run(["as", "-o", str(obj), "/dev/null"], check=True)
    info = path.with_suffix(".modinfo")
    name = path.name.removesuffix(".ko").replace("-", "_")
    info.write_bytes(f"license=GPL\0name={name}\0depends={depends}\0vermagic=6.1.0-57-amd64 SMP\0".encode())
    subprocess.run(["objcopy", "--add-section", f".modinfo={info}", str(obj), str(path)], check=True)
    obj.unlink()
    info.unlink()
    return path


@pytest.fixture
def image(tmp_path) -> Path:
    """A distro modules dir: two hardware drivers, a ULP, smc and smc_diag, an unrelated module."""
    root = tmp_path / "lib/modules/6.1.0-57-amd64"
    k = root / "kernel"
    fake_ko(k / "drivers/infiniband/hw/mlx5/mlx5_ib.ko", "mlx5_core,ib_uverbs,ib_core")
    fake_ko(k / "drivers/infiniband/hw/hfi1/hfi1.ko", "rdmavt,ib_core")
    fake_ko(k / "drivers/infiniband/sw/rdmavt/rdmavt.ko", "ib_uverbs,ib_core")
    fake_ko(k / "drivers/nvme/host/nvme-rdma.ko", "nvme-fabrics,rdma_cm,ib_core")
    fake_ko(k / "net/smc/smc.ko", "ib_core")
    fake_ko(k / "net/smc/smc_diag.ko", "smc")
    fake_ko(k / "drivers/net/ethernet/mellanox/mlx5/core/mlx5_core.ko", "mlxfw,tls")
    for m in OURS:
        fake_ko(k / "drivers/infiniband/core" / f"{m}.ko", "ib_core" if m != "ib_core" else "")
    return root


def test_scan_finds_every_importer_we_do_not_build(image):
    found = {c.name: c for c in scan(image, OURS)}
    assert sorted(found) == ["hfi1", "mlx5_ib", "nvme_rdma", "rdmavt", "smc"]
    assert found["mlx5_ib"].imports_from == ("ib_core", "ib_uverbs")
    assert found["nvme_rdma"].path == "kernel/drivers/nvme/host/nvme-rdma.ko"
    # Once smc is ours, smc_diag imports from ours: rebuilding smc alone would strand it.
    more = {c.name for c in scan(image, OURS + ["rdmavt", "hfi1", "mlx5_ib", "nvme-rdma", "smc"])}
    assert more == {"smc_diag"}


def test_whole_stack_fails_on_a_stranded_module(image):
    consumers = [c.as_dict() for c in scan(image, OURS)]
    v = judge_consumers(consumers, (), strict=True)
    assert not v.ok
    assert sorted(x["name"] for x in v.stranded) == ["hfi1", "mlx5_ib", "nvme_rdma", "rdmavt", "smc"]
    assert v.rows[0].startswith("5 stranded modules") and "mlx5_ib" in v.rows[0]
    assert v.rows[-1].startswith("FAIL: 5 stranded")
    # An explicit partial --modules reports them but is not failed for them.
    p = judge_consumers(consumers, (), strict=False, partial="core,rxe,siw")
    assert p.ok and p.stranded == v.stranded and "partial stack (--modules core,rxe,siw)" in p.rows[-1]


def test_leave_passes_the_gate_one_line_per_module(image):
    consumers = [c.as_dict() for c in scan(image, OURS + ["rdmavt", "hfi1", "nvme-rdma", "smc", "smc_diag"])]
    v = judge_consumers(consumers, parse_leave("mlx5-ib,bnxt_re"), strict=True)
    assert v.ok and v.stranded == []
    assert [x["name"] for x in v.left] == ["mlx5_ib"]
    assert v.rows == ["0 stranded modules (distro modules importing from modules we replace, not rebuilt, "
                      "not left with --leave)",
                      "left: mlx5_ib (kernel/drivers/infiniband/hw/mlx5/mlx5_ib.ko) is not rebuilt and would "
                      "not load with ours: blacklisted in the packages' modprobe.d"]
    assert v.unknown_left == ["bnxt_re"]
    # No image to read: nothing is claimed either way.
    assert judge_consumers(None, ("mlx5_ib",), strict=True).rows == []


def test_leave_drops_a_module_but_never_ours_or_a_dependency():
    cat = load_catalog()
    stack = select(cat, None)
    assert [m.name for m in apply_leave(stack, ("mlx5_ib",)) if m.name == "mlx5_ib"] == []
    with pytest.raises(OfedError, match="--leave ib_core: it is X's code"):
        apply_leave(stack, ("ib_core",))
    with pytest.raises(OfedError, match="--leave rdmavt: hfi1 imports from it"):
        apply_leave(stack, ("rdmavt",))
    assert len(apply_leave(stack, ("rdmavt", "hfi1", "ib_qib"))) == len(stack) - 3


def test_default_is_the_targets_whole_stack(tmp_path):
    """--modules not given: every module of the catalog's stack, narrowed by the target's own
    .config (a Debian-12-cloud-like config: mlx4/mlx5 and smc, no rxe, no ULPs, no bnxt_re)."""
    cat = load_catalog()
    assert DEFAULT_MODULES == "stack"
    names = {m.name for m in select(cat, None)}
    assert {"ib_core", "rdma_rxe", "siw", "ib_ipoib", "nvme-rdma", "mlx5_ib", "irdma", "hfi1", "rdmavt",
            "bnxt_re", "mana_ib", "9pnet_rdma", "rds_rdma", "smc", "smc_diag"} <= names
    (tmp_path / ".config").write_text("\n".join([
        "CONFIG_INFINIBAND=m", "CONFIG_INFINIBAND_USER_ACCESS=m", "CONFIG_MLX4_INFINIBAND=m",
        "CONFIG_MLX5_INFINIBAND=m", "CONFIG_SMC=m", "CONFIG_SMC_DIAG=m", "CONFIG_RDS_RDMA=m",
        "# CONFIG_INFINIBAND_BNXT_RE is not set", "# CONFIG_RDMA_RXE is not set"]) + "\n")
    keep, skipped = buildable(select(cat, None), SimpleNamespace(build_dir=tmp_path, release="6.1.0-57-cloud-amd64"))
    kept = {m.name for m in keep}
    assert {"mlx4_ib", "mlx5_ib", "smc", "smc_diag", "rds_rdma"} <= kept
    # rds_rdma's empty RDS/RDS_TCP switch siblings off: they are no condition on the target.
    assert "rds_rdma" not in skipped
    assert skipped["bnxt_re"] == "CONFIG_INFINIBAND_BNXT_RE is not set in 6.1.0-57-cloud-amd64's config"
    assert {"ib_ipoib", "irdma", "hfi1", "rdmavt"} <= set(skipped)
    # Our own code (upstream rule) is never narrowed by the target's config (Debian builds no siw).
    assert {"ib_core", "rdma_rxe", "siw"} <= kept


# ---------------------------------------------------------------- packages


def fake_built_tree(root: Path, left: list[dict]) -> Path:
    """The -o of a build of core + mlx4_ib with mlx5_ib left: a manifest, result.json and .ko files."""
    mods = [("ib_core", "drivers/infiniband/core", "upstream"), ("mlx4_ib", "drivers/infiniband/hw/mlx4", "target")]
    for name, d, _ in mods:
        fake_ko(root / d / f"{name}.ko", "")
    tree.Manifest(ofedtool="test", inputs="0" * 64, source={"version": "7.3.4", "provider": "debian"},
                  target={"id": "debian-12", "release": "6.1.0-57-amd64"},
                  modules=tuple(tree.ModuleEntry(n, d, r, "x") for n, d, r in mods), copied=(),
                  target_source=None, skipped={}, shims=[], patches=[], smpl=[], probes={"results": {}},
                  compat={"active": [], "absent": []}).write(root)
    build = {"modules": [{"name": n, "ko": str(root / d / f"{n}.ko"), "vermagic": "6.1.0-57-amd64 SMP", "ok": True}
                         for n, d, _ in mods]}
    tree.BuildRecord(ok=True, output=str(root), source={"version": "7.3.4"}, kernel="6.1.0-57-amd64",
                     target="debian-12", probes={}, skipped={}, build=build, left=left).write(root)
    return root


@pytest.mark.skipif(not shutil.which("rpmbuild") or not shutil.which("dpkg-deb"), reason="needs rpm and dpkg")
def test_packages_blacklist_the_left_modules(tmp_path):
    left = [{"name": "mlx5_ib", "path": "kernel/drivers/infiniband/hw/mlx5/mlx5_ib.ko", "imports_from": ["ib_core"]}]
    tree = fake_built_tree(tmp_path / "tree", left)
    out = tmp_path / "pk"
    env = {"SOURCE_DATE_EPOCH": "1700000000", "OFEDTOOL_RPMBUILD_DIR": str(tmp_path / "rpmbuild")}
    # a made-up tree: no variants for the release's other kernels (a real tree's are tested in test_package)
    p = run_cli("package", "--tree", str(tree), "-o", str(out), "--format", "dkms,rpm,deb", "--no-variants", env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    rpm = next(out.glob("kmod-ofed-rdma-*.rpm"))
    q = subprocess.run(["rpm", "-qp", "--provides", "--configfiles", str(rpm)], capture_output=True, text=True)
    assert "kmod(mlx4_ib.ko)" in q.stdout and "/etc/modprobe.d/ofed-rdma.conf" in q.stdout
    x = tmp_path / "rpmx"
    x.mkdir()
    subprocess.run(f"rpm2cpio {rpm} | cpio -idm --quiet", shell=True, cwd=x, check=True)
    conf = (x / "etc/modprobe.d/ofed-rdma.conf").read_text()
    assert "\nblacklist mlx5_ib\n" in conf and conf.count("blacklist ") == 1
    assert "override mlx4_ib 6.1.0-57-amd64" in (x / "etc/depmod.d/ofed-rdma.conf").read_text()
    deb = next(out.glob("ofed-rdma-dkms_*.deb"))
    d = tmp_path / "debx"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(d)], check=True)
    assert (d / "etc/modprobe.d/ofed-rdma.conf").read_text() == conf.replace("kmod-ofed-rdma", "ofed-rdma-dkms")
    # and the kernel hooks that keep a failed DKMS build from failing a kernel install (test_system.py)
    assert (d / "DEBIAN/conffiles").read_text() == ("/etc/modprobe.d/ofed-rdma.conf\n"
                                                    "/etc/kernel/postinst.d/00-ofed-rdma-dkms\n"
                                                    "/etc/kernel/header_postinst.d/00-ofed-rdma-dkms\n")
    dkms_conf = next(out.glob("*.dkms.conf")).read_text()
    assert 'BUILT_MODULE_NAME[1]="mlx4_ib"' in dkms_conf
    with tarfile.open(next(out.glob("*.dkms.tar.gz"))) as t:
        assert any(n.endswith("/ofed-rdma.modprobe.conf") for n in t.getnames())


@pytest.mark.skipif(not shutil.which("rpmbuild"), reason="needs rpm")
def test_nothing_left_no_blacklist(tmp_path):
    tree = fake_built_tree(tmp_path / "tree", [])
    out = tmp_path / "pk"
    env = {"SOURCE_DATE_EPOCH": "1700000000", "OFEDTOOL_RPMBUILD_DIR": str(tmp_path / "rpmbuild")}
    p = run_cli("package", "--tree", str(tree), "-o", str(out), "--format", "rpm", "--no-variants", env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    q = subprocess.run(["rpm", "-qpl", str(next(out.glob("kmod-ofed-rdma-*.rpm")))], capture_output=True, text=True)
    assert "/etc/depmod.d/ofed-rdma.conf" in q.stdout and "modprobe.d" not in q.stdout


# The whole stack, real: tests/test_upstream_7_3.py::test_whole_stack_7_3_onto_6_1_with_vmtest (CI's pair,
# built and booted by `ofedtool check`).


def test_the_consumer_scan_leaves_the_image_cache_entry_as_it_was_made(tmp_path):
    """The scan remembers every module's depends= between runs; inside the verified image entry
    that file made the next run find the entry damaged and unpack the image again."""
    from ofedtool.fetch.cache import Cache
    from ofedtool.fetch.image import KernelImage
    from ofedtool.build.consumers import scan_image

    def create(tmp: Path) -> None:
        mods = tmp / "root/lib/modules/6.1.0-57-amd64"
        fake_ko(mods / "kernel/drivers/infiniband/hw/mlx5/mlx5_ib.ko", "mlx5_core,ib_uverbs,ib_core")
        fake_ko(mods / "kernel/net/smc/smc.ko", "ib_core")

    rel = "images/linux-image-6.1.0-57-amd64_test"
    entry = Cache(tmp_path / "c").ensure(rel, create)
    img = KernelImage(entry / "root", entry / "root/boot/vmlinuz", entry / "root/lib/modules/6.1.0-57-amd64",
                      "6.1.0-57-amd64", "linux-image-6.1.0-57-amd64", "test")
    first = scan_image(img, OURS)
    # A new run (a fresh Cache: nothing verified yet) finds the entry intact.
    assert Cache(tmp_path / "c").get(rel) == entry
    memo = entry.with_name(f".{entry.name}.depends.json")
    assert memo.is_file() and "mlx5_ib.ko" in memo.read_text()
    assert scan_image(img, OURS) == first and [c.name for c in first] == ["mlx5_ib", "smc"]


def test_a_module_that_needs_an_iommu_gets_a_guest_with_one(tmp_path):
    """Debian 11's usnic_verbs refuses to load without an IOMMU on the PCI bus: a tree that has
    it boots on q35 with an emulated Intel IOMMU, switched on; one without it (or with it
    omitted) on QEMU's plain machine. A catalog that asks for an unknown guest feature is refused."""
    from types import SimpleNamespace

    from ofedtool.errors import OfedError
    from ofedtool.fetch.image import KernelImage
    from ofedtool.prove.vmtest import guest_needs, qemu_command
    whole = SimpleNamespace(modules={"ib_core": "x.ko", "usnic_verbs": "y.ko"})
    assert guest_needs(whole) == {"iommu"}
    assert guest_needs(whole, omit=("usnic_verbs",)) == set()
    assert guest_needs(SimpleNamespace(modules={"ib_core": "x.ko", "rdma_rxe": "z.ko"})) == set()
    img = KernelImage(tmp_path, tmp_path / "vmlinuz", tmp_path, "5.10.0-46-amd64", "linux-image", "1")
    cmd = qemu_command(img, tmp_path / "i.cpio.gz", "tcg", iommu=True)
    assert cmd[cmd.index("-machine") + 1] == "q35" and cmd[cmd.index("-device") + 1] == "intel-iommu"
    assert "intel_iommu=on" in cmd[cmd.index("-append") + 1].split()
    plain = qemu_command(img, tmp_path / "i.cpio.gz", "tcg")
    assert "-machine" not in plain and "intel_iommu=on" not in plain[plain.index("-append") + 1]
    toml = (REPO / "backports" / "modules.toml").read_text().replace('guest = ["iommu"]', 'guest = ["smmu"]')
    (tmp_path / "modules.toml").write_text(toml)
    with pytest.raises(OfedError, match="usnic_verbs: guest smmu is not one of iommu"):
        load_catalog(tmp_path / "modules.toml")
