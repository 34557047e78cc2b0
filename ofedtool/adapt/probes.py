"""Feature probes: load backports/probes/*.toml, answer them against a target build tree, cache, render config.h.

Three kinds (backports/README.md, "Probes"): a header that exists, C code that compiles,
a symbol the target exports. Symbols are answered from Module.symvers and headers from the
include path, neither compiles anything; only code probes go through the target's kbuild.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from .. import jobserver, kbuildlog, ui
from ..fetch.cache import atomic_write, json_digest
from ..errors import OfedError
from ..fetch.kbuild import KernelTree, make_args, source_dir, tree_id

# Bump when the way a probe is compiled changes (flags, wrapper code): old cache entries
# then no longer match any digest and are simply recomputed.
ENGINE = "probes-2"

_KEYS = {"name", "header", "includes", "code", "toplevel", "symbol", "doc"}
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")

# Most code probes in one translation unit. Larger batches parse the shared headers fewer
# times but lose parallelism and cost more to re-check when one member fails.
MAX_BATCH = 64
# After this many rounds every still-undecided probe is compiled on its own.
_MAX_ROUNDS = 4


@dataclass(frozen=True)
class Probe:
    name: str
    kind: str  # "header" | "compile" | "symbol"
    source: str  # the file it came from, e.g. probes/mm.toml
    header: str = ""
    includes: tuple[str, ...] = ()
    code: str = ""
    toplevel: str = ""
    symbol: str = ""
    doc: str = ""

    def digest(self) -> str:
        """Cache key: what decides the answer. Not the name (a rename keeps its result) nor doc."""
        fields = [ENGINE, self.kind, self.header, "\0".join(self.includes), self.toplevel, self.code, self.symbol]
        return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


@dataclass
class ProbeRun:
    results: dict[str, bool]
    ran: int
    cached: int
    seconds: float
    tree_id: str
    # per-name one-line reason for a code probe that missed (first compiler error); for reports
    why: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- loading


def load_probes(probe_dir: Path) -> list[Probe]:
    probe_dir = Path(probe_dir)
    if not probe_dir.is_dir():
        raise OfedError(f"probe directory {probe_dir} does not exist")
    probes: dict[str, Probe] = {}
    for path in sorted(probe_dir.glob("*.toml")):
        source = f"{probe_dir.name}/{path.name}"
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise OfedError(f"{source}: invalid TOML: {exc}") from None
        extra = set(data) - {"probe"}
        if extra:
            raise OfedError(f"{source}: unknown top-level key {sorted(extra)[0]!r} (expected [[probe]] tables)")
        entries = data.get("probe", [])
        if not isinstance(entries, list):
            raise OfedError(f"{source}: 'probe' must be an array of tables ([[probe]])")
        for index, entry in enumerate(entries, 1):
            probe = _parse(entry, source, index)
            if probe.name in probes:
                raise OfedError(
                    f"probe {probe.name} in {source}: duplicate name, also defined in {probes[probe.name].source}"
                )
            probes[probe.name] = probe
    return sorted(probes.values(), key=lambda p: p.name)


def _parse(entry: dict, source: str, index: int) -> Probe:
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise OfedError(f"probe #{index} in {source}: missing 'name'")
    where = f"probe {name} in {source}"
    if not _NAME.match(name):
        raise OfedError(f"{where}: name must be an upper-case C identifier (HAVE_...)")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise OfedError(f"{where}: unknown key {unknown[0]!r}")
    for key in _KEYS - {"includes"}:
        if key in entry and not isinstance(entry[key], str):
            raise OfedError(f"{where}: {key!r} must be a string")
    includes = entry.get("includes", [])
    if not isinstance(includes, list) or not all(isinstance(i, str) and i for i in includes):
        raise OfedError(f"{where}: 'includes' must be a list of header names")
    kinds = [key for key in ("header", "code", "symbol") if key in entry]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        raise OfedError(f"{where}: needs exactly one of header, code, symbol (found {found})")
    kind = {"header": "header", "code": "compile", "symbol": "symbol"}[kinds[0]]
    if kind != "compile" and ("includes" in entry or "toplevel" in entry):
        raise OfedError(f"{where}: 'includes' and 'toplevel' only apply to a code probe")
    if kind == "compile":
        if not entry["code"].strip() and not entry.get("toplevel", "").strip():
            raise OfedError(f"{where}: 'code' is empty")
        # A batch compiles many probes in one file: an unbalanced brace would swallow its
        # neighbours and blame them, so refuse it here rather than misreport later.
        for key in ("toplevel", "code"):
            if _unbalanced(entry.get(key, "")):
                raise OfedError(f"{where}: unbalanced (), [] or {{}} in {key!r}")
    elif not entry[kinds[0]].strip():
        raise OfedError(f"{where}: {kinds[0]!r} is empty")
    return Probe(
        name=name,
        kind=kind,
        source=source,
        header=entry.get("header", "").strip(),
        includes=tuple(includes),
        code=entry.get("code", ""),
        toplevel=entry.get("toplevel", ""),
        symbol=entry.get("symbol", "").strip(),
        doc=entry.get("doc", ""),
    )


_TOKENS = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|[()\[\]{}]', re.S)
_PAIRS = {")": "(", "]": "[", "}": "{"}


def _unbalanced(c_text: str) -> bool:
    stack: list[str] = []
    for tok in _TOKENS.findall(c_text):
        if tok in "([{":
            stack.append(tok)
        elif tok in _PAIRS:
            if not stack or stack.pop() != _PAIRS[tok]:
                return True
    return bool(stack)


# ---------------------------------------------------------------- running


def run_probes(probes: list[Probe], tree: KernelTree, cache_dir: Path, jobs: int) -> ProbeRun:
    t0 = time.monotonic()
    tid = tree_id(tree.build_dir)
    cache = _Cache(Path(cache_dir) / "probes" / f"{tid}.json", tid, tree.cc)
    results, todo = _split(probes, cache.load())
    why: dict[str, str] = {}
    if todo:
        # One run answers a tree's missing probes at a time: a second run (two builds of the same
        # target on a fresh cache) waits for the first's answers instead of compiling them again.
        with cache.running(tree.release):
            results, todo = _split(probes, cache.load())
            if todo:
                fresh, why = _answer(todo, tree, jobs)
                results.update(fresh)
                cache.store({p.digest(): fresh[p.name] for p in todo})
    run = ProbeRun(
        results=dict(sorted(results.items())),
        ran=len(todo),
        cached=len(probes) - len(todo),
        seconds=time.monotonic() - t0,
        tree_id=tid,
        why=why,
    )
    ui.info(f"probes: {len(probes)} total, {run.ran} ran, {run.cached} cached, {run.seconds:.1f} s")
    return run


def _split(probes: list[Probe], known: dict[str, bool]) -> tuple[dict[str, bool], list[Probe]]:
    """(answers known for these probes, the probes still to run)."""
    results: dict[str, bool] = {}
    todo: list[Probe] = []
    for probe in probes:
        hit = known.get(probe.digest())
        if hit is None:
            todo.append(probe)
        else:
            results[probe.name] = hit
    return results, todo


def _answer(probes: list[Probe], tree: KernelTree, jobs: int) -> tuple[dict[str, bool], dict[str, str]]:
    results: dict[str, bool] = {}
    why: dict[str, str] = {}
    symbols = [p for p in probes if p.kind == "symbol"]
    if symbols:
        exported = _exported_symbols(tree.build_dir / "Module.symvers")
        results.update({p.name: p.symbol in exported for p in symbols})
    include_dirs = _include_dirs(tree)
    found = _HeaderLookup(include_dirs)
    compile_probes = []
    for p in probes:
        if p.kind == "header":
            results[p.name] = found(p.header)
        elif p.kind == "compile":
            # A missing include can only fail, and it would be a fatal error that stops the
            # whole batch, so answer it without the compiler.
            absent = [h for h in p.includes if not found(h)]
            if absent:
                results[p.name] = False
                why[p.name] = f"no header {absent[0]}"
            else:
                compile_probes.append(p)
    if compile_probes:
        compiled, reasons = _Compiler(tree, jobs).run(compile_probes)
        results.update(compiled)
        why.update(reasons)
    return results, why


def _exported_symbols(symvers: Path) -> set[str]:
    from ..fetch.kbuild import read_symvers
    return set(read_symvers(symvers))


def _include_dirs(tree: KernelTree) -> list[Path]:
    """kbuild's LINUXINCLUDE, in its order (the same since the uapi split in 3.7)."""
    src, obj, arch = source_dir(tree.build_dir), tree.build_dir, tree.arch
    return [
        src / "arch" / arch / "include",
        obj / "arch" / arch / "include" / "generated",
        src / "include",
        obj / "include",
        src / "arch" / arch / "include" / "uapi",
        obj / "arch" / arch / "include" / "generated" / "uapi",
        src / "include" / "uapi",
        obj / "include" / "generated" / "uapi",
    ]


