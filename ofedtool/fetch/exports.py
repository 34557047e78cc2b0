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

import functools
import json
import posixpath
import re
import subprocess
import tarfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .. import ui
from ..errors import OfedError

_INCLUDE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]', re.M)
_EXPORT = re.compile(rb"^[ \t]*EXPORT_SYMBOL(?:_GPL|_NS|_NS_GPL|_GPL_FUTURE)?[ \t]*\([ \t]*(\w+)", re.M)
# Trees that never hold a module's or vmlinux's exporter.
_SKIP = ("Documentation/", "tools/", "samples/", "scripts/", "usr/")
# 2: per exporting file, the include dirs and defines of the kbuild Makefile that builds it
INDEX_VERSION = 2
_MAKEFILES = ("Makefile", "Kbuild")
_FLAGS_LINE = re.compile(r"^[ \t]*(subdir-ccflags|ccflags|CFLAGS_([\w.-]+)\.o)(?:-y|-\$\((CONFIG_\w+)\))?[ \t]*[+:]?=(.*)$",
                         re.M)
_OBJ = re.compile(r"(?<![\w/.-])([\w/.-]+)\.o\b")


@dataclass(frozen=True)
class SourceIndex:
    """The exporters of one target source release: exports[symbol] = the files defining it, and
    kept = the exporting files that can see an RDMA header (under files_dir, with their local
    headers)."""
    root: Path
    version: str
    exports: dict[str, tuple[str, ...]]
    kept: frozenset[str]
    # kept file → the flags its kbuild Makefile adds: ("-I", dir) with dir relative to the source
    # (files_dir here) or ("-D", macro), and the CONFIG_ symbol they need ("" for none:
    # ccflags-$(CONFIG_RDS_DEBUG) is only for a kernel configured with it)
    flags: dict[str, tuple[tuple[str, str, str], ...]] = field(default_factory=dict)

    @property
    def files_dir(self) -> Path:
        return self.root / "files"

    def candidates(self, symbol: str) -> tuple[str, ...]:
        return tuple(f for f in self.exports.get(symbol, ()) if f in self.kept)

    def cflags(self, path: str, config: dict[str, str]) -> list[str]:
        """The Makefile's flags for one kept file under the target's .config (`config`: CONFIG_X
        → its value), as compiler arguments over files_dir."""
        return [f"-I{self.files_dir / v}" if k == "-I" else f"-D{v}" for k, v, cond in self.flags.get(path, ())
                if not cond or config.get(cond) in ("y", "m")]


def makefile_flags(text: str, mdir: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]], dict[str, list]]:
    """A kbuild Makefile's (subdir-ccflags, ccflags, CFLAGS_<obj>.o) as ("-I", dir, cond) and
    ("-D", macro, cond), cond the CONFIG_ symbol of a ccflags-$(CONFIG_X) ("" for -y and plain
    ones); $(src), $(obj) and $(srctree) resolved against its directory `mdir`. A word
    naming anything else of make ($(call ...), a variable) is left out: what the flags are for
    here is preprocessing the file, and a missing flag is caught (the target's CRC is not
    reproduced), a wrong one is not."""
    text = re.sub(r"\\\n", " ", text)
    sub, own, per = [], [], defaultdict(list)
    for m in _FLAGS_LINE.finditer(text):
        cond = m.group(3) or ""
        words = m.group(4).replace("$(srctree)/$(src)", mdir or ".").replace("$(src)", mdir or ".") \
            .replace("$(obj)", mdir or ".").replace("$(srctree)/", "").replace("$(srctree)", ".").split()
        out = []
        i = 0
        while i < len(words):
            w = words[i]
            if w in ("-I", "-D") and i + 1 < len(words):
                w = w + words[i + 1]
                i += 1
            i += 1
            if "$" in w or not w.startswith(("-I", "-D")) or len(w) == 2:
                continue
            v = w[2:]
            out.append(("-I", posixpath.normpath(v), cond) if w.startswith("-I") else ("-D", v, cond))
        if m.group(1) == "subdir-ccflags":
            sub += out
        elif m.group(2):
            per[m.group(2)] += out
        else:
            own += out
    return sub, own, dict(per)


def file_flags(path: str, makefiles: dict[str, str]) -> tuple[tuple[str, str, str], ...]:
    """The flags kbuild compiles `path` with: the subdir-ccflags of every Makefile from the top
    down to the one that builds it (the nearest one listing its object: mlx5_core's Makefile
    builds lib/clock.o and steering/*.o from one directory), that one's ccflags and its
    CFLAGS_<name>.o."""
    d = posixpath.dirname(path)
    builder = None
    cand = d
    while True:
        if cand in makefiles:
            rel = posixpath.relpath(path, cand or ".")[: -len(".c")] if path.endswith(".c") else None
            if rel is None or rel in _objects(makefiles[cand]):
                builder = cand
                break
        if not cand:
            break
        cand = posixpath.dirname(cand)
    if builder is None:
        builder = next((a for a in _ancestors(d) if a in makefiles), None)
        if builder is None:
            return ()
    out: list[tuple[str, str, str]] = []
    for a in reversed(_ancestors(builder)):
        if a in makefiles and a != builder:
            out += makefile_flags(makefiles[a], a)[0]
    sub, own, per = makefile_flags(makefiles[builder], builder)
    out += sub + own + per.get(posixpath.basename(path).rsplit(".", 1)[0], [])
    return tuple(dict.fromkeys(out))


