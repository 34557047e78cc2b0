"""ofedtool package: real rpmbuild, real dpkg-deb, real dkms, real sign-file. Nothing mocked.

The slow tests package the session's built tree (conftest.built_tree_6_1). The dkms test
needs Debian 12's headers installed on the host (/lib/modules/<kver>/build; CI installs
linux-headers-<abi>-amd64) and root, as `dkms add/build/install` write to /usr/src,
/var/lib/dkms and /lib/modules.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import error_line, run_cli
from ofedtool.catalog import data_dir
from ofedtool.package.common import deterministic_tar

SIG_MAGIC = b"~Module signature appended~\n"


def _sh(*cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if check:
        assert p.returncode == 0, f"{' '.join(cmd)}: {p.stdout[-2000:]}{p.stderr[-2000:]}"
    return p


def _sums(d: Path) -> dict[str, str]:
    return dict(reversed(line.split("  ", 1)) for line in (d / "SHA256SUMS").read_text().splitlines())


def _files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- quick


def test_deterministic_tar(tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f.c").write_text("int x;\n")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    a = deterministic_tar(src, tmp_path / "a.tar.gz", "pkg-1", 1700000000)
    os.utime(src / "d" / "f.c", (1, 1))  # mtimes on disk must not matter
    b = deterministic_tar(src, tmp_path / "b.tar.gz", "pkg-1", 1700000000)
    assert a.read_bytes() == b.read_bytes()
    with tarfile.open(a) as tf:
        members = tf.getmembers()
    assert [m.name for m in members] == ["pkg-1", "pkg-1/d", "pkg-1/d/f.c", "pkg-1/run.sh"]
    assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, 1700000000)}
    assert members[-1].mode == 0o755


def test_bad_format_is_one_line(tmp_path):
    p = run_cli("package", "--tree", str(tmp_path), "--format", "dkms,zip")
    assert p.returncode == 2
    # the format is refused first, before the (empty) tree is looked at
    assert "--format 'dkms,zip': choose from dkms, rpm, deb" in error_line(p.stderr)


def test_unbuilt_tree_is_refused(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    p = run_cli("package", "--tree", str(tmp_path), "-o", str(tmp_path / "out"))
    assert p.returncode == 2
    assert "not built (no result.json)" in error_line(p.stderr)


# ---------------------------------------------------------------- real packages


@pytest.fixture(scope="session")
def packages(built_tree_6_1, signing_key, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pk") / "one"
    key, cert = signing_key
    p = run_cli("--json", "package", "--tree", str(built_tree_6_1), "-o", str(out), "--format", "dkms,rpm,deb",
                "--sign-key", str(key), "--sign-cert", str(cert))
    assert p.returncode == 0, p.stderr[-3000:]
    return out


def _one(d: Path, pattern: str) -> Path:
    hits = sorted(d.glob(pattern))
    assert len(hits) == 1, (pattern, hits)
    return hits[0]


@pytest.mark.slow
def test_outputs_and_checksums(packages, built_tree_6_1):
    summary = json.loads((packages / "packages.json").read_text())
    assert summary["version"] == "6.12.117-1" or summary["version"].endswith("-1")
    assert summary["signed"] is True and summary["signer"] == "ofedtool throwaway test key"
    assert (packages / "manifest.json").read_bytes() == (built_tree_6_1 / "manifest.json").read_bytes()
    sums = _sums(packages)
    for name, digest in sums.items():
        assert hashlib.sha256((packages / name).read_bytes()).hexdigest() == digest, name
    assert {"dkms", "rpm", "deb"} <= set(summary["packages"])


@pytest.mark.slow
def test_rpm_metadata_and_scratch_install(packages, tmp_path):
    rpm = _one(packages, "kmod-ofed-rdma-*.x86_64.rpm")
    _one(packages, "ofed-rdma-*.src.rpm")
    kver = json.loads((packages / "packages.json").read_text())["kernel"]
    modules = json.loads((packages / "packages.json").read_text())["modules"]
    provides = _sh("rpm", "-qp", "--provides", str(rpm)).stdout.splitlines()
    for m in modules:
        assert any(line.startswith(f"kmod({m}.ko) = ") for line in provides), m
    assert any(line.startswith("ofed-rdma-kmod = ") for line in provides)
    requires = _sh("rpm", "-qp", "--requires", str(rpm)).stdout.splitlines()
    assert f"kernel-uname-r({kver})" in requires  # Debian's release has two '-': see ofedtool/package/rpm.py
    conflicts = _sh("rpm", "-qp", "--conflicts", str(rpm)).stdout.split()
    assert {"mlnx-ofa_kernel", "kmod-mlnx-ofa_kernel"} <= set(conflicts)
    scripts = _sh("rpm", "-qp", "--scripts", str(rpm)).stdout
    assert f"/usr/sbin/depmod -a {kver}" in scripts and "weak-modules" in scripts
    assert "postuninstall scriptlet" in scripts
    root, db = tmp_path / "root", tmp_path / "db"
    _sh("rpm", "-i", "--root", str(root), "--dbpath", str(db), "--nodeps", "--noscripts", str(rpm))
    moddir = root / "lib" / "modules" / kver / "updates" / "ofed-rdma"
    assert sorted(p.name for p in moddir.iterdir()) == sorted(f"{m}.ko" for m in modules)
    conf = (root / "etc" / "depmod.d" / "ofed-rdma.conf").read_text().splitlines()
    assert sorted(ln for ln in conf if ln.startswith("override ")) == sorted(
        f"override {m} {kver} updates/ofed-rdma" for m in modules)
    # installed modules are the signed, stripped copies: vermagic of the target, signature at the end
    ko = moddir / "ib_core.ko"
    assert ko.read_bytes().endswith(SIG_MAGIC)
    assert _sh("modinfo", "-F", "vermagic", str(ko)).stdout.startswith(kver + " ")
    assert _sh("modinfo", "-F", "signer", str(ko)).stdout.strip() == "ofedtool throwaway test key"
    lint = _sh("rpmlint", "-r", str(data_dir("recipes") / "rpmlintrc"),
               *map(str, packages.glob("*.rpm")), str(_one(packages, "*.spec")), check=False)
    assert " 0 errors, 0 warnings" in lint.stdout, lint.stdout[-3000:]


@pytest.mark.slow
def test_unsigned_says_so(built_tree_6_1, tmp_path):
    p = run_cli("package", "--tree", str(built_tree_6_1), "-o", str(tmp_path / "u"), "--format", "rpm")
    assert p.returncode == 0, p.stderr[-2000:]
    assert "unsigned" in p.stdout
    rpm = _one(tmp_path / "u", "kmod-*.rpm")
    assert "(unsigned)" in _sh("rpm", "-qp", "--qf", "%{SUMMARY}", str(rpm)).stdout
    assert json.loads((tmp_path / "u" / "packages.json").read_text())["signed"] is False


@pytest.mark.slow
def test_reproducible(packages, built_tree_6_1, signing_key, tmp_path):
    """Same inputs twice → the same bytes: tarball, deb, SRPM, RPM (and so its payload digest)."""
    key, cert = signing_key
    again = tmp_path / "two"
    p = run_cli("package", "--tree", str(built_tree_6_1), "-o", str(again), "--format", "dkms,rpm,deb",
                "--sign-key", str(key), "--sign-cert", str(cert))
    assert p.returncode == 0, p.stderr[-2000:]
    assert _sums(packages) == _sums(again)
    digest = lambda d: _sh("rpm", "-qp", "--qf", "%{PAYLOADDIGEST}", str(_one(d, "kmod-*.rpm"))).stdout  # noqa: E731
    assert digest(packages) == digest(again)


@pytest.mark.slow
def test_reproducible_in_any_directory(packages, built_tree_6_1, signing_key, cache, tmp_path):
    """The same inputs built in another directory, at another depth and compiled for real (no
    ccache: the session's tree may have gone through it, with ccache's base_dir rewriting our
    paths) give the same bytes: every .ko (so the same build-ids), then every package and the
    SHA256SUMS over them. No object names the tree or the cache it was built from."""
    key, cert = signing_key
    other = tmp_path / "agent-2" / "workspace" / "ofed-job" / "tree"
    p = run_cli("build", "--kernel", "6.1", "--from", "6.12", "--source", "debian", "--modules", "core,rxe,siw",
                "-o", str(other), "--no-ccache")
    assert p.returncode == 0, p.stderr[-3000:]
    kos = lambda d: {k.relative_to(d).as_posix(): k.read_bytes() for k in sorted(d.rglob("*.ko"))}  # noqa: E731
    a, b = kos(built_tree_6_1), kos(other)
    assert len(a) >= 9 and a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    for name, data in b.items():
        for path in (str(other), str(built_tree_6_1), str(cache.root)):
            assert path.encode() not in data, (name, path)
    again = tmp_path / "pk"
    p = run_cli("package", "--tree", str(other), "-o", str(again), "--format", "dkms,rpm,deb",
                "--sign-key", str(key), "--sign-cert", str(cert))
    assert p.returncode == 0, p.stderr[-2000:]
    assert _sums(packages) == _sums(again)


@pytest.mark.slow
def test_deb_content_is_the_dkms_tree(packages, tmp_path):
    deb = _one(packages, "ofed-rdma-dkms_*_all.deb")
    fields = _sh("dpkg-deb", "-f", str(deb), "Package", "Depends", "Architecture").stdout
    assert "Package: ofed-rdma-dkms" in fields and "Depends: dkms" in fields and "Architecture: all" in fields
    control = tmp_path / "control"
    _sh("dpkg-deb", "-e", str(deb), str(control))
    assert "dkms add -m" in (control / "postinst").read_text()
    assert "dkms remove -m" in (control / "prerm").read_text()
    _sh("dpkg-deb", "-x", str(deb), str(tmp_path / "x"))
    (tmp_path / "t").mkdir()
    with tarfile.open(_one(packages, "*.dkms.tar.gz")) as tf:
        tf.extractall(tmp_path / "t", filter="data")
    [top] = list((tmp_path / "t").iterdir())
    assert _files(tmp_path / "x" / "usr" / "src" / top.name) == _files(top)
    assert (top / "dkms.conf").is_file() and (top / "probekit" / "probe.sh").is_file()


@pytest.mark.slow
def test_probe_kit_writes_the_builds_own_config_h(packages, built_tree_6_1, build_tree_6_1, tmp_path):
    """On the tree's own kernel, the DKMS probe kit (real sh, real kbuild) answers every probe as
    the build's engine did: the node's compat/config.h is the tree's, byte for byte. (Header
    probes compiled alone once said no for headers that are not self-contained, such as
    linux/randomize_kstack.h and trace/misc/rdma.h.)"""
    from ofedtool.fetch.kbuild import kernel_release
    with tarfile.open(_one(packages, "*.dkms.tar.gz")) as tf:
        tf.extractall(tmp_path, filter="data")
    [top] = list(tmp_path.iterdir())
    _sh("sh", "probekit/probe.sh", kernel_release(build_tree_6_1), str(build_tree_6_1), cwd=top)
    assert (top / "compat/config.h").read_text() == (built_tree_6_1 / "compat/config.h").read_text()


@pytest.mark.slow
def test_probe_kit_refuses_a_kernel_the_smpl_does_not_fit(built_tree_6_1, build_tree_6_12, tmp_path):
    """Without the release's variants (--no-variants), 6.12 is refused: it has the const class
    API whose consts the 6.1 tree's baked SmPL removed."""
    p = run_cli("package", "--tree", str(built_tree_6_1), "-o", str(tmp_path / "pk"), "--format", "dkms", "--no-variants")
    assert p.returncode == 0, p.stderr[-2000:]
    with tarfile.open(_one(tmp_path / "pk", "*.dkms.tar.gz")) as tf:
        tf.extractall(tmp_path / "x", filter="data")
    [top] = list((tmp_path / "x").iterdir())
    assert not (top / "variants").exists()
    from ofedtool.fetch.kbuild import kernel_release
    kver = kernel_release(build_tree_6_12)  # bookworm-security's: a kernel of the package's release
    p = _sh("sh", "probekit/probe.sh", kver, str(build_tree_6_12), cwd=top, check=False)
    assert p.returncode == 1
    assert "this package was generated for kernels where HAVE_" in p.stderr
    assert f"kernel {kver} has it" in p.stderr and "regenerate with ofedtool" in p.stderr