class _HeaderLookup:
    def __init__(self, include_dirs: list[Path]):
        self._dirs = [d for d in dict.fromkeys(include_dirs) if d.is_dir()]
        self._memo: dict[str, bool] = {}

    def __call__(self, header: str) -> bool:
        if header not in self._memo:
            self._memo[header] = any((d / header).is_file() for d in self._dirs)
        return self._memo[header]


# Why each flag (added after the kernel's own flags, so they win):
#  -Wno-error: a CONFIG_WERROR kernel would turn any harmless warning in a probe (an unused
#     variable) into a miss; specific -Werror= below survive it.
#  -Werror=implicit-function-declaration, =int-conversion: a function the target lacks must
#     fail the probe, not compile as an implicit int (gcc < 14 only warns on 5.10/6.1 trees).
#  -Werror=incompatible-pointer-types: callback-signature probes (u8 vs u32 port, const
#     struct device *) assign a function to a pointer of the expected type.
#  -Werror=discarded-qualifiers: "takes a const pointer" probes pass a const object; 6.1's
#     class_register(struct class *) only warns on a const class and would write to it.
#  -Werror=return-type, =implicit-int: the probe body must be well-formed C.
#  -g0: no debug info, nobody reads these objects; saves ~6% per object.
_CFLAGS = (
    "-Wno-error -Werror=implicit-function-declaration -Werror=int-conversion "
    "-Werror=incompatible-pointer-types -Werror=discarded-qualifiers "
    "-Werror=return-type -Werror=implicit-int -g0"
)

