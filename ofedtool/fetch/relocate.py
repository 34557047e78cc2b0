"""Make a tree of unpacked .debs runnable in place: its executables use its own ld.so and libs.

A Debian 13 gcc unpacked on a Debian 12 host would run under the host's ld.so and libc (2.36),
which are too old for it (it needs GLIBC_2.38). patchelf rewrites each dynamic executable's
interpreter to the unpacked ld.so and its DT_RPATH to the unpacked library dirs. DT_RPATH, not
DT_RUNPATH: the executable's RPATH also serves its libraries' own dependencies (RUNPATH would
serve only its direct ones, and libisl's libgmp would then come from the host).
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..proc import require, run
from ..errors import OfedError

_PT_INTERP = 3
# Runtime shared objects (libfoo.so.1): their dirs go on the RPATH. Unversioned libfoo.so names
# are link-time (-dev) files, and gcc's plugin dir is opened by path, not searched.
_RUNTIME_LIB = re.compile(r"\.so\.\d")
# A library with PT_INTERP (libc.so.6 can be run to print its version) is not an executable to relocate.
_SHARED = re.compile(r"\.so(\.|$)")


def interpreter(path: Path) -> str | None:
    """The PT_INTERP of an ELF file, or None (not ELF, static, a shared library, unreadable)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only
                return None
            end = "<" if head[5] == 1 else ">"
            phoff, = struct.unpack_from(end + "Q", head, 0x20)
            phentsize, phnum = struct.unpack_from(end + "HH", head, 0x36)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
            for i in range(phnum):
                ptype, = struct.unpack_from(end + "I", table, i * phentsize)
                if ptype == _PT_INTERP:
                    offset, = struct.unpack_from(end + "Q", table, i * phentsize + 8)
                    size, = struct.unpack_from(end + "Q", table, i * phentsize + 32)
                    f.seek(offset)
                    return f.read(size).rstrip(b"\0").decode()
    except (OSError, struct.error, UnicodeDecodeError):
        return None
    return None


def _is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def resolve_in(root: Path, path: str) -> Path:
    """`path` as the unpacked tree sees it: absolute symlinks are taken inside root, and /lib,
    /lib64 fall through to /usr (the merged-/usr symlinks come from base-files, not from the
    packages we unpack)."""
    candidates = [path]
    for top in ("/lib/", "/lib64/", "/bin/", "/sbin/"):
        if path.startswith(top):
            candidates.append("/usr" + path)
    for cand in candidates:
        p = Path(root)
        parts = [x for x in cand.split("/") if x]
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                p = p.parent if p != Path(root) else p
                continue
            p = p / part
            if p.is_symlink():
                hops += 1
                if hops > 40:
                    break
                target = os.readlink(p)
                parts = [x for x in target.split("/") if x] + parts
                p = Path(root) if target.startswith("/") else p.parent
        if p.is_file():
            return p
    raise OfedError(f"{root}: {path} is not in the unpacked packages")


@dataclass(frozen=True)
class Runtime:
    """Where a relocated tree's loader and runtime libraries are, relative to its root."""
    loader: str
    lib_dirs: tuple[str, ...]


def _scan(root: Path) -> tuple[list[tuple[Path, str]], list[Path]]:
    """(dynamic executables with their PT_INTERP, dirs holding ELF runtime libraries) under root."""
    exes: list[tuple[Path, str]] = []
    lib_dirs: set[Path] = set()
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                continue
            if _RUNTIME_LIB.search(name):
                if _is_elf(p):  # not gdb's auto-load scripts (libstdc++.so.6.0.33-gdb.py)
                    lib_dirs.add(p.parent)
            elif os.access(p, os.X_OK) and not _SHARED.search(name) and (interp := interpreter(p)):
                exes.append((p, interp))
    return sorted(exes), sorted(lib_dirs)


def relocate(root: Path, final_root: Path) -> tuple[Runtime, list[Path]]:
    """Point every dynamic executable under root at root's ld.so and libraries. The interpreter
    is an absolute path (the kernel reads PT_INTERP before any $ORIGIN exists), so it names
    where root will live (final_root); the RPATH is $ORIGIN-relative and holds in both places.
    Returns the runtime (for relocate_onto) and the relocated files."""
    root = Path(root)
    exes, lib_dirs = _scan(root)
    if not exes:
        raise OfedError(f"{root}: no dynamic executables to relocate")
    loaders = {interp for _, interp in exes}
    if len(loaders) != 1:
        raise OfedError(f"{root}: executables disagree about their interpreter: {', '.join(sorted(loaders))}")
    ld_so = resolve_in(root, loaders.pop())
    for exe, _ in exes:
        _patch(exe, Path(final_root) / ld_so.relative_to(root),
               ":".join("$ORIGIN/" + os.path.relpath(d, exe.parent) for d in lib_dirs))
    check_closed(root, ld_so, [e for e, _ in exes])
    return Runtime(str(ld_so.relative_to(root)), tuple(str(d.relative_to(root)) for d in lib_dirs)), [e for e, _ in exes]


def relocate_onto(root: Path, runtime_root: Path, runtime: Runtime) -> list[Path]:
    """Point every dynamic executable under root at another tree's loader and libraries (a
    relocated toolchain already in its final place): absolute paths, as both trees stay put."""
    exes, _ = _scan(Path(root))
    ld_so = Path(runtime_root) / runtime.loader
    rpath = ":".join(str(Path(runtime_root) / d) for d in runtime.lib_dirs)
    for exe, _ in exes:
        _patch(exe, ld_so, rpath)
    check_closed(Path(runtime_root), ld_so, [e for e, _ in exes])
    return [e for e, _ in exes]


def _patch(exe: Path, interp: Path, rpath: str) -> None:
    patchelf = require("patchelf", "patchelf")
    run([patchelf, "--set-interpreter", interp, "--force-rpath", "--set-rpath", rpath, exe],
        what=f"patchelf {exe}", package="patchelf")


def check_closed(root: Path, ld_so: Path, exes: list[Path]) -> None:
    """Every library each executable loads resolves inside root: one resolved from the host's
    /etc/ld.so.cache would be a Debian 12 library under a Debian 13 libc. Asked of root's own
    ld.so (--list), which honours the $ORIGIN RPATH before root is in its final place."""
    for exe in exes:
        p = subprocess.run([str(ld_so), "--list", str(exe)], capture_output=True, text=True)
        if p.returncode != 0:
            raise OfedError(f"{exe.name} does not load under {ld_so}: "
                            f"{(p.stderr.strip().splitlines() or p.stdout.strip().splitlines() or ['?'])[-1]}")
        for line in p.stdout.splitlines():
            m = re.match(r"\s*(\S+) => (\S+)", line)
            if not m:
                continue
            where = m.group(2)
            if where == "not" or not os.path.realpath(where).startswith(os.path.realpath(root) + "/"):
                raise OfedError(f"{exe.name}: {m.group(1)} resolves to {where}, outside {root} "
                                f"(a Depends the closure lacks)")
