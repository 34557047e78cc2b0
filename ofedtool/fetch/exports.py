"""Where the target kernel defines each exported symbol, for the ABI gate (ofedtool/build/abi.py).

Module.symvers names only the module that exports a symbol (often vmlinux), not the source
file, and the gate needs the file: it recomputes the symbol's modversions CRC over our headers.
So the target's own linux-source is read once, streamed from the .deb without unpacking its
1.3 GB: every EXPORT_SYMBOL*() and every #include of its .c and .h files. Only an exporting file
whose include graph reaches an RDMA header can see a type our headers change, so those files
and the local headers they include are kept in the cache entry (the headers package has
include/ already); nothing else of the tarball is written.
"""

from __future__ import annotations

import json
import posixpath
import re
import subprocess
import tarfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .. import ui
from ..errors import OfedError

_INCLUDE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]', re.M)
_EXPORT = re.compile(rb"^[ \t]*EXPORT_SYMBOL(?:_GPL|_NS|_NS_GPL|_GPL_FUTURE)?[ \t]*\([ \t]*(\w+)", re.M)
# Trees that never hold a module's or vmlinux's exporter.
_SKIP = ("Documentation/", "tools/", "samples/", "scripts/", "usr/")
INDEX_VERSION = 1


@dataclass(frozen=True)
class SourceIndex:
    """The exporters of one target source release: exports[symbol] = the files defining it, and
    kept = the exporting files that can see an RDMA header (under files_dir, with their local
    headers)."""
    root: Path
    version: str
    exports: dict[str, tuple[str, ...]]
    kept: frozenset[str]

    @property
    def files_dir(self) -> Path:
        return self.root / "files"

    def candidates(self, symbol: str) -> tuple[str, ...]:
        return tuple(f for f in self.exports.get(symbol, ()) if f in self.kept)


def resolve_include(including: str, kind: str, name: str, files: set[str] | dict, arch: str) -> str | None:
    """The source path an #include names: "x" beside the including file first, then the
    kernel's include path for <x> (include/, arch/<arch>/include/, and their uapi/)."""
    if kind == '"':
        p = posixpath.normpath(posixpath.join(posixpath.dirname(including), name))
        if p in files:
            return p
    for base in ("include", f"arch/{arch}/include", "include/uapi", f"arch/{arch}/include/uapi"):
        p = f"{base}/{name}"
        if p in files:
            return p
    return None


def reaching(includes: dict[str, list[tuple[str, str]]], roots: tuple[str, ...], arch: str) -> set[str]:
    """Every file whose include graph reaches a file under one of `roots` (paths or directory
    prefixes such as include/rdma), the roots themselves included."""
    back: dict[str, set[str]] = defaultdict(set)
    for f, incs in includes.items():
        for kind, name in incs:
            p = resolve_include(f, kind, name, includes, arch)
            if p is not None:
                back[p].add(f)
    todo = [f for f in includes if any(f == r or f.startswith(r.rstrip("/") + "/") for r in roots)]
    seen = set(todo)
    while todo:
        for g in back.get(todo.pop(), ()):
            if g not in seen:
                seen.add(g)
                todo.append(g)
    return seen


def local_closure(start: str, includes: dict[str, list[tuple[str, str]]], arch: str) -> set[str]:
    """`start` and the files its quoted includes pull in that are not on the kernel's include
    path (block/blk-mq.h beside block/blk-mq-rdma.c): what preprocessing it needs beyond the
    headers package."""
    out, todo = {start}, [start]
    while todo:
        f = todo.pop()
        for kind, name in includes.get(f, ()):
            if kind != '"':
                continue
            p = resolve_include(f, kind, name, includes, arch)
            if p and not p.startswith(("include/", f"arch/{arch}/include/")) and p not in out:
                out.add(p)
                todo.append(p)
    return out


