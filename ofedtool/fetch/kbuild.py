"""The kernel build tree, and how we call its kbuild: every reader of a build tree lives here
(release, .config, Module.symvers, headers' source dir, compiler), then the make line."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .. import ui
from ..errors import OfedError

if TYPE_CHECKING:
    from .toolchain import Toolchain

# The files a prepared (modules_prepare'd or distro headers) build tree must have for M= builds.
_REQUIRED = (".config", "Module.symvers", "Makefile")

# Kconfig symbol -> SRCARCH. The .config is authoritative; a full source tree (RHEL's
# /usr/src/kernels) carries every arch/ directory, so the directory listing is only a fallback.
_ARCH_SYMBOLS = (
    ("CONFIG_X86", "x86"),
    ("CONFIG_ARM64", "arm64"),
    ("CONFIG_PPC", "powerpc"),
    ("CONFIG_S390", "s390"),
    ("CONFIG_RISCV", "riscv"),
    ("CONFIG_LOONGARCH", "loongarch"),
    ("CONFIG_MIPS", "mips"),
    ("CONFIG_ARM", "arm"),
)


@dataclass(frozen=True)
class KernelTree:
    """The one type of a target kernel's build tree. A headers provider (ofedtool/headers)
    makes it with what it knows (where, which release, whose packages, which toolchain);
    inspect() completes it once per run with what kbuild needs (compiler, arch, tools)."""
    build_dir: Path     # make -C here
    release: str  # what `uname -r` and vermagic say, e.g. 6.1.0-56-amd64
    cc: str = ""  # compiler program passed as CC= (inspect)
    arch: str = ""  # SRCARCH, e.g. x86 (inspect)
    # Further make variables (LD=, AR=, ...): the binutils of a fetched toolchain; empty means
    # the names the kernel's Makefile derives from CROSS_COMPILE, found on PATH.
    tools: tuple[tuple[str, str], ...] = ()
    target_id: str = "local"    # catalog id, or "local"
    provenance: dict = field(default_factory=dict, compare=False)  # the headers provider's (packages...)
    # The target's own compiler and binutils (ofedtool/fetch/toolchain.py) when its catalog file
    # declares them; None builds with the host's compiler (choose_compiler).
    toolchain: Toolchain | None = None

    def make_vars(self, cc: str | None = None) -> list[str]:
        """CC= and the other tool variables for make (cc: CC as given, e.g. behind ccache)."""
        return [f"CC={cc or self.cc}", *(f"{k}={v}" for k, v in self.tools)]

    def manifest(self) -> dict:
        # the entry's name, not its path: a generated tree's manifest must not depend on the cache's place
        tc = {"toolchain": {"entry": self.toolchain.root.name,
                            "packages": [f"{p['package']}={p['version']}" for p in self.toolchain.packages]}
              } if self.toolchain else {}
        return {"build_dir": str(self.build_dir), "release": self.release, "target": self.target_id,
                **self.provenance, **tc}


def inspect(tree: KernelTree) -> KernelTree:
    """The provider's tree, checked and completed with its compiler, arch and tools."""
    found = inspect_tree(tree.build_dir, tree.toolchain)
    return replace(tree, build_dir=found.build_dir, cc=found.cc, arch=found.arch, tools=found.tools)


def inspect_tree(build_dir: Path, toolchain: Toolchain | None = None) -> KernelTree:
    build_dir = Path(build_dir).resolve()
    if not build_dir.is_dir():
        raise OfedError(f"kernel build tree {build_dir} does not exist")
    missing = [name for name in _REQUIRED if not (build_dir / name).is_file()]
    if missing:
        raise OfedError(f"kernel build tree {build_dir} is not prepared: missing {', '.join(missing)}")
    source_dir(build_dir)  # fail early if the headers are not reachable
    programs = toolchain_programs(build_dir, toolchain) if toolchain else {}
    return KernelTree(
        build_dir=build_dir,
        release=kernel_release(build_dir),
        cc=programs.pop("CC") if programs else choose_compiler(build_dir),
        arch=_arch(build_dir),
        tools=tuple(sorted(programs.items())),
        toolchain=toolchain,
    )