@pytest.mark.slow
def test_probe_kit_on_6_12_builds_the_6_12_tree(packages, built_tree_6_1, build_tree_6_12, tmp_path):
    """The Debian 12 package on bookworm-security's 6.12 (issue 16 item 4): the kit puts in place
    the variant generated for 6.12 and writes 6.12's own config.h, so the node's tree is, file
    for file, the tree `ofedtool generate` writes for 6.12 from the same X."""
    from ofedtool.fetch.kbuild import kernel_release
    from ofedtool.package.common import source_files
    m = json.loads((built_tree_6_1 / "manifest.json").read_text())
    ref = tmp_path / "g612"
    p = run_cli("generate", "--kernel", "debian-12-6.12", "--from", m["source"]["version"], "--source", "debian",
                "--modules", ",".join(x["name"] for x in m["modules"]), "-o", str(ref))
    assert p.returncode == 0, p.stderr[-2000:]
    with tarfile.open(_one(packages, "*.dkms.tar.gz")) as tf:
        tf.extractall(tmp_path / "x", filter="data")
    [top] = list((tmp_path / "x").iterdir())
    assert sorted(p.name for p in (top / "variants").iterdir()) == ["debian-12-6.12", "touched.list"]
    kver = kernel_release(build_tree_6_12)
    p = _sh("sh", "probekit/probe.sh", kver, str(build_tree_6_12), cwd=top)
    assert "building variant debian-12-6.12" in p.stdout
    assert (top / "compat/config.h").read_text() == (ref / "compat/config.h").read_text()
    node = {r for r in source_files(top) if not r.startswith(("probekit/", "variants/"))} - {"dkms.conf"}
    assert node == set(source_files(ref))
    differ = [r for r in node if r != "manifest.json" and (top / r).read_bytes() != (ref / r).read_bytes()]
    assert not differ, differ