_CANARY = "ofedtool_canary"
_PROBE_FN = re.compile(r"In function .ofed_probe_(?P<name>[A-Z0-9_]+).")
_INLINED = re.compile(r"^\s+inlined from .ofed_probe_(?P<name>[A-Z0-9_]+).")
_PROBE_FILE = re.compile(r"(?:^|/)probe-(?P<name>[A-Z0-9_]+)\.c$")
_IMPLICIT = re.compile(r"implicit declaration of (?:built-in )?function .([A-Za-z_][A-Za-z0-9_]*).")


@dataclass
class _Batch:
    stem: str
    probes: list[Probe]


class _Compiler:
    """Code probes, batched: probes with the same includes share a translation unit.

    Each probe becomes its own function, preceded by `#line 1 "probe-NAME.c"`, so gcc names
    the probe in every diagnostic it causes. A batch that compiles proves all its probes.
    A batch that fails: the probes gcc blamed miss. The others hit if every error was a
    -Werror= warning; after a real error gcc skips its middle end, where BUILD_BUG_ON and
    other compile-time asserts fire, so they are compiled again without the guilty ones.
    Failures nobody can be blamed for, and blame that a neighbour's top-level code could
    have caused (a clashing definition), are settled by compiling the probe alone.
    """

    def __init__(self, tree: KernelTree, jobs: int):
        self.tree = tree
        self.jobs = max(1, jobs)

    def run(self, probes: list[Probe]) -> tuple[dict[str, bool], dict[str, str]]:
        results: dict[str, bool] = {}
        why: dict[str, str] = {}
        # alone: compiled in a translation unit of its own. isolated: batched only with probes
        # that have no top-level code, so no neighbour's definition can be what broke it.
        pending, alone, isolated = list(probes), set(), set()
        with tempfile.TemporaryDirectory(prefix="ofedtool-probes-") as tmp:
            work = Path(tmp)
            if re.search(r"[\s:]", str(work)):
                raise OfedError(f"temporary directory {work} has a space or colon, which kbuild's M= cannot take")
            for rnd in range(1, _MAX_ROUNDS + 2):
                if rnd > _MAX_ROUNDS:
                    alone |= {p.name for p in pending}
                batches = self._plan(pending, alone, rnd, isolated)
                t0 = time.monotonic()
                built, blamed = self._build(work, batches, canary=(rnd == 1))
                ui.debug(
                    f"probe round {rnd}: {len(pending)} probes in {len(batches)} objects, "
                    f"{sum(b.stem in built for b in batches)} built, {time.monotonic() - t0:.1f} s"
                )
                pending = []
                for batch in batches:
                    if batch.stem in built:
                        results.update({p.name: True for p in batch.probes})
                        continue
                    if len(batch.probes) == 1:
                        p = batch.probes[0]
                        results[p.name] = False
                        why[p.name] = blamed.first.get(p.name, "failed to compile")
                        continue
                    guilty = [p for p in batch.probes if p.name in blamed.first]
                    if not guilty:
                        alone |= {p.name for p in batch.probes}
                        pending += batch.probes
                        continue
                    # Only -Werror= failures: gcc still checked everyone else to the end. Except
                    # an implicit declaration, which gcc reports once per file: a second probe
                    # calling the same missing function compiled silently.
                    complete = not (
                        blamed.unattributed_hard or any(p.name in blamed.hard or p.name in blamed.implicit for p in guilty)
                    )
                    undeclared = set().union(*(blamed.implicit.get(p.name, set()) for p in guilty))
                    for p in batch.probes:
                        if p not in guilty:
                            if complete:
                                results[p.name] = True
                            else:
                                if _mentions(p, undeclared):
                                    alone.add(p.name)
                                pending.append(p)
                        elif any(q.toplevel.strip() for q in batch.probes if q is not p):
                            # Blame a neighbour's top-level code could have caused: compile it again
                            # among probes without top-level code (alone, if it has some itself).
                            # Batching these instead of compiling each alone saved ~half the CPU
                            # of a cold run of the breadth suite on a 5.10/6.1 target.
                            (alone if p.toplevel.strip() else isolated).add(p.name)
                            pending.append(p)
                        else:
                            results[p.name] = False
                            why[p.name] = blamed.first[p.name]
                if not pending:
                    break
        return results, why

    def _plan(self, probes: list[Probe], alone: set[str], rnd: int, isolated: set[str] = frozenset()) -> list[_Batch]:
        groups: dict[tuple, list[Probe]] = {}
        chunks: list[list[Probe]] = []
        for p in sorted(probes, key=lambda p: p.name):
            if p.name in alone:
                chunks.append([p])
            elif p.name in isolated:
                groups.setdefault(("\0isolated", *p.includes), []).append(p)
            else:
                groups.setdefault(p.includes, []).append(p)
        for key in sorted(groups):
            members = groups[key]
            for start in range(0, len(members), MAX_BATCH):
                chunks.append(members[start : start + MAX_BATCH])
        # Fewer translation units than jobs leaves cores idle: split the largest.
        while len(chunks) < self.jobs:
            chunks.sort(key=len, reverse=True)
            if len(chunks[0]) < 2:
                break
            big = chunks.pop(0)
            chunks += [big[: len(big) // 2], big[len(big) // 2 :]]
        return [_Batch(f"r{rnd}_{i:04d}", chunk) for i, chunk in enumerate(chunks, 1)]

    def _build(self, work: Path, batches: list[_Batch], canary: bool) -> tuple[set[str], _Blame]:
        stems = [b.stem for b in batches] + ([_CANARY] if canary else [])
        for batch in batches:
            (work / f"{batch.stem}.c").write_text(_translation_unit(batch.probes))
        if canary:
            (work / f"{_CANARY}.c").write_text(
                "#include <linux/types.h>\nint ofedtool_canary(void);\nint ofedtool_canary(void) { return 0; }\n"
            )
        (work / "Kbuild").write_text(
            "# generated by ofedtool: feature probes, one object per batch\n"
            f"obj-m += {' '.join(s + '.o' for s in stems)}\n"
            f"ccflags-y += {_CFLAGS}\n"
            # objtool has nothing to say about probe objects; skipping it saves time on 6.x
            "OBJECT_FILES_NON_STANDARD := y\n"
        )
        # Under a jobserver (a build of `ofedtool check`) the probe compiles share its slots.
        js = jobserver.from_environ()
        args = make_args(self.tree, work, self.jobs, ["-k", "--output-sync=target", *(s + ".o" for s in stems)], js)
        # kbuild unexports LC_ALL, so LANG/LC_MESSAGES decide the quotes gcc prints
        env = {**jobserver.make_env(os.environ, js), "LANG": "C", "LC_MESSAGES": "C", "LC_ALL": "C"}
        ui.debug(" ".join(args))
        try:
            proc = subprocess.run(args, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  pass_fds=js.fds if js else ())
        except FileNotFoundError:
            raise OfedError("'make' not found: install the Debian package 'make'") from None
        output = proc.stdout
        built = {s for s in stems if (work / f"{s}.o").is_file()}
        if canary and _CANARY not in built:
            raise OfedError(f"probe build against {self.tree.build_dir} cannot compile a trivial object: {_first_error(output)}")
        return built, _blame(output)


def _translation_unit(probes: list[Probe]) -> str:
    lines = [f"/* generated by ofedtool: probes {' '.join(p.name for p in probes)} */"]
    lines += [f"#include <{h}>" for h in probes[0].includes]
    for p in probes:
        fn = f"ofed_probe_{p.name}"
        # int like autoconf/MLNX conftests, so a probe body may end with "return 0;"
        lines += [
            f'#line 1 "probe-{p.name}.c"',
            p.toplevel.rstrip(),
            f"int {fn}(void);",
            f"int {fn}(void)",
            "{",
            p.code.rstrip(),
            "\treturn 0;",
            "}",
        ]
    return "\n".join(lines) + "\n"


@dataclass
class _Blame:
    first: dict[str, str] = field(default_factory=dict)  # probe name -> its first error line
    hard: set[str] = field(default_factory=set)  # probes with an error that was not a -Werror= warning
    implicit: dict[str, set[str]] = field(default_factory=dict)  # probe -> functions gcc declared implicitly
    unattributed_hard: bool = False


def _blame(output: str) -> _Blame:
    """Which probe each gcc error belongs to (the output comes one target at a time: -Otarget)."""
    blame = _Blame()
    context = None  # the probe whose function gcc says it is in
    dangling = None  # (message, hard) of an error not yet tied to a probe: its notes may name one

    def charge(name: str, message: str, hard: bool) -> None:
        blame.first.setdefault(name, message)
        if hard:
            blame.hard.add(name)
        implicit = _IMPLICIT.search(message)
        if implicit:
            blame.implicit.setdefault(name, set()).add(implicit.group(1))

    for line in output.splitlines():
        if kbuildlog.SECTION.match(line):
            context = dangling = None
            continue
        fn = kbuildlog.IN_FUNCTION.match(line)
        if fn:
            at = _PROBE_FILE.search(fn.group("file") or "")
            named = _PROBE_FN.search(line)
            context = at.group("name") if at else named.group("name") if named else None
            continue
        if line.endswith(": At top level:"):
            context = None
            continue
        inlined = _INLINED.search(line)
        if inlined:
            context = inlined.group("name")
            continue
        diag = kbuildlog.diagnostic(line)
        if not diag:
            continue
        at = _PROBE_FILE.search(diag.group("file"))
        kind = diag.group("sev")
        if kind == "note":
            if dangling and at:
                charge(at.group("name"), *dangling)
                dangling = None
            continue
        if dangling:
            blame.unattributed_hard |= dangling[1]
        dangling = None
        if kind == "warning":
            continue
        message = f"{kind}: {diag.group('msg')}"
        # gcc counts a -Werror= warning apart from real errors and still runs its middle end
        # (where BUILD_BUG_ON and friends fire); after a real error it stops before it.
        hard = "[-Werror=" not in message
        name = at.group("name") if at else context
        if name:
            charge(name, message, hard)
        else:
            dangling = (message, hard)
    if dangling:
        blame.unattributed_hard |= dangling[1]
    return blame


def _mentions(probe: Probe, identifiers: set[str]) -> bool:
    text = probe.toplevel + "\n" + probe.code
    return any(re.search(rf"\b{re.escape(i)}\b", text) for i in identifiers)


def _first_error(output: str) -> str:
    for line in output.splitlines():
        if " error: " in line or line.startswith("make: ***") or "No such file" in line:
            return line.strip()
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "make printed nothing"


# ---------------------------------------------------------------- cache


class _Cache:
    """cache_dir/probes/<tree_id>.json: probe digest -> bool, for one tree and compiler.

    Read and merged under a file lock, replaced atomically: concurrent runs add to each other's
    results and an interrupted run leaves the previous file intact. The results carry their
    sha256: a truncated or edited file is recomputed, never believed.
    """

    def __init__(self, path: Path, tid: str, cc: str):
        self.path = path
        self.tid = tid
        self.cc = cc
        self.lock = FileLock(str(path) + ".lock")

    def load(self) -> dict[str, bool]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock:
            return self._read()

    @contextmanager
    def running(self, release: str):
        """Held while probes for this tree run (another lock than the file's: readers and the
        final store are not kept waiting for minutes)."""
        lock = FileLock(str(self.path) + ".run.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            ui.info(f"[probes] another ofedtool run is probing {release}: waiting for its results")
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def store(self, fresh: dict[str, bool]) -> None:
        with self.lock:
            merged = dict(sorted({**self._read(), **fresh}.items()))
            doc = {"tree_id": self.tid, "cc": self.cc, "engine": ENGINE, "results": merged,
                   "sha256": _seal(merged)}
            atomic_write(self.path, json.dumps(doc, indent=1) + "\n")

    def _read(self) -> dict[str, bool]:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            doc = None
        # results from another compiler (a host that gained the kernel's gcc) do not count
        if isinstance(doc, dict) and (doc.get("cc") != self.cc or doc.get("engine") != ENGINE):
            return {}
        results = doc.get("results") if isinstance(doc, dict) else None
        if not isinstance(results, dict) or doc.get("sha256") != _seal(results):
            if self.path not in _WARNED:
                _WARNED.add(self.path)
                ui.warn(f"probe cache {self.path} is damaged or from an older ofedtool: recomputing it")
            return {}
        return {k: v for k, v in results.items() if isinstance(v, bool)}


_WARNED: set[Path] = set()


def _seal(results: dict) -> str:
    # inside the JSON (not cache.seal's prefix): ofedtools that predate it still read the file
    return json_digest(results)


# ---------------------------------------------------------------- output


_MACRO = re.compile(rb"\bHAVE_[A-Z0-9_]+\b")


def referenced(tree: Path) -> set[str]:
    """The HAVE_* names the tree's C sources and headers (compat layer included) use, config.h
    aside: a probe no file asks about decides nothing, so neither config.h nor a DKMS node's
    probe kit carries it."""
    names: set[str] = set()
    for f in tree.rglob("*"):
        rel = f.relative_to(tree)
        # a built tree's kbuild view (.kbuild: links into the kernel's build dir) is not the tree
        if f.suffix not in (".c", ".h") or rel.parts[0].startswith(".") or f.is_symlink() or not f.is_file():
            continue
        if rel.as_posix() != "compat/config.h":
            names.update(m.decode() for m in _MACRO.findall(f.read_bytes()))
    return names


def config_features(results: dict[str, bool], used: set[str]) -> dict[str, bool]:
    """What config.h carries: every OFED_CORE_* fact, and the HAVE_* the tree uses."""
    return {k: v for k, v in results.items() if not k.startswith("HAVE_") or k in used}


def render_config_h(results: dict[str, bool]) -> str:
    lines = [
        "/* config.h: target kernel features found by ofedtool's probes. Generated: do not edit. */",
        "#ifndef _OFEDTOOL_COMPAT_CONFIG_H",
        "#define _OFEDTOOL_COMPAT_CONFIG_H",
        "",
    ]
    for name in sorted(results):
        lines.append(f"#define {name} 1" if results[name] else f"/* #undef {name} */")
    lines += ["", "#endif /* _OFEDTOOL_COMPAT_CONFIG_H */", ""]
    return "\n".join(lines)
