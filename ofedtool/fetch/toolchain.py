"""A target's own compiler and binutils, from its Debian release, runnable without installing.

Debian 13's kernel is built with gcc-14 and binutils 2.44. A Debian 12 host has gcc-12, which
rejects the kernel's flags (-fmin-function-alignment=16); and module objects should come from
the compiler that built the kernel anyway. The target's catalog file declares the packages
([toolchain] packages = ["gcc-14", "binutils"]); they and their whole Depends closure (Debian
13's libc6 too) are unpacked into one cache entry and relocated (ofedtool/fetch/relocate.py). No root,
no chroot, nothing in the host's /usr.

The kernel's own kbuild helpers need that libc too: Debian 13's objtool and modpost are built
against glibc 2.38 (and objtool against libelf1t64). The closure therefore also holds the
runtime Depends of the headers' linux-kbuild package, and a small second entry keeps copies of
those helpers relocated onto the toolchain's libc; kbuild is pointed at them by make variable.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .. import ui
from .apt import Apt, unpack
from ..proc import require
from ..catalog import Target
from ..errors import OfedError
from .relocate import Runtime, relocate, relocate_onto

# Make variables of the top-level kernel Makefile that name a binutils program. kbuild uses
# LD (ld -r, the .ko link), AR, NM, OBJCOPY, OBJDUMP, READELF and STRIP in M= builds; AS for
# completeness. All are "$(CROSS_COMPILE)<prog>", and Debian's Makefile overrides CROSS_COMPILE,
# so each is passed by name.
BINUTILS = {"AS": "as", "LD": "ld", "AR": "ar", "NM": "nm", "OBJCOPY": "objcopy", "OBJDUMP": "objdump",
            "READELF": "readelf", "STRIP": "strip"}
# Unprefixed programs of the closure kbuild runs, when there: pahole comes with linux-kbuild's
# Depends. Debian 13's headers ship vmlinux, so modules get BTF, with flags for the pahole the
# kernel was configured with (CONFIG_PAHOLE_VERSION=130); Debian 12's 1.24 rejects them.
PROGRAMS = {"PAHOLE": "pahole"}
# kbuild helpers an M= build runs that need the target's libc, by the make variable that names
# them (scripts/Makefile.lib: objtool :=, scripts/Makefile.modpost: MODPOST =, Makefile:
# RESOLVE_BTFIDS =) and their path in the build tree. Debian's objtool and modpost are wrappers
# that exec <name>.real-<arch> beside themselves, so whole dirs are copied. fixdep and genksyms
# need only glibc 2.34 and cannot be renamed anyway.
HELPERS = {"objtool": "tools/objtool/objtool", "MODPOST": "scripts/mod/modpost",
           "RESOLVE_BTFIDS": "tools/bpf/resolve_btfids/resolve_btfids"}
# dpkg architecture of the machine we run on: a relocated toolchain runs natively or not at all.
_HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64el", "s390x": "s390x", "riscv64": "riscv64"}


@dataclass(frozen=True)
class Toolchain:
    root: Path                  # the cache entry; programs live under root/"root"/usr/bin
    packages: tuple[dict, ...]
    helpers: Path | None = None  # relocated copies of the kernel's kbuild helpers (HELPERS)

    @property
    def bin(self) -> Path:
        return self.root / "root" / "usr" / "bin"

    def programs(self, cc_name: str) -> dict[str, str]:
        """Make variables for the kernel whose compiler was `cc_name` (x86_64-linux-gnu-gcc-14):
        CC is that program from this toolchain, binutils carry the same target prefix, and the
        kernel's own helpers run relocated."""
        cc = self.bin / cc_name
        if not cc.is_file():
            raise OfedError(f"toolchain {self.root.name} has no {cc_name}, the compiler that built the kernel "
                            f"(packages: {', '.join(p['package'] for p in self.packages)})")
        m = re.fullmatch(r"(.*-)?(?:gcc|clang)(?:-[\d.]+)?", cc_name)
        prefix = (m.group(1) or "") if m else ""
        out = {"CC": str(cc)}
        for var, prog in BINUTILS.items():
            path = self.bin / f"{prefix}{prog}"
            if not path.is_file():
                raise OfedError(f"toolchain {self.root.name} has no {path.name}")
            out[var] = str(path)
        out.update({var: str(self.bin / prog) for var, prog in PROGRAMS.items() if (self.bin / prog).is_file()})
        if self.helpers:
            out.update({var: str(self.helpers / rel) for var, rel in HELPERS.items() if (self.helpers / rel).is_file()})
        return out


