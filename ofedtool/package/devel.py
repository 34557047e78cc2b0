"""The -devel content: what a third-party module (Lustre's o2iblnd, BeeGFS, DRBD, nvidia-peermem)
compiles and links against, at /usr/src/ofa_kernel/<arch>/<kver>/ with a `default` link beside
<arch>, where MLNX_OFED puts its own and those projects' build systems look.

    <dir>/Module.symvers      our exports, each module named under <dir>, not the build dir
    <dir>/include/            one include directory, self-sufficient:
        rdma/, trace/         X's headers; uapi/rdma/ X's uapi, also reachable as <rdma/NAME>
        linux/, net/, ...     the compat headers (#include_next onto the kernel's own)
    <dir>/compat/             compat.h and config.h: the HAVE_* of the kernel it was built for

A consumer adds `-I<dir>/include` ahead of the kernel's includes (NOSTDINC_FLAGS, as our own Kbuild
does) and KBUILD_EXTRA_SYMBOLS=<dir>/Module.symvers, and forces nothing in: every installed
header begins by including ../compat/compat.h by a relative path, so it sees the config.h our
modules were compiled with. Where a compat header wraps one of X's own (rdma/ib_verbs.h), the
wrapper takes X's name and X's file moves under <dir>/upstream/include/, which it includes by
relative path: an #include_next from the single include directory would reach the kernel's.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from .. import ui
from ..errors import OfedError
from .common import Package

ROOT = "usr/src/ofa_kernel"
UNAME_M = {"amd64": "x86_64", "arm64": "aarch64", "ppc64el": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
_MARK = "/* ofedtool -devel: the HAVE_* this header was built with, no -include needed */\n"


def devel_dir(arch: str | None, kver: str) -> str:
    """/usr/src/ofa_kernel/<uname -m>/<kver>, without the leading slash."""
    return f"{ROOT}/{UNAME_M.get(arch or 'amd64', arch or 'x86_64')}/{kver}"


def stage(pkg: Package, root: Path, arch: str | None, link: bool = True) -> Path:
    """Write the -devel files under root (a package's staged /); returns <dir>. link: ship the
    `default` link too (the RPM); the per-kernel -dev .debs, installable side by side, leave it
    to update-alternatives (default_priority)."""
    tree = pkg.tree.path
    rel = devel_dir(arch, pkg.tree.release)
    dest = root / rel
    shutil.rmtree(dest, ignore_errors=True)
    inc = dest / "include"
    for f in _headers(tree / "include"):
        _install(tree / "include" / f, inc / f, inc)
    uapi = tree / "include" / "uapi"
    for f in _headers(uapi):
        # kbuild puts include/uapi on the path too: <rdma/ib_user_verbs.h> is X's uapi file
        if not (inc / f).exists():
            (inc / f).parent.mkdir(parents=True, exist_ok=True)
            (inc / f).write_text(f"{_MARK}#include <uapi/{f}>\n")
    compat_inc = tree / "compat" / "include"
    for f in _headers(compat_inc):
        src, dst = compat_inc / f, inc / f
        if dst.exists():
            _wrap_upstream(src, dst, dest, f, inc)
        else:
            _install(src, dst, inc)
    (dest / "compat").mkdir(parents=True)
    for name in ("compat.h", "config.h"):
        if (tree / "compat" / name).is_file():
            shutil.copyfile(tree / "compat" / name, dest / "compat" / name)
    if (tree / "Module.symvers").is_file():
        (dest / "Module.symvers").write_text(module_symvers(tree, "/" + rel))
    else:
        ui.warn(f"-devel: {tree}/Module.symvers is missing: the package has no symbol versions to bind to")
    if link:
        (root / ROOT / "default").parent.mkdir(parents=True, exist_ok=True)
        os.symlink(Path(rel).relative_to(ROOT), root / ROOT / "default")
    return dest


# update-alternatives' group for /usr/src/ofa_kernel/default: one for every package name and
# kernel, since the link is one path (MLNX_OFED's own tree lives there too)
ALTERNATIVE = "ofa_kernel-default"


def default_priority(kver: str) -> int:
    """The alternatives priority of a kernel's -dev: newer kernels higher (6.12.117+deb12 over
    6.1.0-57), so `default` is the newest installed kernel's unless the admin sets it. Within
    update-alternatives' int range: major * 10^8 + minor * 10^6 + patch * 10^3 + Debian ABI."""
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?(?:-(\d+))?", kver)
    if not m:
        return 0
    major, minor, patch, abi = (int(x or 0) for x in m.groups())
    return major * 10**8 + min(minor, 99) * 10**6 + min(patch, 999) * 10**3 + min(abi, 999)


def _headers(d: Path) -> list[str]:
    if not d.is_dir():
        return []
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*.h") if p.is_file())


def _prologue(dst: Path, inc: Path) -> str:
    up = os.path.relpath(inc.parent / "compat" / "compat.h", dst.parent)
    return f'{_MARK}#include "{up}"\n'


def _install(src: Path, dst: Path, inc: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    text = src.read_text()
    # uapi headers are X's userspace interface: no kernel compat in them
    is_uapi = dst.relative_to(inc).parts[0] == "uapi"
    dst.write_text(text if is_uapi else _prologue(dst, inc) + text)


def _wrap_upstream(wrapper: Path, dst: Path, dest: Path, name: str, inc: Path) -> None:
    """X's dst moves to upstream/include/<name>; the compat wrapper takes its place, its
    `#include_next <name>` turned into an include of the moved file by relative path."""
    moved = dest / "upstream" / "include" / name
    moved.parent.mkdir(parents=True, exist_ok=True)
    body = dst.read_text().split("\n", 2)[2]  # _install's prologue, relative to where it was
    moved.write_text(_prologue(moved, inc) + body)
    dst.unlink()
    text = wrapper.read_text()
    line = re.compile(rf"^#\s*include_next\s*<{re.escape(name)}>", re.M)
    if len(line.findall(text)) != 1:
        raise OfedError(f"compat/include/{name}: wraps include/{name} but has no single #include_next <{name}>")
    text = line.sub(f'#include "{os.path.relpath(moved, dst.parent)}"', text)
    dst.write_text(_prologue(dst, inc) + text)


def module_symvers(tree: Path, prefix: str) -> str:
    """The tree's Module.symvers with each module named under prefix instead of the tree
    (/usr/src/ofa_kernel/x86_64/<kver>/drivers/infiniband/core/ib_core): the build directory is
    no part of what a consumer binds to. Not the kernel's relative name: modpost takes an equal
    name for the same module and fails every symbol as "exported twice"."""
    path = tree / "Module.symvers"
    if not path.is_file():
        raise OfedError(f"{path}: missing: the tree's build wrote no Module.symvers")
    top = str(tree.resolve()) + "/"
    rows = []
    for line in path.read_text().splitlines():
        cols = line.split("\t")
        if len(cols) >= 3 and cols[2].startswith(top):
            cols[2] = f"{prefix}/{cols[2][len(top):]}"
        rows.append("\t".join(cols))
    return "\n".join(rows) + "\n"