def compiler_text(build_dir: Path) -> str:
    """CONFIG_CC_VERSION_TEXT: what `$(CC) --version | head -1` said when the kernel was built."""
    text = config_values(Path(build_dir)).get("CONFIG_CC_VERSION_TEXT", "").strip('"')
    if not text:
        raise OfedError(f"{build_dir}/.config has no CONFIG_CC_VERSION_TEXT: cannot tell which compiler built the kernel")
    return text


def toolchain_programs(build_dir: Path, toolchain: Toolchain) -> dict[str, str]:
    """Make variables for the target's declared toolchain: the program that built the kernel,
    taken from the toolchain, which must be of the kernel compiler's family and major version
    (a catalog that declares gcc-14 for a gcc-15 kernel is a catalog bug, not a fallback)."""
    text = compiler_text(build_dir)
    programs = toolchain.programs(text.split()[0].rsplit("/", 1)[-1])
    got, wanted = _installed_major(programs["CC"]), _major(text)
    if got != wanted:
        raise OfedError(f"toolchain {toolchain.root.name} has {family_of(text)} {got}, but the kernel in "
                        f"{build_dir} was built with '{text}'")
    return programs


def family_of(version_text: str) -> str:
    return "clang" if "clang" in version_text.split("(")[0] else "gcc"


def source_dir(build_dir: Path) -> Path:
    """The tree holding include/linux: the build dir itself, or the one its Makefile includes.

    Debian and upstream `make O=` split the tree: the build dir holds .config and generated
    headers, and its Makefile is a one-line `include <srctree>/Makefile`.
    """
    build_dir = Path(build_dir)
    if (build_dir / "include" / "linux").is_dir():
        return build_dir
    text = _read(build_dir / "Makefile")
    for m in re.finditer(r"^\s*-?include\s+(\S+)/Makefile\s*$", text, re.M):
        src = Path(m.group(1))
        if src.is_absolute() and (src / "include" / "linux").is_dir():
            return src
    raise OfedError(
        f"kernel build tree {build_dir} has no include/linux and its Makefile includes no source tree that has one"
    )


def kernel_release(build_dir: Path) -> str:
    """`uname -r` of the kernel the tree builds for."""
    build_dir = Path(build_dir)
    # utsrelease.h first: Debian's include/config/kernel.release says "6.1.192" while the
    # kernel (and vermagic) say "6.1.0-56-amd64" because .kernelvariables overrides KERNELRELEASE.
    uts = build_dir / "include" / "generated" / "utsrelease.h"
    if uts.is_file():
        m = re.search(r'#define\s+UTS_RELEASE\s+"([^"]+)"', _read(uts))
        if m:
            return m.group(1)
    rel = build_dir / "include" / "config" / "kernel.release"
    if rel.is_file() and _read(rel).strip():
        return _read(rel).strip()
    raise OfedError(f"kernel build tree {build_dir} has neither include/generated/utsrelease.h nor include/config/kernel.release")


def _arch(build_dir: Path) -> str:
    config = config_values(build_dir)
    for symbol, arch in _ARCH_SYMBOLS:
        if config.get(symbol) == "y":
            return arch
    arch_dir = build_dir / "arch"
    subdirs = sorted(p.name for p in arch_dir.iterdir() if p.is_dir()) if arch_dir.is_dir() else []
    if len(subdirs) == 1:
        return subdirs[0]
    raise OfedError(f"cannot tell the architecture of kernel build tree {build_dir} from its .config")


def config_values(build_dir: Path) -> dict[str, str]:
    """The tree's .config: CONFIG_X → value (=y, =m, a quoted string...)."""
    build_dir = Path(build_dir)
    values = {}
    for line in _read(build_dir / ".config").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("CONFIG_"):
            values[key] = value
    return values