def fetch(cache, target: Target, build_dir: Path, kernel_cc: str, kbuild: list[tuple[str, str]],
          offline: bool = False) -> Toolchain | None:
    """The toolchain the target's catalog file declares ([toolchain]), or None when it declares none.

    kernel_cc is the kernel's CONFIG_CC_VERSION_TEXT: when it names a Debian version of the
    compiler package ("(Debian 14.2.0-19)") that the index still has, that exact one is taken.
    kbuild: the (package, version) of the build tree's linux-kbuild, whose helpers must run too.
    """
    spec = target.toolchain
    if not spec:
        return None
    if spec.get("provider") != "debian":
        raise OfedError(f"kernel {target.id}: unknown toolchain provider {spec.get('provider')!r}")
    packages = list(spec.get("packages") or [])
    if not packages:
        raise OfedError(f"kernel {target.id}: [toolchain] lists no packages ({target.path})")
    host = _HOST_ARCH.get(platform.machine(), platform.machine())
    if host != target.arch:
        raise OfedError(f"kernel {target.id}: its {target.arch} toolchain cannot run on this {host} host")
    require_tools()
    apt = Apt(cache, target.suites, arch=target.arch, offline=offline)
    apt.update()
    packages = _pin(apt, packages, kernel_cc)
    # The kbuild package is asked for so that apt resolves its runtime Depends into the
    # closure, then left out: it is in the headers entry, and per ABI, while this entry is not.
    skip = {p for p, _ in kbuild}
    closure = [pv for pv in apt.closure(packages + [f"{p}={v}" for p, v in kbuild]) if pv[0] not in skip]
    rel = f"toolchains/{_name(packages, closure)}_{_key(closure)}"
    if cache.get(rel) is None:
        t0 = time.monotonic()
        debs = apt.download_all(closure)
        fetched = time.monotonic() - t0

        def create(tmp: Path) -> None:
            tmp.mkdir(parents=True)
            t1 = time.monotonic()
            ui.info(f"[toolchain] unpacking and relocating {len(debs)} packages for {', '.join(packages)}")
            unpack(debs, tmp / "root")
            runtime, relocated = relocate(tmp / "root", cache.path(rel, "root"))
            _wire_assembler(tmp / "root")
            manifest = {
                "provider": "debian", "target": target.id, "requested": packages,
                "packages": [{"package": d.package, "version": d.version, "sha256": d.sha256, "size": d.size}
                             for d in debs],
                "runtime": {"loader": runtime.loader, "lib_dirs": list(runtime.lib_dirs)},
                "relocated": sorted(str(p.relative_to(tmp / "root")) for p in relocated),
                "seconds": {"download": round(fetched, 1), "unpack_relocate": round(time.monotonic() - t1, 1)},
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

        cache.ensure(rel, create)
    tc = load(cache.path(rel))
    _smoke(tc, packages)
    return Toolchain(tc.root, tc.packages, _helpers(cache, tc, build_dir, kbuild))


def require_tools() -> None:
    require("apt-get", "apt")
    require("dpkg-deb", "dpkg")
    require("patchelf", "patchelf")


def load(root: Path) -> Toolchain:
    m = json.loads((Path(root) / "manifest.json").read_text())
    return Toolchain(Path(root), tuple(m["packages"]))


def _runtime(tc: Toolchain) -> Runtime:
    m = json.loads((tc.root / "manifest.json").read_text())["runtime"]
    return Runtime(m["loader"], tuple(m["lib_dirs"]))


def _helpers(cache, tc: Toolchain, build_dir: Path, kbuild: list[tuple[str, str]]) -> Path | None:
    """Copies of the build tree's HELPERS dirs, relocated onto the toolchain (one small entry per
    kbuild package and toolchain)."""
    dirs = sorted({Path(rel).parent for rel in HELPERS.values() if (Path(build_dir) / rel).is_file()})
    if not dirs:
        return None
    ident = "+".join(f"{p}_{v}" for p, v in kbuild) or hashlib.sha256(str(build_dir).encode()).hexdigest()[:12]
    rel = f"kbuild-helpers/{ident}_{tc.root.name.rsplit('_', 1)[-1]}"

    def create(tmp: Path) -> None:
        for d in dirs:
            # resolve: Debian's build dir reaches them through symlinks into linux-kbuild-*
            shutil.copytree((Path(build_dir) / d).resolve(), tmp / d, symlinks=True)
        relocate_onto(tmp, tc.root / "root", _runtime(tc))

    return cache.ensure(rel.replace(":", "%3a"), create)


def _wire_assembler(root: Path) -> None:
    """gcc runs `as` (and collect2 `ld`) by searching its own libexec dir, then the host's
    /usr/libexec/gcc and PATH: a Debian system answers from /usr/bin/as, which here would be the
    host's binutils. Links beside cc1 to the unpacked <triplet>-as/-ld are found first."""
    for cc1 in sorted(root.glob("usr/libexec/gcc/*/*/cc1")):
        triplet = cc1.parent.parent.name
        for prog in ("as", "ld"):
            real = root / "usr" / "bin" / f"{triplet}-{prog}"
            if not real.exists():
                raise OfedError(f"toolchain: no {real.name} beside {cc1.parent.name}'s cc1 (add binutils to [toolchain])")
            link = cc1.parent / prog
            if not link.exists():
                link.symlink_to(os.path.relpath(real, link.parent))


def _pin(apt: Apt, packages: list[str], kernel_cc: str) -> list[str]:
    """The compiler package (the first listed) at the version that built the kernel, if still there."""
    m = re.search(r"\(Debian ([^)\s]+)\)", kernel_cc)
    if not m or "=" in packages[0]:
        return packages
    if m.group(1) in apt.versions(packages[0]):
        return [f"{packages[0]}={m.group(1)}", *packages[1:]]
    ui.warn(f"{packages[0]} {m.group(1)}, which built the kernel, is no longer in the index: using "
            f"{apt.newest(packages[0])}")
    return packages


def _key(closure: list[tuple[str, str]]) -> str:
    return hashlib.sha256("".join(f"{p}={v}\n" for p, v in closure).encode()).hexdigest()[:12]


def _name(packages: list[str], closure: list[tuple[str, str]]) -> str:
    """Readable part of the entry name: the requested packages at their resolved versions."""
    versions = dict(closure)
    parts = []
    for spec in packages:
        name = spec.split("=")[0]
        parts.append(f"{name}_{versions.get(name, '?')}".replace(":", "%3a"))
    return "+".join(parts)


def _smoke(tc: Toolchain, packages: list[str]) -> None:
    """The relocated compiler driver starts. The entry's interpreter names its final place, so
    this can only be asked once it is there; a failure names the entry to remove."""
    drivers = sorted(p for p in tc.bin.iterdir() if re.fullmatch(r"(.*-)?(gcc|clang)-[\d.]+", p.name))
    for driver in drivers[:1]:
        p = subprocess.run([str(driver), "-dumpversion"], capture_output=True, text=True)
        if p.returncode != 0 or not p.stdout.strip():
            raise OfedError(f"relocated {driver.name} of {', '.join(packages)} does not run "
                            f"({(p.stderr.strip().splitlines() or ['no output'])[-1]}): remove {tc.root} and retry")
