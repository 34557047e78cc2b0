"""A tiny guest userland from Debian packages: busybox-static and rdma-core's test tools.

Everything comes from one Debian release's packages through the private apt, never from the
host, so the guest's userspace does not change with the machine running the test. The files a
guest needs are the named programs plus the ELF closure of their DT_NEEDED sonames, resolved
inside the unpacked packages (what ldd would list, without running the host's loader on foreign
binaries), plus what is loaded at run time and no ELF header names: libibverbs' provider
plug-ins with their .driver files, and libgcc_s.so.1, which glibc dlopens for pthread_exit.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .. import ui
from .apt import Apt, parse_depends, unpack
from ..proc import require, run
from ..errors import OfedError

# The suites the guest userland comes from; any Debian kernel target can run it.
SUITES = ("bookworm", "bookworm-updates", "bookworm-security")
PACKAGES: tuple[str, ...] = ("busybox-static", "ibverbs-utils", "rdmacm-utils", "iproute2", "ibverbs-providers",
            "libibverbs1", "librdmacm1", "libgcc-s1", "open-iscsi", "nfs-kernel-server", "nfs-common", "rpcbind", "netbase")
# open-iscsi: the iSER initiator's iscsid and iscsiadm (the kernel's ib_iser does the data path).
# NFS-RDMA: the kernel's nfsd and NFS client carry the data; nfs-kernel-server's rpc.nfsd, exportfs
# and rpc.mountd (answers the kernel's export upcalls), rpcbind and nfs-common's mount.nfs set it up.
PROGRAMS: tuple[str, ...] = ("busybox", "ibv_devices", "ibv_devinfo", "ibv_rc_pingpong", "rping", "rdma", "iscsid", "iscsiadm",
            "rpc.nfsd", "exportfs", "rpc.mountd", "rpcbind", "rpcinfo", "mount.nfs")
# Loaded by name at run time: no DT_NEEDED points at them.
RUNTIME: tuple[str, ...] = ("usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav*.so", "usr/lib/x86_64-linux-gnu/libibverbs/libsiw-rdmav*.so",
           "etc/libibverbs.d/rxe.driver", "etc/libibverbs.d/siw.driver", "*/x86_64-linux-gnu/libgcc_s.so.1",
           # libtirpc's transport table: without it no RPC program finds "tcp" or "udp"
           "etc/netconfig", "etc/protocols", "etc/services")


@dataclass(frozen=True)
class Layer:
    """What one kind of guest gets: packages, the programs and run-time files taken from them
    (with their ELF closure), whole directories, and doc files Debian ships gzipped that the
    guest runs as programs."""
    name: str
    packages: tuple[str, ...]
    programs: tuple[str, ...]
    runtime: tuple[str, ...]
    trees: tuple[str, ...] = ()         # every file below, minus the `prune` subdirectories
    prune: tuple[str, ...] = ()
    gunzip: tuple[str, ...] = ()        # globs of *.gz decompressed in place when unpacked


BASE = Layer("base", PACKAGES, PROGRAMS, RUNTIME)
# rdma-core's own test suite (python3-pyverbs ships it under /usr/share/doc/rdma-core/tests, its
# modules gzipped as docs) on the release's python3: the conformance guest, booted on its own so
# the ULP guest stays small.
PYTHON = "python3.11"
CONFORMANCE = Layer(
    "conformance", PACKAGES + (f"{PYTHON}-minimal", f"lib{PYTHON}-stdlib", "python3-pyverbs", "zlib1g"),
    PROGRAMS + (PYTHON,), RUNTIME,
    trees=(f"usr/lib/{PYTHON}", "usr/lib/python3/dist-packages/pyverbs", "usr/share/doc/rdma-core/tests"),
    prune=tuple(f"usr/lib/{PYTHON}/{d}" for d in ("test", "idlelib", "tkinter", "turtledemo", "ensurepip",
                                                 "lib2to3", "pydoc_data", "config-3.11-x86_64-linux-gnu")),
    gunzip=("usr/share/doc/rdma-core/tests/*.py.gz",))
SUITE = "usr/share/doc/rdma-core/tests/run_tests.py"

LIBDIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "lib", "usr/lib")


@dataclass(frozen=True)
class Userland:
    root: Path                # unpacked packages
    files: dict[str, str]     # guest path (merged /usr) → path under root of the real file
    packages: list[dict]


def fetch_userland(cache, offline: bool = False, layer: Layer = BASE) -> Userland:
    require("dpkg-deb", "dpkg")
    require("readelf", "binutils")
    apt = Apt(cache, SUITES, offline=offline)
    apt.update()
    wanted = _resolved(cache, apt, layer.packages)
    # The entry is the packages and what is taken from them: a changed rule makes a new entry.
    key = hashlib.sha256("\n".join([f"{p}={v}" for p, v in wanted] + [repr(layer)]).encode()).hexdigest()[:16]
    rel = f"userland/{key}"
    if cache.get(rel) is None:
        debs = [apt.download(p, v) for p, v in wanted]

        def create(tmp: Path) -> None:
            tmp.mkdir(parents=True)
            ui.info(f"[userland] unpacking {len(debs)} packages")
            unpack(debs, tmp / "root")
            for pattern in layer.gunzip:
                for gz in (tmp / "root").glob(pattern):
                    gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
                    gz.unlink()
            files = _select(tmp / "root", layer)
            (tmp / "manifest.json").write_text(json.dumps(
                {"files": files, "packages": [{"package": d.package, "version": d.version, "sha256": d.sha256}
                                              for d in debs]}, indent=2, sort_keys=True) + "\n")

        cache.ensure(rel, create)
    m = json.loads((cache.path(rel) / "manifest.json").read_text())
    return Userland(cache.path(rel, "root"), m["files"], m["packages"])


def _resolved(cache, apt: Apt, packages: tuple[str, ...]) -> list[tuple[str, str]]:
    """_closure, remembered per state of the package index: resolving costs two apt-cache runs
    per package (seconds each when apt may not keep its binary cache), the index changes rarely."""
    h = hashlib.sha256("\n".join(packages).encode())   # the question, with the index that answers it
    for f in sorted((apt.root / "lists").glob("*Release")):
        h.update(f.name.encode() + f.read_bytes())
    rel = f"userland/resolved-{h.hexdigest()[:16]}.json"
    if cache.path(rel).exists():
        return [tuple(pv) for pv in json.loads(cache.path(rel).read_text())]
    ui.info(f"[userland] resolving {', '.join(packages)} and their libraries")
    wanted = _closure(apt, packages)
    cache.write_json(rel, wanted)
    return wanted


def _closure(apt: Apt, packages: tuple[str, ...]) -> list[tuple[str, str]]:
    """The named packages plus their library dependencies (lib*, recursively): enough to hold every
    soname the programs need; maintainer-script dependencies (debconf, adduser) are not files we use."""
    seen: dict[str, str] = {}
    todo = list(packages)
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        vers = apt.versions(name)
        if not vers:
            continue  # virtual package: some real one in the set provides it
        seen[name] = vers[0]
        info = apt.show(name, vers[0])
        for field in ("Pre-Depends", "Depends"):
            for dep, _ in parse_depends(info.get(field, "")):
                if dep.startswith("lib") and dep not in seen:
                    todo.append(dep)
    return sorted(seen.items())


def _guest_path(rel: str) -> str:
    """Merged /usr in the guest: /lib, /bin, /sbin, /lib64 are symlinks into /usr."""
    top = rel.split("/", 1)[0]
    return f"usr/{rel}" if top in ("lib", "bin", "sbin", "lib64") else rel


def _real(root: Path, rel: str) -> str:
    """Follow symlinks inside root (absolute targets are relative to root, not to the host)."""
    p = rel
    for _ in range(40):
        full = root / p
        if not full.is_symlink():
            if not full.exists():
                raise OfedError(f"userland: {rel} points at {p}, which no package ships")
            return p
        target = os.readlink(full)
        p = os.path.normpath(target.lstrip("/") if target.startswith("/") else os.path.join(os.path.dirname(p), target))
    raise OfedError(f"userland: symlink loop at {rel}")


def _find(root: Path, pattern: str) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.glob(pattern))


def _elf_needs(path: Path) -> tuple[list[str], str | None]:
    """(DT_NEEDED sonames, PT_INTERP) of an ELF file; ([], None) for scripts and static programs."""
    with open(path, "rb") as f:
        if f.read(4) != b"\x7fELF":
            return [], None
    out = run(["readelf", "-Wdl", path], check=False, package="binutils").stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    interp = re.search(r"Requesting program interpreter: ([^\]]+)\]", out)
    return needed, interp.group(1) if interp else None


def _select(root: Path, layer: Layer = BASE) -> dict[str, str]:
    files: dict[str, str] = {}

    def add(rel: str) -> None:
        g = _guest_path(rel)
        if g not in files:
            files[g] = _real(root, rel)
            queue.append(files[g])

    queue: list[str] = []
    for prog in layer.programs:
        hits = [h for d in ("bin", "sbin", "usr/bin", "usr/sbin") for h in _find(root, f"{d}/{prog}")]
        if not hits:
            raise OfedError(f"userland: no program {prog} in packages {', '.join(layer.packages)}")
        add(hits[0])
    for pattern in layer.runtime:
        for h in _find(root, pattern):
            add(h)
    for tree in layer.trees:
        if not (root / tree).is_dir():
            raise OfedError(f"userland: no directory {tree} in packages {', '.join(layer.packages)}")
        for dirpath, dirs, names in os.walk(root / tree):
            rel = os.path.relpath(dirpath, root)
            dirs[:] = sorted(d for d in dirs if f"{rel}/{d}" not in layer.prune)
            for n in sorted(names):
                if not n.endswith(".pyc"):
                    add(f"{rel}/{n}")
    if not any(g.endswith("/libgcc_s.so.1") for g in files):
        raise OfedError("userland: libgcc_s.so.1 not found (package libgcc-s1)")
    while queue:
        needed, interp = _elf_needs(root / queue.pop())
        if interp:
            add(interp.lstrip("/"))
        for so in needed:
            hit = next((f"{d}/{so}" for d in LIBDIRS if (root / d / so).exists() or (root / d / so).is_symlink()), None)
            if hit is None:
                raise OfedError(f"userland: shared library {so} not found in the unpacked packages")
            add(hit)
    return dict(sorted(files.items()))