@functools.lru_cache(maxsize=None)
def _objects(text: str) -> frozenset[str]:
    return frozenset(_OBJ.findall(text))


def _ancestors(d: str) -> list[str]:
    """d, its parent, ... up to "" (the top), nearest first."""
    out = [d]
    while d:
        d = posixpath.dirname(d)
        out.append(d)
    return out


def resolve_include(including: str, kind: str, name: str, files: set[str] | dict, arch: str,
                    dirs: tuple[str, ...] = ()) -> str | None:
    """The source path an #include names: "x" beside the including file first, then the
    kernel's include path for <x> (include/, arch/<arch>/include/, and their uapi/), then the
    Makefile's -I dirs (`dirs`)."""
    if kind == '"':
        p = posixpath.normpath(posixpath.join(posixpath.dirname(including), name))
        if p in files:
            return p
    for base in ("include", f"arch/{arch}/include", "include/uapi", f"arch/{arch}/include/uapi", *dirs):
        p = posixpath.normpath(f"{base}/{name}")
        if p in files:
            return p
    return None


def reaching(includes: dict[str, list[tuple[str, str]]], roots: tuple[str, ...], arch: str,
             dirs: dict[str, tuple[str, ...]] | None = None) -> set[str]:
    """Every file whose include graph reaches a file under one of `roots` (paths or directory
    prefixes such as include/rdma), the roots themselves included. dirs: a file's Makefile -I
    dirs (mlx5_core's "mlx5_core.h" from lib/clock.c)."""
    back: dict[str, set[str]] = defaultdict(set)
    for f, incs in includes.items():
        extra = (dirs or {}).get(f, ())
        for kind, name in incs:
            p = resolve_include(f, kind, name, includes, arch, extra)
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


def local_closure(start: str, includes: dict[str, list[tuple[str, str]]], arch: str,
                  dirs: tuple[str, ...] = ()) -> set[str]:
    """`start` and the files its quoted includes pull in that are not on the kernel's include
    path (block/blk-mq.h beside block/blk-mq-rdma.c): what preprocessing it needs beyond the
    headers package. dirs: its Makefile's -I dirs, whose headers count as local too (and are
    all taken: a trace header is included by a macro, TRACE_INCLUDE_PATH, no #include names)."""
    out, todo = {start}, [start]
    for d in dirs:
        if not d.startswith(("include/", f"arch/{arch}/include")) and d not in ("include", "."):
            more = {f for f in includes if f.endswith(".h") and f.startswith(d.rstrip("/") + "/")}
            todo += sorted(more - out)
            out |= more
    while todo:
        f = todo.pop()
        for kind, name in includes.get(f, ()):
            if kind != '"' and not dirs:
                continue
            p = resolve_include(f, kind, name, includes, arch, dirs)
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
    makefiles: dict[str, str] = {}
    proc = _stream_tar(deb)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
            for m in tf:
                if not m.isfile() or "/" not in m.name:
                    continue
                name = m.name.split("/", 1)[1]
                if name.startswith(_SKIP) or (name.startswith("arch/") and not name.startswith(f"arch/{arch}/")):
                    continue
                if posixpath.basename(name) in _MAKEFILES:
                    # Kbuild wins over Makefile in one directory, as kbuild reads it first
                    d = posixpath.dirname(name)
                    if d not in makefiles or name.endswith("Kbuild"):
                        makefiles[d] = tf.extractfile(m).read().decode(errors="replace")
                    continue
                if not name.endswith((".c", ".h")):
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
    exporting = sorted({f for fs in exports.values() for f in fs})
    flags = {f: file_flags(f, makefiles) for f in exporting}
    dirs = {f: tuple(v for k, v, _ in fl if k == "-I") for f, fl in flags.items()}
    seen = reaching(includes, roots, arch, dirs)
    kept = sorted(f for f in exporting if f in seen)
    need = sorted(set().union(*(local_closure(f, includes, arch, dirs[f]) for f in kept)) if kept else set())
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
         "exports": {k: sorted(v) for k, v in sorted(exports.items())}, "kept": kept,
         "flags": {f: [list(x) for x in flags[f]] for f in kept if flags[f]}}, sort_keys=True) + "\n")


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
    return SourceIndex(root, root.name, {k: tuple(v) for k, v in d["exports"].items()}, frozenset(d["kept"]),
                       {f: tuple((k, v, c) for k, v, c in fl) for f, fl in d.get("flags", {}).items()})


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