def choose_compiler(build_dir: Path) -> str:
    """The host's compiler the kernel was built with if we have it, else the nearest version we
    do have. (A target whose catalog file declares a [toolchain] never gets here: inspect_tree
    takes the declared one.)

    Module objects must match the kernel's compiler family; a different major version is
    tolerated by kbuild (Debian sets DEBIAN_KERNEL_NO_CC_VERSION_CHECK) and, measured, gcc-12
    builds 5.10 modules cleanly, while bookworm has no gcc-10. An older major fails on a newer
    kernel's flags: gcc-12 rejects Debian 13's -fmin-function-alignment=16, hence its [toolchain].
    """
    build_dir = Path(build_dir)
    text = compiler_text(build_dir)
    program = text.split()[0]
    family = family_of(text)
    if family == "gcc" and "gcc" in program and shutil.which(program):
        if not re.search(r"gcc$", program) or _same_major(program, text):
            return program
    if family == "clang" and "clang" in program and shutil.which(program):
        return program
    wanted = _major(text)
    found = _available(family)
    if not found:
        raise OfedError(f"no {family} compiler found on PATH: the kernel in {build_dir} was built with '{text}'")
    # nearest major; on a tie the newer one (it knows every flag the older one did), and
    # gcc-12 over plain gcc so the choice reads the same on every host
    best = min(found, key=lambda item: (abs(item[0] - wanted), -item[0], item[1] == family))
    ui.warn(f"kernel {build_dir.name} was built with '{text}', which is not installed: using {best[1]} ({family} {best[0]})")
    return best[1]


def _major(version_text: str) -> int:
    # the version is the last dotted number: "gcc-12 (Debian 12.2.0-14) 12.2.0", "gcc (GCC) 11.3.1 20221121 ..."
    numbers = re.findall(r"\b(\d+)\.\d+(?:\.\d+)?\b", version_text)
    return int(numbers[-1]) if numbers else 0


def _same_major(program: str, version_text: str) -> bool:
    return _installed_major(program) == _major(version_text)


def _installed_major(program: str) -> int:
    try:
        out = subprocess.run([program, "-dumpversion"], capture_output=True, text=True, timeout=20).stdout
    except OSError:
        return -1
    m = re.match(r"(\d+)", out.strip())
    return int(m.group(1)) if m else -1


def _available(family: str) -> list[tuple[int, str]]:
    """(major, program) for every family-N and the plain family on PATH."""
    found: dict[str, int] = {}
    pattern = re.compile(rf"^{family}-(\d+)$")
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        try:
            entries = os.listdir(directory or ".")
        except OSError:
            continue
        for name in entries:
            m = pattern.match(name)
            if m and name not in found and os.access(os.path.join(directory, name), os.X_OK):
                found[name] = int(m.group(1))
    if shutil.which(family):
        major = _installed_major(family)
        if major >= 0:
            found.setdefault(family, major)
    return sorted((major, name) for name, major in found.items())


VIEW = ".kbuild"    # a tree's view of its kernel build dir (kbuild_view), never a source file


def kbuild_view(build_dir: Path, tree: Path) -> Path:
    """tree/.kbuild: a directory holding one absolute symlink per entry of the kernel build dir,
    where make runs kbuild instead of in the build dir itself.

    kbuild runs gcc in the directory make -C names. ccache's base_dir turns our paths into paths
    relative to that directory, so only when it lies inside the tree are they the same for the
    same tree in any output directory ("../drivers/..."), and a matrix cell, a release or another
    Jenkins workspace hits the cache entries of the first build. From the kernel build dir they
    spell the output directory ("../../../../tmp/job-7/tree/..."), and every new directory
    compiled everything again. The view is a real directory, so make's CURDIR (kbuild's objtree)
    is the view itself; what kbuild reads through it is the build dir's own files."""
    build_dir = Path(build_dir).resolve()
    view = Path(tree) / VIEW
    want = {e.name: str((build_dir / e.name).resolve()) for e in build_dir.iterdir()}
    if view.is_dir() and not view.is_symlink() and {
            e.name: os.readlink(e) for e in view.iterdir() if e.is_symlink()} == want:
        return view
    tmp = Path(tree) / f".{VIEW}.tmp.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for name, target in want.items():
        (tmp / name).symlink_to(target)
    if view.exists() or view.is_symlink():
        old = Path(tree) / f".{VIEW}.old.{os.getpid()}"
        view.rename(old)
        shutil.rmtree(old, ignore_errors=True)
    tmp.rename(view)
    return view


