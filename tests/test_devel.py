"""The -devel content (ofedtool.package.devel): one include directory a third party points at,
self-sufficient, and a Module.symvers that names no build directory.

The quick tests lay out a small tree with the real shapes (a compat header wrapping one of X's,
a uapi header kbuild reaches as <rdma/...>) and compile against the staged -devel with the
host's gcc: only `-I<dir>/include`, nothing forced in. The slow test builds the target's own
9pnet_rdma (net/9p/trans_rdma.c from Debian 12's linux-source) out of tree against the -dev
.deb's content, as a third party would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ofedtool.errors import OfedError
from ofedtool.package import devel
from ofedtool.package.common import Module, Package, Tree
from ofedtool.tree import Manifest

DATA = Path(__file__).parent / "data"


def _tree(tmp_path: Path) -> Tree:
    t = tmp_path / "tree"
    files = {
        # X's header wants a header the target lacks (6.13's linux/pci-tph.h) and a HAVE_-dependent type
        "include/rdma/ib_verbs.h": "#ifndef X_IB_VERBS_H\n#define X_IB_VERBS_H\n#include <linux/pci-tph.h>\n"
                                   "#include <rdma/ib_user_verbs.h>\nstatic inline int x_verbs(void) "
                                   "{ return TPH_MEM_TYPE_PM + IB_USER_VERBS_ABI; }\n#endif\n",
        "include/uapi/rdma/ib_user_verbs.h": "#define IB_USER_VERBS_ABI 6\n",
        "compat/include/linux/pci-tph.h": "#ifdef HAVE_LINUX_PCI_TPH_H\n#include_next <linux/pci-tph.h>\n#else\n"
                                          "enum tph_mem_type { TPH_MEM_TYPE_VM, TPH_MEM_TYPE_PM };\n#endif\n",
        # a compat header wrapping X's own: it must reach X's file, not the kernel's
        "compat/include/rdma/ib_verbs.h": "#ifndef C_IB_VERBS_H\n#define C_IB_VERBS_H\n#include_next <rdma/ib_verbs.h>\n"
                                          "#ifndef HAVE_OFED_TEST\n#define ofed_wrapped 1\n#endif\n#endif\n",
        "compat/compat.h": '#include "config.h"\n',
        "compat/config.h": "/* #undef HAVE_LINUX_PCI_TPH_H */\n",
        "Module.symvers": f"0x1234abcd\tib_register_device\t{t.resolve()}/drivers/infiniband/core/ib_core\tEXPORT_SYMBOL\t\n",
    }
    for rel, text in files.items():
        (t / rel).parent.mkdir(parents=True, exist_ok=True)
        (t / rel).write_text(text)
    manifest = Manifest.from_dict(json.loads((DATA / "tree-6.1" / "manifest.json").read_text()))
    return Tree(t, manifest, None, [Module("ib_core", "drivers/infiniband/core", t / "x.ko")])


def _pkg(tree: Tree) -> Package:
    return Package(tree=tree, name="ofed-rdma", counter=1, epoch=1700000000, epoch_from="test", module_dir="",
                   kernel_dir=None)


def test_layout_symvers_and_default_link(tmp_path):
    tree = _tree(tmp_path)
    root = tmp_path / "root"
    d = devel.stage(_pkg(tree), root, "amd64")
    assert d == root / f"usr/src/ofa_kernel/x86_64/{tree.release}"
    assert (root / "usr/src/ofa_kernel/default").readlink() == Path(f"x86_64/{tree.release}")
    symvers = (d / "Module.symvers").read_text()
    assert str(tmp_path) not in symvers
    # not the kernel's own relative name: modpost would call every symbol "exported twice"
    assert f"\t/usr/src/ofa_kernel/x86_64/{tree.release}/drivers/infiniband/core/ib_core\t" in symvers
    assert (d / "compat/config.h").is_file() and (d / "include/uapi/rdma/ib_user_verbs.h").is_file()


def test_one_include_dir_compiles_with_nothing_forced(tmp_path):
    """gcc with only -I<dir>/include (and a stand-in for the kernel's include dir after it):
    X's header finds the compat pci-tph.h and config.h, the compat wrapper of X's ib_verbs.h
    reaches X's file by relative path, and <rdma/ib_user_verbs.h> is X's uapi file."""
    cc = shutil.which("gcc")
    if cc is None:
        pytest.fail("gcc is not installed: run scripts/bootstrap")
    d = devel.stage(_pkg(_tree(tmp_path)), tmp_path / "root", "amd64")
    kernel = tmp_path / "kernel-include"
    (kernel / "rdma").mkdir(parents=True)
    (kernel / "rdma" / "ib_verbs.h").write_text("#error the kernel's own ib_verbs.h was read\n")
    (kernel / "rdma" / "ib_user_verbs.h").write_text("#error the kernel's own uapi was read\n")
    src = tmp_path / "consumer.c"
    src.write_text("#include <rdma/ib_verbs.h>\nint f(void) { return x_verbs() + ofed_wrapped; }\n")
    p = subprocess.run([cc, "-c", "-o", str(tmp_path / "c.o"), f"-I{d}/include", f"-I{kernel}", str(src), "-H"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    read = [ln.lstrip(". ") for ln in p.stderr.splitlines() if ln.startswith(".")]
    assert any(r.endswith("upstream/include/rdma/ib_verbs.h") for r in read), read
    assert any(r.endswith("compat/config.h") for r in read), read
    assert not [r for r in read if str(kernel) in r]


def test_a_wrapper_without_its_include_next_is_refused(tmp_path):
    tree = _tree(tmp_path)
    (tree.path / "compat/include/rdma/ib_verbs.h").write_text("#define nothing_wrapped\n")
    with pytest.raises(OfedError, match=r"compat/include/rdma/ib_verbs.h: wraps include/rdma/ib_verbs.h"):
        devel.stage(_pkg(tree), tmp_path / "root", "amd64")


def test_vmtest_extra_module_joins_the_tree_or_is_refused(tmp_path):
    """vmtest --extra-module: a consumer built against the -devel joins our modules (loaded and
    checked by build-id with them); a name the tree already has, or no .ko, is one clear line."""
    from ofedtool.prove.vmtest import GuestTree, with_extra
    core = tmp_path / "ib_core.ko"
    extra = tmp_path / "9pnet_rdma.ko"
    for f in (core, extra):
        f.write_bytes(b"\x7fELF")
    tree = GuestTree(tmp_path, "6.1.0-57-amd64", "debian-12", {"ib_core": core}, None)
    assert with_extra(tree, (extra,)).modules == {"ib_core": core, "9pnet_rdma": extra}
    with pytest.raises(OfedError, match="ib_core is already a module of the tree"):
        with_extra(tree, (core,))
    with pytest.raises(OfedError, match="not a .ko file"):
        with_extra(tree, (tmp_path / "missing.ko",))


def test_probe_kit_refuses_a_kernel_outside_its_release_in_one_line(tmp_path):
    """The DKMS package's probe kit knows its release's kernels from the catalog (Debian 12:
    6.1.0-N-* and bookworm-security's 6.12.N+deb12-*, any flavour): another kernel (Debian 11's,
    Debian 13's 6.12, a self-built 6.1.150) is refused by real sh before anything runs."""
    from ofedtool.package.dkms import release_of
    from ofedtool.package.probekit import write_kit
    release = release_of("debian-12")
    write_kit(tmp_path / "probekit", [], [], "ofed-rdma", {}, release)
    for kver in ("5.10.0-46-amd64", "6.12.118+deb13-amd64", "6.1.150", "6.10.0-1-amd64"):
        p = subprocess.run(["sh", "probekit/probe.sh", kver, str(tmp_path / "nokernel")], cwd=tmp_path,
                           capture_output=True, text=True)
        assert p.returncode == 1
        assert p.stderr.splitlines() == [f"ofed-rdma: kernel {kver} is not a kernel of Debian 12 "
                                         f"({release.kernels}): this package builds for those only"]
    for kver in ("6.1.0-57-amd64", "6.1.0-57-cloud-amd64", "6.1.0-57-rt-amd64", "6.12.117+deb12-amd64"):
        p = subprocess.run(["sh", "probekit/probe.sh", kver, str(tmp_path / "nokernel")], cwd=tmp_path,
                           capture_output=True, text=True)
        assert p.returncode == 1 and "no kernel build tree at" in p.stderr, (kver, p.stderr)
    assert release_of(None) is None  # a local kernel dir has no release: nothing to refuse


def test_two_kernels_dev_debs_install_side_by_side(tmp_path):
    """Named per kernel as linux-headers-<kver>, the -dev .debs of two kernels share no file (dpkg
    refuses a path two packages ship), /usr/src/ofa_kernel/default among them: an alternative,
    the newer kernel's at the higher priority."""
    from ofedtool.package import deb
    base = json.loads((DATA / "tree-6.1" / "manifest.json").read_text())
    files, scripts = {}, {}
    for kver in ("6.1.0-57-amd64", "6.12.117+deb12-amd64"):
        tree = _tree(tmp_path / kver)
        m = Manifest.from_dict({**base, "target": {**base["target"], "release": kver}})
        out = deb.build_dev(_pkg(Tree(tree.path, m, None, tree.modules)), tmp_path / "out", tmp_path / kver / "work").deb
        assert out.name.startswith(f"ofed-rdma-dev-{kver}_")
        listing = subprocess.run(["dpkg-deb", "-c", str(out)], capture_output=True, text=True, check=True).stdout
        files[kver] = {ln.split()[5] for ln in listing.splitlines() if not ln.startswith("d")}
        ctl = tmp_path / kver / "ctl"
        subprocess.run(["dpkg-deb", "-e", str(out), str(ctl)], check=True)
        scripts[kver] = (ctl / "postinst").read_text(), (ctl / "prerm").read_text()
        assert f"Package: ofed-rdma-dev-{kver}\n" in (ctl / "control").read_text()
    a, b = files.values()
    assert a and b and not a & b, sorted(a & b)
    assert not any(f.endswith("ofa_kernel/default") for f in a | b)
    prio = {}
    for kver, (post, pre) in scripts.items():
        line = next(ln for ln in post.splitlines() if "update-alternatives --install" in ln).split()
        assert line[2:5] == ["/usr/src/ofa_kernel/default", "ofa_kernel-default", f"/usr/src/ofa_kernel/x86_64/{kver}"]
        prio[kver] = int(line[5])
        assert f"update-alternatives --remove ofa_kernel-default /usr/src/ofa_kernel/x86_64/{kver}" in pre
    assert prio["6.12.117+deb12-amd64"] > prio["6.1.0-57-amd64"]
