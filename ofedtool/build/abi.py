"""The ABI gate: code we do not rebuild must not read our RDMA structures with the target's layout.

modversions protects the imports between our own modules (binding.py), but not an import
from vmlinux or a distro module: the CRC our module records for it is the target's own, so it
loads, and then the target's code dereferences our structures at its offsets. Debian 11/12's
built-in blk_mq_rdma_map_queues() reading our struct ib_device oopsed the first NVMe-oF
connect that way.

For every symbol a module we built imports from code we do not rebuild, and whose defining
file can see an RDMA header (exports.py), the file is preprocessed twice with the flags our
objects were compiled with: once over the target's headers alone, which must reproduce the
target's Module.symvers CRC (proof that the method sees what kbuild saw), and once over ours
(the backported include/ and compat/ first, as in our objects). genksyms gives each pass's CRC
and expanded types; a different CRC means the symbol's types reach a structure laid out
differently, and the structures are named from the two type dumps.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .binding import dump_modversions, read_symvers
from ..errors import OfedError
from ..fetch.exports import SourceIndex
from ..fetch.kbuild import config_values

_CRC = re.compile(r"(?:#SYMVER\s+(\w+)\s+|__crc_(\w+)\s*=\s*)(0x[0-9a-fA-F]+)")
_TYPEREF = re.compile(r"\b([stue])#(\w+)")
_KIND = {"s": "struct", "u": "union", "e": "enum", "t": "typedef"}


@dataclass(frozen=True)
class Hazard:
    symbol: str
    importers: tuple[str, ...]   # our modules that import it
    exporter: str                # vmlinux or the distro module's name
    source: str                  # the target's file defining it
    types: tuple[str, ...]       # differing types reachable from it, nearest first ("struct ib_device")
    ours: int                    # the CRC over our headers
    target: int                  # the target's CRC (its Module.symvers)

    @property
    def message(self) -> str:
        what = ", ".join(self.types[:4]) or "its types"
        return (f"{self.symbol} from {self.exporter} ({self.source}) reaches {what} laid out differently by our "
                f"headers (CRC {self.ours:#010x} over ours, {self.target:#010x} in the target): code we do not "
                f"rebuild would read our structures at the target's offsets; redirect the importers to our own copy "
                f"(a compat header, as backports/compat/include/linux/blk-mq-rdma.h does)")


@dataclass(frozen=True)
class Unverified:
    symbol: str
    importers: tuple[str, ...]
    source: str
    why: str


@dataclass(frozen=True)
class AbiReport:
    imports: int                  # imports from code we do not rebuild
    compared: tuple[str, ...]     # symbols whose CRCs were recomputed (their files see RDMA headers)
    hazards: tuple[Hazard, ...] = ()
    unverified: tuple[Unverified, ...] = field(default_factory=tuple)
    # CRC differs, but only through types the exporter sees behind a pointer it is handed
    # inside another structure (rds_transport's callbacks naming rdma_cm_event): reported, not failed
    behind_pointers: tuple[Hazard, ...] = ()
    # CRC differs, but every call of ours goes through a compat redirect that hands the target
    # no RDMA structure (OFED_ABI_REDIRECTED_<symbol>, e.g. compat/include/net/devlink.h)
    redirected: tuple[Hazard, ...] = ()

    def as_dict(self) -> dict:
        def row(h: Hazard) -> dict:
            return {"symbol": h.symbol, "importers": list(h.importers), "exporter": h.exporter, "source": h.source,
                    "types": list(h.types), "ours": f"{h.ours:#010x}", "target": f"{h.target:#010x}"}
        return {"imports": self.imports, "compared": list(self.compared),
                "hazards": [row(h) for h in self.hazards],
                "behind_pointers": [row(h) for h in self.behind_pointers],
                "redirected": [row(h) for h in self.redirected],
                "unverified": [u.__dict__ | {"importers": list(u.importers)} for u in self.unverified]}


def foreign_imports(tree: Path, kos: list[Path], target_symvers: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    """symbol → (exporter, importing modules) for every import of `kos` that our tree does not
    export and the target does."""
    ours = read_symvers(tree / "Module.symvers")
    target = read_symvers(target_symvers)
    users: dict[str, list[str]] = defaultdict(list)
    for ko in kos:
        for sym in dump_modversions(ko):
            if sym not in ours and sym in target:
                users[sym].append(ko.name.removesuffix(".ko"))
    return {s: (target[s].module.rsplit("/", 1)[-1], tuple(sorted(u))) for s, u in sorted(users.items())}


def compile_args(tree: Path) -> list[str]:
    """The compiler command our objects were built with (a kbuild .o.cmd in the tree), without
    its input, output and per-object parts: what preprocessing another file needs."""
    # A source object's, not a .mod.o's (modpost's generated C gets other per-object flags).
    for cmd in sorted(c for c in tree.rglob(".*.o.cmd") if not c.name.endswith(".mod.o.cmd")):
        first = cmd.read_text(errors="replace").split("\n", 1)[0]
        if ":=" not in first or " -c " not in first:
            continue
        # The line runs the compiler, then objtool and friends after ';'.
        argv = shlex.split(first.split(":=", 1)[1].split(" ; ")[0])
        out, skip = [], False
        for a in argv:
            if skip:
                skip = False
            elif a == "-o":
                skip = True
            elif a == "ccache" or a == "-c" or a.endswith((".c", ".S")) or a.startswith(
                    ("-Wp,-MMD", "-Wp,-MD", "-DKBUILD_", "-D__KBUILD_MODNAME")):
                continue
            else:
                out.append(a)
        return out
    raise OfedError(f"{tree}: no compiled object's command (.o.cmd) to take the compiler flags from")


def pass_args(args: list[str], tree: Path, ours: bool, module: bool) -> list[str]:
    """The flags for one pass: the target's own (our include dirs and compat.h taken out), or
    ours (the backported include/ and compat/ ahead of the kernel's, compat.h forced in), as
    our objects are compiled; -DMODULE only for an exporter that is a module."""
    top = str(tree).rstrip("/") + "/"
    base, skip, std = [], False, False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a.startswith("-I" + top) or (a == "-I" and i + 1 < len(args) and args[i + 1].startswith(top)):
            skip = a == "-I"
            continue
        if a == "-include" and i + 1 < len(args) and args[i + 1].startswith(top):
            skip = True
            continue
        if a.startswith("-std="):
            if std:        # ours (gnu11 over a gnu89 kernel) comes second: the target's is the first
                continue
            std = True
        if a == "-DMODULE" and not module:
            continue
        base.append(a)
    if not ours:
        return base
    return (base[:1] + [f"-I{tree}/compat/include", f"-I{tree}/include", f"-I{tree}/include/uapi"] + base[1:]
            + ["-include", str(tree / "compat" / "compat.h")])


@dataclass(frozen=True)
class _Pass:
    crcs: dict[str, int]
    types: dict[str, str]


def _genksyms_pass(cc_args: list[str], src: Path, cwd: Path, genksyms: Path) -> _Pass:
    pp = subprocess.run(cc_args + ["-E", "-D__GENKSYMS__", str(src)], cwd=cwd, capture_output=True, text=True)
    if pp.returncode != 0:
        err = next((ln for ln in pp.stderr.splitlines() if "error" in ln), pp.stderr.strip()[-200:])
        raise _Fail(f"preprocessing failed: {err}")
    with tempfile.NamedTemporaryFile("r", suffix=".symtypes") as t:
        g = subprocess.run([str(genksyms), "-r", "/dev/null", "-T", t.name], input=pp.stdout,
                           capture_output=True, text=True)
        if g.returncode != 0:
            raise _Fail(f"genksyms failed: {g.stderr.strip()[-200:]}")
        types = {}
        for line in t.read().splitlines():
            key, _, body = line.partition(" ")
            types[key] = body
    crcs = {m.group(1) or m.group(2): int(m.group(3), 16) for m in _CRC.finditer(g.stdout)}
    return _Pass(crcs, types)


class _Fail(Exception):
    pass


def differing_types(symbol: str, ours: dict[str, str], target: dict[str, str]) -> tuple[str, ...]:
    """Types reachable from `symbol` in our dump whose expansion differs from the target's,
    nearest first."""
    order, seen, todo = [], {symbol}, [symbol]
    while todo:
        nxt = []
        for key in todo:
            for kind, name in _TYPEREF.findall(ours.get(key, "")):
                ref = f"{kind}#{name}"
                if ref not in seen:
                    seen.add(ref)
                    nxt.append(ref)
                    if ours.get(ref) != target.get(ref):
                        order.append(f"{_KIND[kind]} {name}")
        todo = nxt
    return tuple(order)


def layout_types(symbol: str, types: dict[str, str]) -> set[str]:
    """The types whose layout the code defining `symbol` relies on: those its prototype names
    (by value or through the pointer it is handed) and, recursively, what they embed by value.
    A type reached only through a pointer member of another structure is not among them: the
    exporter stores or passes such a pointer, but reads the target's layout only if it
    dereferences it, which no type can tell."""
    def embedded(body: str) -> set[str]:
        out, member = set(), []
        for tok in body.split():
            if tok in (";", "{", "}"):
                if tok == ";" and "*" not in member:
                    out.update(f"{k}#{n}" for k, n in _TYPEREF.findall(" ".join(member)))
                member = []
            else:
                member.append(tok)
        if member and "*" not in member:  # a typedef's body has no ';'
            out.update(f"{k}#{n}" for k, n in _TYPEREF.findall(" ".join(member)))
        return out

    seen = {f"{k}#{n}" for k, n in _TYPEREF.findall(types.get(symbol, ""))}
    todo = list(seen)
    while todo:
        for ref in embedded(types.get(todo.pop(), "")):
            if ref not in seen:
                seen.add(ref)
                todo.append(ref)
    return seen


def check_abi(tree: Path, kos: list[Path], build_dir: Path, index: SourceIndex) -> AbiReport:
    """Compare, for every import of our modules `kos` from code we do not rebuild, the CRC of
    its type over our headers with the target's."""
    tree, build_dir = Path(tree), Path(build_dir)
    imports = foreign_imports(tree, kos, build_dir / "Module.symvers")
    target = read_symvers(build_dir / "Module.symvers")
    genksyms = build_dir / "scripts" / "genksyms" / "genksyms"
    by_file: dict[str, list[str]] = defaultdict(list)
    for sym in imports:
        for f in index.candidates(sym):
            by_file[f].append(sym)
    if not by_file:
        return AbiReport(len(imports), ())
    if not genksyms.is_file():
        raise OfedError(f"{genksyms} is missing: the target's kbuild cannot check modversions CRCs")
    args = compile_args(tree)
    config = config_values(build_dir)
    passes: dict[str, tuple[_Pass, _Pass] | str] = {}
    for f, syms in sorted(by_file.items()):
        module = imports[syms[0]][0] != "vmlinux"
        try:
            # After the kernel's flags, as kbuild puts a Makefile's ccflags after LINUXINCLUDE
            passes[f] = tuple(_genksyms_pass(pass_args(args, tree, ours, module) + index.cflags(f, config),
                                             index.files_dir / f, build_dir, genksyms) for ours in (False, True))
        except _Fail as e:
            passes[f] = str(e)
    shields = redirected(tree, args, build_dir)
    hazards, unverified, compared, behind, shielded = [], [], [], [], []
    for sym, (exporter, users) in imports.items():
        files = index.candidates(sym)
        if not files:
            continue
        want = target[sym].crc
        # The file whose target pass reproduces the target's CRC is the one kbuild compiled.
        done = False
        whys = []
        for f in files:
            p = passes[f]
            if isinstance(p, str):
                whys.append(f"{f}: {p}")
                continue
            theirs, ours = p
            if theirs.crcs.get(sym) != want:
                whys.append(f"{f}: the target's headers give CRC "
                            f"{theirs.crcs[sym]:#010x}" if sym in theirs.crcs else f"{f}: genksyms gave no CRC")
                continue
            done = True
            compared.append(sym)
            if ours.crcs.get(sym) != want:
                diff = differing_types(sym, ours.types, theirs.types)
                layout = layout_types(sym, ours.types)
                laid = tuple(t for t in diff if _ref(t) in layout)
                h = Hazard(sym, users, exporter, f, laid or diff, ours.crcs.get(sym, 0), want)
                (behind if not laid else shielded if sym in shields else hazards).append(h)
            break
        if not done:
            unverified.append(Unverified(sym, users, ", ".join(files),
                                         f"cannot reproduce the target's CRC {want:#010x} ({'; '.join(whys)})"))
    return AbiReport(len(imports), tuple(compared), tuple(hazards), tuple(unverified), tuple(behind), tuple(shielded))


_REDIRECTED = re.compile(r"^#define OFED_ABI_REDIRECTED_(\w+) (.*)$", re.M)


def redirected(tree: Path, args: list[str], cwd: Path) -> dict[str, str]:
    """symbol → why, for the imports whose every call our compat headers redirect so that the
    target is handed no RDMA structure: the OFED_ABI_REDIRECTED_<symbol> macros those headers
    define under this tree's config.h, read with our objects' own flags (a redirect switched
    off, on X -> X or where its probe misses, defines none). Fails safe: a header that cannot
    be preprocessed shields nothing."""
    inc = tree / "compat" / "include"
    hdrs = [h for h in sorted(inc.rglob("*.h")) if "OFED_ABI_REDIRECTED_" in h.read_text(errors="replace")]
    if not hdrs:
        return {}
    src = "".join(f"#include <{h.relative_to(inc)}>\n" for h in hdrs)
    pp = subprocess.run(pass_args(args, tree, True, True) + ["-E", "-dM", "-x", "c", "-"], input=src, cwd=cwd,
                        capture_output=True, text=True)
    if pp.returncode != 0:
        return {}
    return {m.group(1): m.group(2).strip().strip('"') for m in _REDIRECTED.finditer(pp.stdout)}


def _ref(name: str) -> str:
    """"struct ib_device" → "s#ib_device" (differing_types' words back to genksyms' keys)."""
    kind, _, n = name.partition(" ")
    return f"{next(k for k, v in _KIND.items() if v == kind)}#{n}"