def make_args(tree: KernelTree, m_dir: Path, jobs: int, extra: Sequence[str] = (), js=None) -> list[str]:
    """A kbuild make for M=m_dir: -j{jobs}, or no -j under a jobserver (ofedtool.jobserver)."""
    from ..jobserver import jobs_args
    return ["make", "-C", str(tree.build_dir), f"M={m_dir}", *tree.make_vars(), *jobs_args(jobs, js), *extra]


@dataclass(frozen=True)
class Export:
    crc: int
    symbol: str
    module: str     # exporting module path without .ko, e.g. drivers/infiniband/core/ib_core
    kind: str       # EXPORT_SYMBOL | EXPORT_SYMBOL_GPL


def read_symvers(path: Path, missing_ok: bool = False) -> dict[str, Export]:
    """Module.symvers (a kernel's, or an M= build's): crc <tab> symbol <tab> module <tab>
    export-type [<tab> namespace]."""
    path = Path(path)
    if missing_ok and not path.exists():
        return {}
    out = {}
    for line in _read(path).splitlines():
        f = line.split("\t")
        if len(f) < 4:
            continue
        try:
            crc = int(f[0], 16)
        except ValueError:
            continue
        out[f[1]] = Export(crc, f[1], f[2], f[3])
    return out


_TREE_IDS: dict[tuple, str] = {}


def tree_id(build_dir: Path) -> str:
    """Content address of everything that decides probe results (memoised per process while
    the tree's key files are unchanged: generate and the probes both ask for it)."""
    build_dir = Path(build_dir)
    stamp = [str(build_dir.resolve())]
    for rel in (".config", "Module.symvers", "include/generated/utsrelease.h"):
        try:
            st = (build_dir / rel).stat()
            stamp.append((st.st_size, st.st_mtime_ns, st.st_ino))
        except OSError:
            stamp.append(None)
    key = tuple(stamp)
    if key not in _TREE_IDS:
        _TREE_IDS[key] = _tree_id(build_dir)
    return _TREE_IDS[key]


def _tree_id(build_dir: Path) -> str:
    """Content address of everything that decides probe results.

    Hashes the content of .config, Module.symvers and the release files, plus the list of
    header paths and sizes (not their content, not mtimes: a repacked identical tree keeps
    its id, and the walk stays a cheap scandir). Only the target arch's arch/*/include counts:
    Debian's -common package ships every architecture's headers, which no probe can see.
    """
    build_dir = Path(build_dir)
    h = hashlib.sha256(b"ofedtool-tree-id-1\0")
    for rel in (".config", "Module.symvers", "include/config/kernel.release", "include/generated/utsrelease.h"):
        path = build_dir / rel
        h.update(rel.encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"absent")
    roots = [build_dir]
    src = source_dir(build_dir)
    if src.resolve() != build_dir.resolve():
        roots.append(src)
    arch = _arch(build_dir)
    listing = hashlib.sha256()
    for index, root in enumerate(roots):
        for top in (root / "include", root / "arch" / arch / "include"):
            for rel, size in sorted(_walk(top, root)):
                listing.update(f"{index}\0{rel}\0{size}\n".encode())
    h.update(listing.digest())
    return h.hexdigest()


def _walk(top: Path, root: Path) -> list[tuple[str, int]]:
    out = []
    stack = [str(top)]
    root_s = str(root)
    # entry.path is always root_s + "/" + ...: slicing gives what os.path.relpath() would, at a
    # fraction of its cost (relpath was 2/3 of tree_id's time on a 25k-file header tree)
    cut = len(root_s.rstrip("/")) + 1
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                        continue
                    try:
                        size = entry.stat().st_size
                    except OSError:  # dangling symlink
                        size = -1
                    out.append((entry.path[cut:], size))
        except FileNotFoundError:
            continue
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as exc:
        raise OfedError(f"cannot read {path}: {exc.strerror}") from None
