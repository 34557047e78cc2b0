"""A target's own toolchain: relocation of unpacked executables, and Debian 13's gcc-14 building a
module on this (Debian 12) host."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ofedtool.errors import OfedError
from ofedtool.fetch.relocate import interpreter, relocate, resolve_in

TRIVIAL = """#include <linux/module.h>
#include <linux/slab.h>
static int __init triv_init(void) { kfree(kmalloc(8, GFP_KERNEL)); return 0; }
module_init(triv_init);
MODULE_LICENSE("GPL");
"""

HOST_LD_SO = Path(os.path.realpath("/lib64/ld-linux-x86-64.so.2"))


def _mini_root(tmp_path: Path, with_libc: bool = True) -> Path:
    """A tree shaped like unpacked Debian packages: usr/bin/true, its libc and ld.so under
    usr/lib/<multiarch>, and the /lib64 loader link as an absolute symlink (which must be read
    inside the tree, not on the host)."""
    root = tmp_path / "root"
    libdir = root / "usr/lib/x86_64-linux-gnu"
    libdir.mkdir(parents=True)
    (root / "usr/bin").mkdir()
    shutil.copy2(shutil.which("true"), root / "usr/bin/true")
    shutil.copy2(HOST_LD_SO, libdir / "ld-linux-x86-64.so.2")
    if with_libc:
        shutil.copy2(os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6"), libdir / "libc.so.6")
    (root / "usr/lib64").mkdir()
    (root / "usr/lib64/ld-linux-x86-64.so.2").symlink_to("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    return root


needs_x86_64 = pytest.mark.skipif(not HOST_LD_SO.exists() or not shutil.which("patchelf"),
                                  reason="needs an x86_64 glibc host with patchelf (scripts/bootstrap)")


def test_interpreter_and_resolve_in(tmp_path):
    assert interpreter(Path(shutil.which("true"))) == "/lib64/ld-linux-x86-64.so.2"
    assert interpreter(Path(__file__)) is None
    root = _mini_root(tmp_path)
    # /lib64 is not in the packages (base-files makes it): it falls through to /usr/lib64,
    # whose absolute symlink is followed inside root.
    assert resolve_in(root, "/lib64/ld-linux-x86-64.so.2") == root / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    with pytest.raises(OfedError, match="not in the unpacked packages"):
        resolve_in(root, "/lib/ld-musl-x86_64.so.1")


@needs_x86_64
def test_relocated_executable_runs_on_its_own_libc(tmp_path):
    root = _mini_root(tmp_path)
    runtime, exes = relocate(root, root)
    assert exes == [root / "usr/bin/true"]
    assert runtime.loader == "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    assert runtime.lib_dirs == ("usr/lib/x86_64-linux-gnu",)
    patched = subprocess.run(["patchelf", "--print-interpreter", str(exes[0])], capture_output=True, text=True).stdout
    assert patched.strip() == str(root / runtime.loader)
    # DT_RPATH, not DT_RUNPATH: it must also serve the libraries' own dependencies.
    dyn = subprocess.run(["readelf", "-d", str(exes[0])], capture_output=True, text=True).stdout
    assert "(RPATH)" in dyn and "(RUNPATH)" not in dyn and "$ORIGIN/../lib/x86_64-linux-gnu" in dyn
    listed = subprocess.run([str(root / runtime.loader), "--list", str(exes[0])], capture_output=True, text=True).stdout
    assert f"libc.so.6 => {root}/usr/bin/../lib/x86_64-linux-gnu/libc.so.6" in listed
    assert subprocess.run([str(exes[0])]).returncode == 0


@needs_x86_64
def test_library_missing_from_the_closure_is_an_error(tmp_path):
    # Without libc in the tree, ld.so would quietly take the host's through /etc/ld.so.cache.
    root = _mini_root(tmp_path, with_libc=False)
    with pytest.raises(OfedError, match=r"libc\.so\.6 resolves to /.*, outside .*a Depends the closure lacks"):
        relocate(root, root)


def _fake_toolchain(tmp_path: Path, major: str, binutils=("as", "ld", "ar", "nm", "objcopy", "objdump",
                                                               "readelf", "strip")):
    from ofedtool.fetch.toolchain import Toolchain
    bin_dir = tmp_path / "tc" / "root" / "usr" / "bin"
    bin_dir.mkdir(parents=True)
    gcc = bin_dir / "x86_64-linux-gnu-gcc-14"
    gcc.write_text(f"#!/bin/sh\necho {major}\n")
    gcc.chmod(0o755)
    for prog in binutils:
        (bin_dir / f"x86_64-linux-gnu-{prog}").write_text("")
    build = tmp_path / "build"
    build.mkdir()
    (build / ".config").write_text('CONFIG_CC_VERSION_TEXT="x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0"\n')
    return Toolchain(tmp_path / "tc", ({"package": "gcc-14", "version": "14.2.0-19"},)), build


def test_declared_toolchain_gives_cc_and_prefixed_binutils(tmp_path):
    from ofedtool.fetch.kbuild import toolchain_programs
    tc, build = _fake_toolchain(tmp_path, "14")
    progs = toolchain_programs(build, tc)
    assert progs["CC"] == str(tc.bin / "x86_64-linux-gnu-gcc-14")
    assert progs["LD"] == str(tc.bin / "x86_64-linux-gnu-ld") and progs["STRIP"] == str(tc.bin / "x86_64-linux-gnu-strip")


def test_declared_toolchain_of_another_major_is_an_error(tmp_path):
    from ofedtool.fetch.kbuild import toolchain_programs
    tc, build = _fake_toolchain(tmp_path, "12")
    with pytest.raises(OfedError, match=r"has gcc 12, but the kernel in .* was built with 'x86_64-linux-gnu-gcc-14"):
        toolchain_programs(build, tc)


def test_declared_toolchain_without_binutils_names_the_program(tmp_path):
    from ofedtool.fetch.kbuild import toolchain_programs
    tc, build = _fake_toolchain(tmp_path, "14", binutils=("as",))
    with pytest.raises(OfedError, match="has no x86_64-linux-gnu-ld"):
        toolchain_programs(build, tc)


@pytest.mark.slow
@pytest.mark.network
def test_debian_13_builds_a_module_with_its_own_gcc_14(cache, tmp_path):
    """Debian 13's kernel was built by gcc-14; this host has gcc-12, which cannot build for it.
    The module must come out of the relocated gcc-14 and binutils 2.44, with BTF from pahole."""
    from ofedtool.fetch.headers import fetch_headers
    from ofedtool.fetch.kbuild import compiler_text, inspect_tree
    _, build = fetch_headers(cache, "debian-13")
    assert build.toolchain is not None, "debian-13.toml declares a [toolchain]"
    tree = inspect_tree(build.build_dir, build.toolchain)
    tc_root = str(build.toolchain.root)
    tools = dict(v.split("=", 1) for v in tree.make_vars())
    assert tools["CC"] == f"{tc_root}/root/usr/bin/x86_64-linux-gnu-gcc-14"
    for var in ("LD", "AR", "NM", "OBJCOPY", "PAHOLE"):
        assert tools[var].startswith(tc_root + "/"), var
    for var in ("objtool", "MODPOST", "RESOLVE_BTFIDS"):
        assert "/kbuild-helpers/" in tools[var] and os.access(tools[var], os.X_OK), var
    # gcc must run the toolchain's assembler, not the host's /usr/bin/as (binutils 2.40).
    as_prog = subprocess.run([tools["CC"], "-print-prog-name=as"], capture_output=True, text=True).stdout.strip()
    assert os.path.realpath(as_prog) == os.path.realpath(f"{tc_root}/root/usr/bin/x86_64-linux-gnu-as")

    (tmp_path / "triv.c").write_text(TRIVIAL)
    (tmp_path / "Kbuild").write_text("obj-m := triv.o\n")
    p = subprocess.run(["make", "-C", str(build.build_dir), f"M={tmp_path}", *tree.make_vars(), "modules"],
                       capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    ko = tmp_path / "triv.ko"
    vermagic = subprocess.run(["modinfo", "-F", "vermagic", str(ko)], capture_output=True, text=True, check=True).stdout
    assert vermagic.split()[0] == build.release and build.release.endswith("+deb13-amd64")
    # Every object in the .ko says which gcc made it: the toolchain's, of the kernel's major.
    comment = subprocess.run(["readelf", "-p", ".comment", str(ko)], capture_output=True, text=True, check=True).stdout
    compilers = {line.split("]", 1)[1].strip() for line in comment.splitlines() if "GCC:" in line}
    version = subprocess.run([tools["CC"], "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    assert version.startswith("x86_64-linux-gnu-gcc-14 (Debian 14."), version
    assert compilers == {"GCC: " + version.split(" ", 1)[1]}, (compilers, version)
    assert compiler_text(build.build_dir).split()[0] == "x86_64-linux-gnu-gcc-14"
    sections = subprocess.run(["readelf", "-S", str(ko)], capture_output=True, text=True, check=True).stdout
    assert ".BTF" in sections
