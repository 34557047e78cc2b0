"""One DKMS tree for every kernel of a release (issue 16 item 4): the reference tree plus, under
variants/, the files another kernel's adapted tree has differently; the probe kit (real sh, real
make, the host's cc over tests/fakekernel's stand-in for kbuild) picks the variant whose deciding
features the kernel has, or refuses in one line naming the kernel and the features."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import fakekernel
from ofedtool.errors import OfedError
from ofedtool.adapt.probes import Probe
from ofedtool.package import variants
from ofedtool.package.common import copy_sources
from ofedtool.package.probekit import fixed_features, write_kit
from ofedtool.tree import Manifest

REAL = Path(__file__).parent / "data" / "tree-6.1" / "manifest.json"

# Two deciding features, each a header probe (the fake kernel has the header or not), and one
# that decides nothing.
PROBES = [Probe("HAVE_X", "header", "t", header="linux/x.h"), Probe("HAVE_Y", "header", "t", header="linux/y.h"),
          Probe("HAVE_Z", "header", "t", header="linux/z.h")]


def _tree(root: Path, tid: str, x: bool, y: bool, files: dict[str, str], core: bool = False) -> Path:
    d = json.loads(REAL.read_text())
    d["target"]["id"] = tid
    d["smpl"] = [{"active": not x, "changed": ["src/a.c"], "file": "x.cocci", "sha256": "0", "when": "!HAVE_X"},
                 {"active": not y, "changed": ["src/a.c"], "file": "y.cocci", "sha256": "0", "when": "!HAVE_Y"}]
    d["shims"] = []
    d["probes"]["results"] = {"HAVE_X": x, "HAVE_Y": y, "HAVE_Z": False, "OFED_CORE_W": core}
    root.mkdir(parents=True)
    Manifest.from_dict(d).write(root)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _kernel(root: Path, headers: tuple[str, ...]) -> Path:
    build = fakekernel.make_buildable(root)
    for h in headers:
        (root / "common" / "include" / "linux" / h).write_text("/* present */\n")
    return build


@pytest.fixture
def package(tmp_path):
    """A DKMS tree of a 6.1-like reference (neither feature) with a 6.12-like variant (both)."""
    old = {"src/a.c": "old a\n", "src/c.h": "only in the reference\n", "Kbuild": "same\n"}
    new = {"src/a.c": "new a\n", "src/b.h": "only in the variant\n", "Kbuild": "same\n"}
    ref = _tree(tmp_path / "t61", "debian-12", False, False, old)
    other = _tree(tmp_path / "t612", "debian-12-6.12", True, True, new, core=True)
    plan = variants.plan(ref, Manifest.read(ref), {"debian-12-6.12": other})
    top = tmp_path / "pkg"
    top.mkdir()
    copy_sources(ref, top)
    (top / "compat").mkdir()
    variants.write(plan, top)
    m = Manifest.read(ref)
    write_kit(top / "probekit", PROBES, plan.pinned, "ofed-rdma", fixed_features(m), None, "x86",
              variants.variants_list(plan))
    return top, plan


def _probe(top: Path, kver: str, kdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "probekit/probe.sh", kver, str(kdir)], cwd=top, capture_output=True, text=True)


def test_plan_ships_only_the_files_that_differ(package):
    top, plan = package
    assert [v.key for v in plan.variants] == [".", "debian-12-6.12"]
    assert [p.name for p in plan.pinned] == ["HAVE_X", "HAVE_Y"]
    v = plan.variants[1]
    assert sorted(v.files) == ["probekit/fixed.list", "src/a.c", "src/b.h"] and v.gone == ("src/c.h",)
    assert (top / "variants/touched.list").read_text().split() == ["probekit/fixed.list", "src/a.c", "src/b.h", "src/c.h"]
    assert not (top / "variants/debian-12-6.12/Kbuild").exists()
    assert (top / "probekit/variants.list").read_text() == ". b00 debian-12\ndebian-12-6.12 b11 debian-12-6.12\n"


def test_the_kit_puts_each_kernels_variant_in_place_and_back(package, tmp_path):
    top, _ = package
    k61 = _kernel(tmp_path / "k61", ())
    k612 = _kernel(tmp_path / "k612", ("x.h", "y.h"))
    p = _probe(top, "6.12.99+deb12-amd64", k612)
    assert p.returncode == 0, p.stderr
    assert "building variant debian-12-6.12" in p.stdout
    assert (top / "src/a.c").read_text() == "new a\n" and (top / "src/b.h").is_file() and not (top / "src/c.h").exists()
    config = (top / "compat/config.h").read_text()
    assert "#define HAVE_X 1" in config and "#define OFED_CORE_W 1" in config  # the variant's fixed facts
    # a second kernel in the same directory (by hand; dkms copies the source afresh)
    p = _probe(top, "6.1.0-99-amd64", k61)
    assert p.returncode == 0, p.stderr
    assert "building the reference tree" in p.stdout
    assert (top / "src/a.c").read_text() == "old a\n" and (top / "src/c.h").is_file() and not (top / "src/b.h").exists()
    config = (top / "compat/config.h").read_text()
    assert "/* #undef HAVE_X */" in config and "/* #undef OFED_CORE_W */" in config
    assert (top / "probekit/fixed.list").read_text() == "OFED_CORE_W 0\n"


def test_a_kernel_no_variant_fits_is_refused_in_one_line(package, tmp_path):
    top, _ = package
    before = {p: p.read_bytes() for p in top.rglob("*") if p.is_file() and "cache" not in p.parts}
    p = _probe(top, "6.5.0-1-amd64", _kernel(tmp_path / "k", ("x.h",)))
    assert p.returncode == 1
    assert p.stderr.splitlines() == [
        "ofed-rdma: kernel 6.5.0-1-amd64 fits none of this package's trees (debian-12 needs HAVE_X=0; "
        "debian-12-6.12 needs HAVE_Y=1): regenerate with ofedtool"]
    assert not (top / "compat/config.h").exists()
    assert {p: p.read_bytes() for p in top.rglob("*") if p.is_file() and "cache" not in p.parts} == before


def test_one_tree_refusal_names_the_rule(tmp_path):
    ref = _tree(tmp_path / "t", "debian-12", False, False, {"src/a.c": "a\n"})
    plan = variants.plan(ref, Manifest.read(ref), {})
    top = tmp_path / "pkg"
    copy_sources(ref, top)
    (top / "compat").mkdir()
    write_kit(top / "probekit", PROBES, plan.pinned, "ofed-rdma", {}, None, "x86", variants.variants_list(plan))
    p = _probe(top, "6.5.0-1-amd64", _kernel(tmp_path / "k", ("y.h",)))
    assert p.returncode == 1
    assert p.stderr.splitlines() == [
        "ofed-rdma: this package was generated for kernels where HAVE_Y=0; kernel 6.5.0-1-amd64 has it "
        "(HAVE_Y=1, SmPL y.cocci): regenerate with ofedtool"]


def test_same_features_same_tree_is_one_variant_and_different_tree_is_refused(tmp_path):
    ref = _tree(tmp_path / "a", "debian-12", False, False, {"src/a.c": "a\n"})
    rt = _tree(tmp_path / "b", "debian-12-rt", False, False, {"src/a.c": "a\n"})
    plan = variants.plan(ref, Manifest.read(ref), {"debian-12-rt": rt})
    assert [(v.key, v.targets) for v in plan.variants] == [(".", ("debian-12", "debian-12-rt"))]
    odd = _tree(tmp_path / "c", "debian-12-cloud", False, False, {"src/a.c": "changed\n"})
    with pytest.raises(OfedError, match=r"^the trees for debian-12 and debian-12-cloud differ in src/a.c but in none "
                                        r"of the features"):
        variants.plan(ref, Manifest.read(ref), {"debian-12-rt": rt, "debian-12-cloud": odd})


def test_a_variant_from_another_x_is_refused(tmp_path):
    ref = _tree(tmp_path / "a", "debian-12", False, False, {"src/a.c": "a\n"})
    other = _tree(tmp_path / "b", "debian-12-6.12", True, True, {"src/a.c": "b\n"})
    d = json.loads((other / "manifest.json").read_text())
    d["source"]["version"] = "6.12.1"
    Manifest.from_dict(d).write(other)
    with pytest.raises(OfedError, match="the variants of one package come from one X"):
        variants.plan(ref, Manifest.read(ref), {"debian-12-6.12": other})
    shutil.rmtree(other)


def test_a_kernel_whose_config_builds_other_modules_gets_no_variant(tmp_path):
    """Debian 12's cloud flavour builds 17 of the stack's 32 modules: its tree differs in Kbuild
    by its config, not by a feature, so it is left out (named), not refused."""
    ref = _tree(tmp_path / "a", "debian-12", False, False, {"Kbuild": "obj-m += a/ b/\n"})
    cloud = _tree(tmp_path / "b", "debian-12-cloud", False, False, {"Kbuild": "obj-m += a/\n"})
    d = json.loads((cloud / "manifest.json").read_text())
    gone = d["modules"].pop()["name"]
    Manifest.from_dict(d).write(cloud)
    plan = variants.plan(ref, Manifest.read(ref), {"debian-12-cloud": cloud})
    assert [(v.key, v.targets) for v in plan.variants] == [(".", ("debian-12",))]
    assert plan.skipped["debian-12-cloud"].startswith(f"its config builds {len(d['modules'])} of the "
                                                      f"{len(d['modules']) + 1} modules (not {gone})")