@pytest.mark.slow
@pytest.mark.network
def test_one_dkms_package_builds_on_6_1_and_6_12_and_loads_on_each(built_tree_6_1, built_tree_6_12, build_tree_6_1,
                                                                    build_tree_6_12, tmp_path):
    """Issue 16 item 4: one Debian 12 DKMS tarball, real `dkms build` against the cache's 6.1.0-57
    and bookworm-security 6.12 headers (--kernelsourcedir; neither kernel need be installed),
    and what dkms built boots in vmtest on each kernel: the tree handed to vmtest is the
    ofedtool build of that kernel with its .ko files replaced by dkms's, whose build-ids the
    guest checks against the loaded modules. On 6.1 (installed on the host; CI installs
    linux-headers-<abi>-amd64) `dkms install` puts ours under updates/. Real dkms needs root:
    it writes /usr/src, /var/lib/dkms and /lib/modules; the package has a name of its own and
    is removed at the end."""
    from ofedtool.fetch.kbuild import kernel_release
    from ofedtool.kmod import build_id
    name = f"ofedtool-var-{os.getpid()}"
    p = run_cli("package", "--tree", str(built_tree_6_1), "-o", str(tmp_path / "pk"), "--format", "dkms", "--name", name)
    assert p.returncode == 0, p.stderr[-2000:]
    tarball = _one(tmp_path / "pk", f"{name}-*.dkms.tar.gz")
    version = tarball.name[len(name) + 1: -len(".dkms.tar.gz")]
    with tarfile.open(tarball) as tf:
        tf.extractall(tmp_path / "src", filter="data")
    dkms = shutil.which("dkms") or "/usr/sbin/dkms"
    try:
        _sh(dkms, "add", str(tmp_path / "src" / f"{name}-{version}"))
        for kdir, tree, tree_of in ((build_tree_6_1, built_tree_6_1, "the reference tree"),
                                    (build_tree_6_12, built_tree_6_12, "variant debian-12-6.12")):
            kver = kernel_release(kdir)
            _sh(dkms, "build", "-m", name, "-v", version, "-k", kver, "--kernelsourcedir", str(kdir))
            log = Path(f"/var/lib/dkms/{name}/{version}/{kver}/x86_64/log/make.log").read_text()
            assert f"{name}: probes for {kver}: " in log and f"; building {tree_of}" in log, log[-2000:]
            if kdir == build_tree_6_1:
                assert Path(f"/lib/modules/{kver}/build/Makefile").is_file(), \
                    f"install linux-headers-{kver} (CI does) for the real dkms install"
                _sh(dkms, "install", "-m", name, "-v", version, "-k", kver)
                status = _sh(dkms, "status", "-m", name, "-v", version, "-k", kver).stdout
                assert f"{name}/{version}, {kver}, x86_64: installed" in status, status
                ko = _sh("find", f"/lib/modules/{kver}/updates", "-name", "ib_core.ko*", "-path", "*dkms*").stdout.split()
                assert ko and _sh("modinfo", "-F", "vermagic", ko[0]).stdout.startswith(kver + " ")
            built = {k.name.split(".")[0]: k for k in Path(f"/var/lib/dkms/{name}/{version}/{kver}/x86_64/module").iterdir()}
            mine = shutil.copytree(tree, tmp_path / f"tree-{kver}", symlinks=True)
            kos = json.loads((mine / "result.json").read_text())["build"]["modules"]
            assert sorted(built) == sorted(m["name"] for m in kos if m.get("ko")), (sorted(built), kos)
            for m in kos:
                if m.get("ko"):
                    ko = mine / Path(m["ko"]).relative_to(tree)
                    # dkms strips and signs, the code is the same: the 6.12 variant of the 6.1 package
                    # compiles to the very objects of ofedtool's own 6.12 build (measured: all 9)
                    assert build_id(built[m["name"]]) == build_id(ko), (kver, m["name"])
                    shutil.copyfile(built[m["name"]], ko)
                    assert _sh("modinfo", "-F", "vermagic", str(ko)).stdout.startswith(kver + " ")
            series = "6.1" if kdir == build_tree_6_1 else "6.12"
            p = run_cli("--json", "vmtest", "--kernel", series, "--from", "6.12", "--source", "debian",
                        "--tree", str(mine), "-o", str(tmp_path / f"vm-{kver}"), "--timeout", "400")
            assert p.returncode == 0, (kver, p.stderr[-3000:])
            assert json.loads((tmp_path / f"vm-{kver}" / "result.json").read_text())["ok"]
    finally:
        subprocess.run([dkms, "remove", "-m", name, "-v", version, "--all"], capture_output=True)
        shutil.rmtree(f"/usr/src/{name}-{version}", ignore_errors=True)
        shutil.rmtree(f"/var/lib/dkms/{name}", ignore_errors=True)
    assert name not in _sh(dkms, "status").stdout