def _stream_tar(deb: Path):
    """The linux-source .deb's inner linux-source-X.Y.tar.xz, decompressed, as a pipe."""
    cmd = 'dpkg-deb --fsys-tarfile "$1" | tar -xO --wildcards "./usr/src/*.tar.xz" | xz -dc'
    return subprocess.Popen(["sh", "-c", cmd, "sh", str(deb)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def build_index(deb: Path, arch: str, roots: tuple[str, ...], out: Path) -> None:
    """Write index.json and files/ for the linux-source .deb into the new directory `out`."""
    from .apt import require
    require("xz", "xz-utils")
    includes: dict[str, list[tuple[str, str]]] = {}
    exports: dict[str, list[str]] = defaultdict(list)
    proc = _stream_tar(deb)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
            for m in tf:
                if not m.isfile() or "/" not in m.name:
                    continue
                name = m.name.split("/", 1)[1]
                if not name.endswith((".c", ".h")) or name.startswith(_SKIP):
                    continue
                if name.startswith("arch/") and not name.startswith(f"arch/{arch}/"):
                    continue
                data = tf.extractfile(m).read()
                includes[name] = [(k.decode(), n.decode(errors="replace").strip()) for k, n in _INCLUDE.findall(data)]
                if name.endswith(".c"):
                    for sym in dict.fromkeys(_EXPORT.findall(data)):
                        exports[sym.decode()].append(name)
    except tarfile.TarError as e:
        raise OfedError(f"{deb.name}: cannot read its source tarball: {e}") from None
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace").strip()
        rc = proc.wait()
    if rc != 0 or not includes:
        raise OfedError(f"{deb.name}: cannot stream its source tarball: {err.splitlines()[-1] if err else rc}")
    seen = reaching(includes, roots, arch)
    kept = sorted({f for fs in exports.values() for f in fs if f in seen})
    need = sorted(set().union(*(local_closure(f, includes, arch) for f in kept)) if kept else set())
    files = out / "files"
    files.mkdir(parents=True)
    if need:
        top = _top_dir(deb)
        cmd = ('dpkg-deb --fsys-tarfile "$1" | tar -xO --wildcards "./usr/src/*.tar.xz" | '
               'tar -xJ -C "$2" --strip-components=1 -T "$3"')
        lst = out / "members.txt"
        lst.write_text("".join(f"{top}/{p}\n" for p in need))
        p = subprocess.run(["sh", "-c", cmd, "sh", str(deb), str(files), str(lst)], capture_output=True, text=True)
        lst.unlink()
        if p.returncode != 0:
            raise OfedError(f"{deb.name}: cannot extract the exporting files: {p.stderr.strip().splitlines()[-1:]}")
    (out / "index.json").write_text(json.dumps(
        {"version": INDEX_VERSION, "roots": list(roots), "arch": arch,
         "exports": {k: sorted(v) for k, v in sorted(exports.items())}, "kept": kept}, sort_keys=True) + "\n")


def _top_dir(deb: Path) -> str:
    """linux-source-6.1: the tarball's top directory, named for the package."""
    m = re.match(r"(linux-source-[\d.]+)_", deb.name)
    if not m:
        raise OfedError(f"{deb.name}: not a linux-source package")
    return m.group(1)


def load_index(root: Path) -> SourceIndex:
    try:
        d = json.loads((root / "index.json").read_text())
    except (OSError, ValueError) as e:
        raise OfedError(f"exporter index {root}: unreadable ({e}); remove it to rebuild") from None
    if d.get("version") != INDEX_VERSION:
        raise OfedError(f"exporter index {root}: version {d.get('version')}, expected {INDEX_VERSION}")
    return SourceIndex(root, root.name, {k: tuple(v) for k, v in d["exports"].items()}, frozenset(d["kept"]))


def fetch_index(cache, target, headers_version: str | None, arch: str, roots: tuple[str, ...],
                offline: bool = False) -> SourceIndex:
    """The exporter index of the target's own linux-source (the upload its headers came from)."""
    import hashlib

    from .sources.debian import target_source_package
    apt, pkg, version = target_source_package(cache, target, headers_version, offline)
    key = hashlib.sha256(json.dumps([INDEX_VERSION, arch, list(roots)]).encode()).hexdigest()[:8]
    rel = f"exports/{pkg}_{version}-{key}"
    entry = cache.get(rel, "content")  # verified like every entry (cheap: an index of symbols)
    if entry is None:
        deb = apt.download(pkg, version)
        with ui.stage("fetch", f"index of {pkg} {version}'s exported symbols (for the ABI gate)"):
            entry = cache.ensure(rel, lambda tmp: build_index(deb.path, arch, roots, tmp), kind="content")
    return load_index(entry)