# ---------------------------------------------------------------- package lint (issue 17)


def _lintian(deb: Path) -> str:
    assert shutil.which("lintian"), "lintian is not installed: run scripts/bootstrap"
    p = _sh("lintian", "--fail-on", "error,warning", str(deb), check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def _core_only_deb(tmp_path: Path, env: dict) -> Path:
    """A .deb of a made-up core-only tree (the DKMS tree is a few files): what deb.build writes
    around it (control, doc, overrides) is the real thing."""
    from ofedtool.package import deb
    from ofedtool.package.common import Module, Package, Tree
    mods = [("ib_core", "core"), ("ib_cm", "core"), ("rdma_cm", "core"), ("ib_uverbs", "core")]
    tree = tmp_path / "tree"
    (tree / "drivers/infiniband/core").mkdir(parents=True)
    (tree / "drivers/infiniband/core/cq.c").write_text("/* Copyright (c) 2017 Mellanox */\n")
    from ofedtool.tree import Manifest
    real = json.loads((Path(__file__).parent / "data" / "tree-6.1" / "manifest.json").read_text())
    real["modules"] = [{"name": n, "class": c, "dir": "drivers/infiniband/core", "rule": "upstream"} for n, c in mods]
    manifest = Manifest.from_dict(real)
    t = Tree(tree, manifest, None, [Module(n, "drivers/infiniband/core", tree / "x.ko") for n, _ in mods])
    pkg = Package(tree=t, name="ofed-rdma", counter=1, epoch=1700000000, epoch_from="test", module_dir="",
                  kernel_dir=None)
    dkms = tmp_path / "dkms"
    (dkms / "drivers/infiniband/core").mkdir(parents=True)
    (dkms / "dkms.conf").write_text('PACKAGE_NAME="ofed-rdma"\n')
    (dkms / "drivers/infiniband/core/cq.c").write_text("int x;\n")
    old = {k: os.environ.pop(k, None) for k in ("OFEDTOOL_PACKAGER", "DEBFULLNAME", "DEBEMAIL")}
    os.environ.update(env)
    try:
        return deb.build(pkg, tmp_path / "out", tmp_path / "work", dkms).deb
    finally:
        for k in ("OFEDTOOL_PACKAGER", "DEBFULLNAME", "DEBEMAIL"):
            os.environ.pop(k, None)
        os.environ.update({k: v for k, v in old.items() if v is not None})


def test_deb_is_lintian_clean_and_describes_its_own_modules(tmp_path):
    deb = _core_only_deb(tmp_path / "a", {"OFEDTOOL_PACKAGER": "Jane Admin <jane@rdma.example.com>"})
    _lintian(deb)
    control = _sh("dpkg-deb", "-f", str(deb), "Description", "Maintainer").stdout
    assert "Jane Admin <jane@rdma.example.com>" in control
    assert "ib_core, ib_cm, rdma_cm, ib_uverbs" in control.replace("\n ", " ")
    assert "rdma_rxe" not in control and "siw" not in control
    assert all(len(line) <= 80 for line in control.splitlines())
    files = _sh("dpkg-deb", "-c", str(deb)).stdout
    for f in ("usr/share/doc/ofed-rdma-dkms/copyright", "usr/share/doc/ofed-rdma-dkms/changelog.Debian.gz",
              "usr/src/ofed-rdma-6.12.117-1/dkms.conf"):
        assert f"./{f}" in files, f
    _sh("dpkg-deb", "-x", str(deb), str(tmp_path / "x"))
    overrides = (tmp_path / "x/usr/share/lintian/overrides/ofed-rdma-dkms").read_text()
    assert "bogus-mail-host" not in overrides  # a real packager: nothing to excuse


def test_deb_without_a_packager_says_why_in_its_overrides(tmp_path):
    """No packager named: the placeholder address is the one tag left, overridden with why."""
    deb = _core_only_deb(tmp_path, {"DEBFULLNAME": "", "DEBEMAIL": ""})
    _lintian(deb)
    _sh("dpkg-deb", "-x", str(deb), str(tmp_path / "x"))
    overrides = (tmp_path / "x/usr/share/lintian/overrides/ofed-rdma-dkms").read_text()
    assert "ofed-rdma-dkms: bogus-mail-host Maintainer ofedtool@localhost" in overrides
    assert "OFEDTOOL_PACKAGER" in overrides  # the why, and how to drop it
    named = _core_only_deb(tmp_path / "d", {"DEBFULLNAME": "Deb Packager", "DEBEMAIL": "deb@rdma.example.com"})
    assert "Deb Packager <deb@rdma.example.com>" in _sh("dpkg-deb", "-f", str(named), "Maintainer").stdout


@pytest.mark.slow
def test_every_package_is_lint_clean(packages, tmp_path):
    """lintian on the .deb, rpmlint on the directory and on each RPM or spec alone (the
    <name>.rpmlintrc beside them is loaded by itself): no error, no warning. The shipped modules
    are stripped of debug info and signed after it (the signature is the file's end)."""
    debs = sorted(packages.glob("*.deb"))
    assert [d.name.split("_")[0] for d in debs] == [f"ofed-rdma-dev-{_kver(packages)}", "ofed-rdma-dkms",
                                                   f"ofed-rdma-modules-{_kver(packages)}"]
    for deb in debs:
        _lintian(deb)
    assert (packages / "ofed-rdma.rpmlintrc").is_file()
    for target in [packages, *packages.glob("*.rpm"), _one(packages, "*.spec")]:
        lint = _sh("rpmlint", str(target), check=False)
        assert " 0 errors, 0 warnings" in lint.stdout, (target, lint.stdout[-3000:])
    rpm = _one(packages, "kmod-ofed-rdma-*.x86_64.rpm")
    assert "rm " not in _sh("rpm", "-qp", "--scripts", str(rpm)).stdout
    root = tmp_path / "root"
    _sh("rpm", "-i", "--root", str(root), "--dbpath", str(tmp_path / "db"), "--nodeps", "--noscripts", str(rpm))
    for ko in root.rglob("*.ko"):
        assert ko.read_bytes().endswith(SIG_MAGIC), ko.name
        sections = _sh("readelf", "-S", "-W", str(ko)).stdout
        assert ".debug_info" not in sections and ".symtab" in sections, ko.name


# ---------------------------------------------------------------- -modules and -dev/-devel (issue 16)


def _kver(packages: Path) -> str:
    return json.loads((packages / "packages.json").read_text())["kernel"]


@pytest.mark.slow
def test_modules_deb_is_the_kmod_rpms_modules_and_runs_depmod(packages, tmp_path):
    """<name>-modules-<kver>: the same shipped (stripped, signed) modules as the kmod RPM, the
    depmod.d override, and maintainer scripts that index that kernel and refresh its initramfs
    only where the tool and the image exist (real sh, the tools recorded by PATH)."""
    kver = _kver(packages)
    deb = _one(packages, f"ofed-rdma-modules-{kver}_*_amd64.deb")
    fields = _sh("dpkg-deb", "-f", str(deb), "Package", "Depends", "Conflicts").stdout
    assert f"Depends: linux-image-{kver} | linux-image-{kver}-unsigned" in fields
    assert "ofed-rdma-dkms" in fields  # one or the other installs our modules, not both
    _sh("dpkg-deb", "-x", str(deb), str(tmp_path / "x"))
    root = tmp_path / "rpm"
    _sh("rpm", "-i", "--root", str(root), "--dbpath", str(tmp_path / "db"), "--nodeps", "--noscripts",
        str(_one(packages, "kmod-ofed-rdma-*.x86_64.rpm")))
    assert _files(tmp_path / "x" / "lib") == _files(root / "lib")
    assert (tmp_path / "x/etc/depmod.d/ofed-rdma.conf").read_text().count(f"override ib_core {kver} ") == 1
    control = tmp_path / "control"
    _sh("dpkg-deb", "-e", str(deb), str(control))
    assert (control / "conffiles").read_text() == "/etc/depmod.d/ofed-rdma.conf\n"
    tools = tmp_path / "bin"
    tools.mkdir()
    calls = tmp_path / "calls"
    for tool in ("depmod", "update-initramfs"):
        (tools / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {calls}\n')
        (tools / tool).chmod(0o755)
    env = {"PATH": f"{tools}:/usr/bin:/bin"}
    _sh("/bin/sh", str(control / "postinst"), "configure", env=env)
    assert calls.read_text().splitlines()[0] == f"depmod -a {kver}"
    boot_image = Path(f"/boot/initrd.img-{kver}").exists()
    assert (f"update-initramfs -u -k {kver}" in calls.read_text()) == boot_image
    # without the tools (a minimal chroot) the scripts still succeed
    _sh("/bin/sh", str(control / "postinst"), "configure", env={"PATH": str(tmp_path / "none")})
    _sh("/bin/sh", str(control / "postrm"), "remove", env={"PATH": str(tmp_path / "none")})


def _source_file(cache, target_id: str, headers_version: str, member: str, dest: Path) -> Path:
    """One file of the target's own linux-source (the upload its headers came from)."""
    from ofedtool.catalog import load_targets
    from ofedtool.fetch.sources.debian import target_source_package
    target = next(t for t in load_targets() if t.id == target_id)
    apt, pkg, version = target_source_package(cache, target, headers_version)
    deb = apt.download(pkg, version).path
    with open(dest, "wb") as f:
        p = subprocess.run(["sh", "-c", 'dpkg-deb --fsys-tarfile "$1" | tar -xO --wildcards "./usr/src/*.tar.xz" '
                            '| tar -xJO --wildcards "*/$2"', "sh", str(deb), member], stdout=f, stderr=subprocess.PIPE)
    assert p.returncode == 0 and dest.stat().st_size > 0, p.stderr
    return dest


@pytest.mark.slow
def test_dev_deb_builds_the_targets_own_9pnet_rdma(packages, built_tree_6_1, build_tree_6_1, cache, tmp_path):
    """What a third party does with the -dev .deb, unpacked into a scratch root: Debian 12's own
    9pnet_rdma (net/9p/trans_rdma.c of its linux-source) compiles out of tree with only
    -I<dir>/include ahead of the kernel's includes and KBUILD_EXTRA_SYMBOLS=<dir>/Module.symvers,
    nothing forced in; no header of the kernel's include/rdma is read, modpost leaves nothing
    undefined, and every RDMA import carries our export's CRC and binds to our modules."""
    from ofedtool.fetch.kbuild import inspect_tree
    manifest = json.loads((built_tree_6_1 / "manifest.json").read_text())
    hv = next(p["version"] for p in manifest["target"]["packages"] if p["package"].startswith("linux-headers-"))
    root = tmp_path / "root"
    dev = _one(packages, f"ofed-rdma-dev-{manifest['target']['release']}_*_amd64.deb")
    _sh("dpkg-deb", "-x", str(dev), str(root))
    # `default` is the alternative the postinst installs (two kernels' -dev side by side), not a file
    ofa = root / f"usr/src/ofa_kernel/x86_64/{manifest['target']['release']}"
    assert not (root / "usr/src/ofa_kernel/default").exists()
    ctl = tmp_path / "control"
    _sh("dpkg-deb", "-e", str(dev), str(ctl))
    assert (f"update-alternatives --install /usr/src/ofa_kernel/default ofa_kernel-default "
            f"/usr/src/ofa_kernel/x86_64/{manifest['target']['release']} ") in (ctl / "postinst").read_text()
    mod = tmp_path / "p9"
    mod.mkdir()
    _source_file(cache, manifest["target"]["id"], hv, "net/9p/trans_rdma.c", mod / "trans_rdma.c")
    (mod / "Kbuild").write_text("obj-m := 9pnet_rdma.o\n9pnet_rdma-y := trans_rdma.o\n"
                                "NOSTDINC_FLAGS += -I$(OFA)/include\n")
    kt = inspect_tree(build_tree_6_1)
    p = _sh("make", "-C", str(build_tree_6_1), f"M={mod}", f"OFA={ofa}",
            f"KBUILD_EXTRA_SYMBOLS={ofa}/Module.symvers", *kt.make_vars(), "modules")
    assert "undefined!" not in p.stdout + p.stderr and "WARNING: modpost" not in p.stderr, p.stderr[-3000:]
    deps = (mod / ".trans_rdma.o.cmd").read_text().split()
    rdma = [d for d in deps if "/rdma/" in d]
    assert rdma and all(d.startswith(str(ofa)) for d in rdma), [d for d in rdma if not d.startswith(str(ofa))]
    ours = {}
    for line in (ofa / "Module.symvers").read_text().splitlines():
        crc, sym, module = line.split("\t")[:3]
        ours[sym] = (int(crc, 16), module.rsplit("/", 1)[-1])
    modprobe = shutil.which("modprobe") or "/sbin/modprobe"
    imports = {}
    for line in _sh(modprobe, "--dump-modversions", str(mod / "9pnet_rdma.ko")).stdout.splitlines():
        crc, sym = line.split()
        imports[sym] = int(crc, 16)
    bound = {s: ours[s] for s in imports if s in ours}
    assert len(bound) >= 10, bound  # ib_alloc_cq, rdma_create_id, rdma_connect, ...
    assert {s: c for s, (c, _) in bound.items()} == {s: imports[s] for s in bound}
    depends = _sh("modinfo", "-F", "depends", str(mod / "9pnet_rdma.ko")).stdout.strip().split(",")
    assert {"ib_core", "rdma_cm"} <= set(depends) and {m for _, m in bound.values()} <= set(depends)
    # ...and it loads on our core in the target's real kernel: beside ours under updates/, after
    # its dependencies (the distro's 9pnet, our rdma_cm), checked by build-id, unloaded again,
    # with no version disagreement or warning in dmesg.
    vm = tmp_path / "vm"
    p = run_cli("--json", "vmtest", "--kernel", "6.1", "--from", "6.12", "--source", "debian",
                "--tree", str(built_tree_6_1), "-o", str(vm), "--extra-module", str(mod / "9pnet_rdma.ko"))
    assert p.returncode == 0, p.stderr[-3000:]
    record = json.loads((vm / "result.json").read_text())
    assert "updates/ofed/9pnet_rdma.ko" in record["initramfs"]["all_load"]
    assert "9pnet_rdma" in record["initramfs"]["ours"]
    steps = {s["step"]: s for s in record["steps"]}
    assert steps["load_all_ours"]["status"] == "PASS" and steps["dmesg"]["status"] == "PASS"


@pytest.mark.slow
def test_devel_rpm_holds_the_same_tree_as_the_dev_deb(packages, tmp_path):
    deb, rpm = tmp_path / "deb", tmp_path / "rpm"
    _sh("dpkg-deb", "-x", str(_one(packages, f"ofed-rdma-dev-{_kver(packages)}_*_amd64.deb")), str(deb))
    _sh("rpm", "-i", "--root", str(rpm), "--dbpath", str(tmp_path / "db"), "--nodeps", "--noscripts",
        str(_one(packages, "ofed-rdma-devel-*.x86_64.rpm")))
    assert _files(deb / "usr/src") == _files(rpm / "usr/src")
    assert (rpm / "usr/src/ofa_kernel/default").is_symlink()
