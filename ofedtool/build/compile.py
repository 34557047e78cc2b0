"""build: compile a generated tree against the target's kbuild and judge the result.

A build fails on any compile error, any modpost "undefined!" symbol and any warning from
backports/hazards.toml. The log is parsed, not just the exit code: a module that did not link,
or linked against a symbol nobody exports, is a failure even when make says 0.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .. import jobserver, ui
from .. import kbuildlog
from ..catalog import data_dir
from ..errors import OfedError
from ..kbuildlog import tree_relative  # noqa: F401  (re-exported: gap and tests read paths with it)
from ..kmod import vermagic
from ..fetch.kbuild import KernelTree, kbuild_view
from ..modules import Module

if TYPE_CHECKING:
    from ..fetch.exports import SourceIndex


@dataclass
class Diagnostic:
    kind: str    # error | undefined | hazard | warning | modpost | binding | abi
    file: str
    line: int
    msg: str
    unit: str = ""  # the .c file being compiled, when the diagnostic is in a header


@dataclass
class ModuleResult:
    name: str
    ko: str | None
    vermagic: str | None
    ok: bool
    errors: int = 0
    undefined: list[str] = field(default_factory=list)
    hazards: int = 0
    warnings: int = 0
    dir: str = ""  # the module's directory in the tree (where its diagnostics are)


@dataclass
class BuildResult:
    ok: bool
    seconds: float
    exit_code: int
    log: str
    modules: list[ModuleResult]
    diagnostics: list[Diagnostic]
    abi: dict | None = None   # AbiReport.as_dict(), or {"skipped": why}
    failure: str = ""  # why make failed when no compiler error says it (make_failure)
    failed_objects: list[str] = field(default_factory=list)  # objects make reported as failed
    kbuild_dir: str = ""  # where gcc ran: the log's relative paths are relative to it

    def counts(self) -> dict:
        c = {"errors": 0, "undefined": 0, "hazards": 0, "warnings": 0, "binding": 0, "abi": 0}
        for d in self.diagnostics:
            key = {"error": "errors", "modpost": "errors", "undefined": "undefined", "hazard": "hazards",
                   "warning": "warnings", "binding": "binding", "abi": "abi"}[d.kind]
            c[key] += 1
        return c

    def as_dict(self) -> dict:
        return {"ok": self.ok, "seconds": round(self.seconds, 1), "exit_code": self.exit_code, "log": self.log,
                "failure": self.failure, "failed_objects": self.failed_objects,
                "counts": self.counts(), "modules": [asdict(m) for m in self.modules],
                "diagnostics": [asdict(d) for d in self.diagnostics[:200]], "abi": self.abi}


def hazard_flags() -> set[str]:
    with open(data_dir("backports") / "hazards.toml", "rb") as f:
        return set(tomllib.load(f)["flags"])


def parse_log(text: str, top: Path, hazards: set[str], cwd: Path | None = None) -> list[Diagnostic]:
    """Unique diagnostics (gcc repeats a header's error for every TU that includes it)."""
    seen = set()
    out = []
    unit = ""
    for line in text.splitlines():
        d = None
        if m := kbuildlog.UNIT.match(line):
            unit = tree_relative(m["file"], top, cwd)
        elif kbuildlog.CMDLINE_INCLUDE.match(line):
            unit = ""  # the previous translation unit's name no longer applies
        g = kbuildlog.diagnostic(line)
        w = kbuildlog.WARNING_FLAG.match(g["msg"]) if g and g["sev"] == "warning" else None
        if kbuildlog.ENOSPC.search(line):
            pass  # the disk, not the code: make_failure() names it
        elif g and kbuildlog.is_error(g):
            f = tree_relative(g["file"], top, cwd)
            d = Diagnostic("error", f, int(g["line"]), g["msg"], unit if unit and not f.endswith(".c") else "")
        elif w:
            kind = "hazard" if w["flag"] in hazards else "warning"
            d = Diagnostic(kind, tree_relative(g["file"], top, cwd), int(g["line"]), f"{w['msg']} [-W{w['flag']}]")
        elif m := kbuildlog.UNDEFINED.search(line):
            d = Diagnostic("undefined", tree_relative(m["ko"], top, cwd), 0, m["sym"])
        elif m := kbuildlog.MODPOST_ERROR.match(line):
            if "undefined!" not in line and "Error" not in m["msg"]:
                d = Diagnostic("modpost", "", 0, m["msg"])
        if d and (d.kind, d.file, d.line, d.msg) not in seen:
            seen.add((d.kind, d.file, d.line, d.msg))
            out.append(d)
    return out


def failed_objects(text: str, top: Path, cwd: Path | None = None) -> set[str]:
    """The objects make reports as failed ("*** [...: x.o] Error 1"), tree-relative."""
    out = set()
    for line in text.splitlines():
        if (m := kbuildlog.MAKE_ERROR.match(line)) and (t := kbuildlog.MAKE_TARGET_ERROR.match(m["msg"])):
            if t["target"].endswith(".o"):
                out.add(tree_relative(t["target"], top, cwd))
    return out


def _signal_of(code: int) -> str:
    import signal
    try:
        return f" (a job was killed by {signal.Signals(code - 128).name})" if code > 128 else ""
    except ValueError:
        return ""


def make_failure(text: str, top: Path, cwd: Path | None = None) -> str:
    """Why make failed, when no compiler error says it: a full disk, fixdep losing its
    dependency file (another build cleaning or writing the same tree), a job killed by a
    signal, or make's own first complaint (a missing rule, a kbuild $(error)). Empty when
    every failure is an object with a compiler error, or there is no failure."""
    lines = text.splitlines()
    for line in lines:
        if kbuildlog.ENOSPC.search(line):
            return f"no space left on the device: {line.strip()}"
    for line in lines:
        if kbuildlog.FIXDEP.match(line):
            return (f"{line.strip()} (a build file vanished while compiling: another build or a "
                    f"clean running in the same tree?)")
    errs = [m["msg"] for line in lines if (m := kbuildlog.MAKE_ERROR.match(line))]
    for msg in errs:
        if (t := kbuildlog.MAKE_TARGET_ERROR.match(msg)) and int(t["code"]) > 128:
            return f"make: *** {msg}{_signal_of(int(t['code']))}"
    # The first complaint that is not an object failing to compile (gcc said why for those),
    # nor a sub-make passing an earlier failure up ("[...: subdir] Error 2").
    compiled = {d.unit or d.file for d in parse_log(text, top, set(), cwd) if d.kind == "error"}
    for msg in errs:
        t = kbuildlog.MAKE_TARGET_ERROR.match(msg)
        if t is None:
            return f"make: *** {msg}"
        target = tree_relative(t["target"], top, cwd)
        if target.endswith(".o") and not compiled:
            return f"make: *** {msg} (with no compiler error in the log)"
    return ""


def compiler_command(cc: str, ccache: bool | None = None) -> str:
    """CC for make: the kernel's compiler, behind ccache when asked (True) or, by default (None),
    when ccache is installed. A rebuild of an unchanged tree at the same path then costs
    ccache look-ups instead of compiles."""
    import shutil
    if ccache is False or (ccache is None and not shutil.which("ccache")):
        return cc
    if not shutil.which("ccache"):
        from ..errors import MissingTool
        raise MissingTool("ccache", "ccache")
    return f"ccache {cc}"


_CC = re.compile(r"^\s+CC \[M\]\s+(?P<obj>\S+\.o)$")
_LD = kbuildlog.LINKED
_VAR = re.compile(r"\$\(([A-Za-z0-9_-]+)\)")
_ASSIGN = re.compile(r"^(?P<var>[A-Za-z0-9_$()./-]+)\s*(?P<op>:=|\+=|\?=|=)\s*(?P<val>.*)$")


def kbuild_config(tree: Path, build_dir: Path) -> dict[str, str]:
    """The Kconfig values our make sees: the target's auto.conf, under the generated Makefile's
    OFED_CONFIG (given on make's command line, so it wins)."""
    config = {}
    for path, pattern in ((build_dir / "include" / "config" / "auto.conf", r"^(CONFIG_\w+)=(.*)$"),
                          (tree / "Makefile", r"(?:^OFED_CONFIG :=|\s)(CONFIG_\w+)=(\S*)")):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if path.name == "Makefile" and not line.startswith("OFED_CONFIG :="):
                continue
            for k, v in re.findall(pattern, line, re.M):
                config[k] = v.strip('"')
    return config


def _kbuild_vars(text: str, config: dict[str, str]) -> dict[str, list[str]]:
    """The assignments of a kbuild Makefile, expanded (obj-$(CONFIG_X), $(foo-y)); conditionals
    and make functions are not evaluated (the RDMA Makefiles barely use them)."""
    values: dict[str, list[str]] = {}

    def expand(s: str) -> str:
        # A CONFIG_ symbol the Makefile itself sets (generate's off list: `CONFIG_X :=` ahead of
        # X's Makefile) wins over the configuration, as in make.
        return _VAR.sub(lambda m: config.get(m[1], "") if m[1].startswith("CONFIG_") and m[1] not in values
                        else " ".join(values.get(m[1], [])), s)

    for line in text.replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()
        if not (m := _ASSIGN.match(line)):
            continue
        var, words = expand(m["var"]), expand(m["val"]).split()
        if m["op"] == "+=":
            values.setdefault(var, []).extend(words)
        elif m["op"] != "?=" or var not in values:
            values[var] = words
    return values


def _read_or_empty(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def expected_objects(tree: Path, config: dict[str, str]) -> set[str]:
    """The objects kbuild will compile for the modules of a generated tree (tree-relative .o
    paths), from its Kbuild and each directory's Kbuild/Makefile: the total of the progress."""
    out: set[str] = set()

    def inline(rel: str, text: str) -> str:
        # A target-rule directory's Kbuild is `include $(src)/Makefile` plus our flags.
        return re.sub(r"^-?include \$\(src\)/(\S+)\s*$",
                      lambda m: _read_or_empty(tree / rel / m[1]), text, flags=re.M)

    def walk(rel: str, text: str, depth: int = 0) -> None:
        values = _kbuild_vars(inline(rel, text), config)
        for word in values.get("obj-y", []) + values.get("obj-m", []):
            if word.endswith("/") and depth < 8:
                sub = f"{rel}/{word.rstrip('/')}" if rel else word.rstrip("/")
                for name in ("Kbuild", "Makefile"):
                    if (tree / sub / name).is_file():
                        walk(sub, _read_or_empty(tree / sub / name), depth + 1)
                        break
            elif word.endswith(".o"):
                base = word[:-2]
                parts = values.get(f"{base}-y", []) + values.get(f"{base}-objs", [])
                for o in [x for x in parts if x.endswith(".o")] or [word]:
                    out.add(f"{rel}/{o}" if rel else o)

    walk("", _read_or_empty(tree / "Kbuild"))
    return out


class _Progress:
    """Objects compiled out of the expected total, and modules as kbuild links them."""

    def __init__(self, tree: Path, cwd: Path, expected: set[str]):
        self.tree, self.cwd, self.expected = tree, cwd, expected
        self.done: set[str] = set()
        self.bar = ui.Progress("[build]", len(expected), "objects") if expected else None

    def line(self, line: str) -> None:
        if (m := _CC.match(line)) and not m["obj"].endswith(".mod.o"):
            obj = tree_relative(m["obj"], self.tree, self.cwd)
            if obj in self.expected and obj not in self.done:
                self.done.add(obj)
                if self.bar:
                    self.bar.update(len(self.done))
        elif m := _LD.match(line):
            ui.info(f"[build] linked {Path(m['ko']).stem}")

    def close(self) -> None:
        if self.bar:
            self.bar.close()


class _Log:
    """build.log, line-buffered (`tail -f` follows the compile). A write that fails (the disk
    filled up) does not stop the build: the rest is kept in memory, so the log's grammar still
    sees every line and the summary can say why make failed."""

    def __init__(self, path: Path):
        self.path = path
        self.f = open(path, "w", buffering=1)
        self.error: OSError | None = None
        self.kept: list[str] = []

    def write(self, text: str) -> None:
        if self.error is None:
            try:
                self.f.write(text)
                return
            except OSError as e:
                self.error = e
        self.kept.append(text)

    def flush(self) -> None:
        if self.error is None:
            try:
                self.f.flush()
            except OSError as e:
                self.error = e

    def text(self) -> str:
        self.flush()
        try:
            written = self.path.read_text(errors="replace")
        except OSError:
            written = ""
        return written + "".join(self.kept)

    def close(self) -> None:
        try:
            self.f.close()
        except OSError as e:
            self.error = self.error or e


def _make(cmd: list[str], env: dict, log, fds: tuple[int, ...] = (), progress: _Progress | None = None) -> int:
    ui.debug(" ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            pass_fds=fds)
    try:
        for line in proc.stdout:
            log.write(line)
            if progress:
                progress.line(line)
    except BaseException:
        # ^C or check stopping us: make passes SIGTERM on to its jobs; no compile outlives us.
        proc.terminate()
        proc.wait()
        raise
    finally:
        if progress:
            progress.close()
    return proc.wait()


def _failed_modules(diags: list[Diagnostic], modules: list[Module], objects: set[str] = frozenset()) -> set[str]:
    """Modules whose own directory has a compile error (a directory builds all its modules).
    An error in a header counts for the directory of the file that was being compiled; an
    object make reports as failed (objects) counts for its directory even when gcc named no .c
    (a header forced in with -include, compat/compat.h)."""
    dirs = {m.dir for m in modules
            if any(d.kind == "error" and (d.unit or d.file).startswith(m.dir + "/") for d in diags)
            or any(o.startswith(m.dir + "/") for o in objects)}
    return {m.name for m in modules if m.dir in dirs}


def module_diagnostics(m: Module, diags: list[Diagnostic], modules: list[Module],
                       objects: set[str]) -> list[Diagnostic]:
    """The diagnostics that are this module's: in its directory, in a header while one of its
    files was compiled (unit), or, for a header error gcc tied to no .c (compat/compat.h comes
    in by -include), when make failed objects of its directory."""
    mine_dir = m.dir + "/"
    any_dir = tuple(x.dir + "/" for x in modules)
    failed_here = any(o.startswith(mine_dir) for o in objects)
    out = []
    for d in diags:
        if d.file.startswith(mine_dir) or d.file == f"{m.dir}/{m.name}.ko" or d.unit.startswith(mine_dir):
            out.append(d)
        elif (d.kind == "error" and not d.unit and failed_here and not d.file.startswith(any_dir)):
            out.append(d)
    return out


_UNSAFE_PATH = re.compile(r"[\s:#$%=\\]")


def check_build_path(path: Path) -> None:
    """kbuild takes M= as one make word: a space splits it ("building multiple external modules
    is not supported"), and ':', '#', '$', '%', '=' or '\\' change what make reads. Refuse such an
    output directory before anything is written there."""
    path = Path(path).absolute()
    if m := _UNSAFE_PATH.search(str(path)):
        what = "a space" if m.group().isspace() else f"'{m.group()}'"
        raise OfedError(f"output directory {str(path)!r} has {what} in its path: the kernel's kbuild cannot "
                        f"build external modules there (it splits M= on spaces); choose a path without one")


def compile_tree(tree: Path, ktree: KernelTree, modules: list[Module], jobs: int,
                 ccache: bool | None = None, exporters: SourceIndex | None = None,
                 no_abi: str = "") -> BuildResult:
    """make -k in the generated tree: -k so one broken file does not hide the others' errors.

    exporters: the target source's exporter index, for the ABI gate (ofedtool/build/abi.py); without
    it the gate is skipped and the result says why (no_abi).

    Under a jobserver (MAKEFLAGS from `ofedtool check`, or from a make whose recipe runs us)
    make gets no -j and shares the jobserver's slots, in both passes; alone it gets -j{jobs}."""
    from ..proc import require
    require("make", "make")
    check_build_path(tree)
    log = tree / "build.log"
    cc = compiler_command(ktree.cc, ccache)
    js = jobserver.from_environ()
    # Where gcc runs, hence what relative paths in the log and .cmd files are relative to.
    kdir = ktree.build_dir
    env = dict(jobserver.make_env(os.environ, js), LC_ALL="C")
    if cc.startswith("ccache "):
        # Paths under the tree reach gcc relative to the directory it runs in: in the tree's
        # view of the build dir, the same for the same sources generated into any output
        # directory (a CI matrix cell, a release), which then hit the same cache entries.
        kdir = kbuild_view(ktree.build_dir, tree)
        env.setdefault("CCACHE_BASEDIR", str(tree))
    cmd = ["make", "-C", str(tree), "-k", *jobserver.jobs_args(jobs, js), f"KERNELDIR={ktree.build_dir}",
           f"OFED_KBUILD_DIR={kdir}", *ktree.make_vars(cc), "modules"]
    fds = js.fds if js else ()
    t0 = time.monotonic()
    progress = _Progress(tree, kdir, expected_objects(tree, kbuild_config(tree, ktree.build_dir)))
    f = _Log(log)
    try:
        rc = _make(cmd, env, f, fds, progress)
        if rc != 0:
            # kbuild links nothing when any object fails, even with -k. Build again without the
            # modules whose sources failed (their objects are done: only modpost and links run),
            # so one broken module does not turn every other module red.
            text = f.text()
            broken = _failed_modules(parse_log(text, tree, set(), kdir), modules,
                                     failed_objects(text, tree, kdir))
            off = sorted({f"CONFIG_{k}" for m in modules if m.name in broken for k, _ in m.kconfig})
            if broken and len(broken) < len(modules) and not kbuildlog.ENOSPC.search(text):
                ui.info(f"[build] {', '.join(sorted(broken))} failed; linking the other modules without them")
                f.write(f"\n### ofedtool: second pass without {' '.join(off)}\n")
                _make(cmd + [f"OFED_DISABLE={' '.join(off)}"], env, f, fds, _Progress(tree, kdir, set()))
        text = f.text()
    finally:
        f.close()
    if f.error is not None:
        ui.warn(f"cannot write {log}: {f.error.strerror}")
    seconds = time.monotonic() - t0
    diags = parse_log(text, tree, hazard_flags(), kdir)
    objects = failed_objects(text, tree, kdir)
    if (tree / "Module.symvers").exists():
        # Every import must bind to OUR core's export (CRC), not the distro's (ofedtool/build/binding.py).
        from .binding import check_binding
        for p in check_binding(tree, modules, ktree.build_dir / "Module.symvers"):
            mod = next((m for m in modules if m.name == p.module), None)
            diags.append(Diagnostic("binding", f"{mod.dir}/{mod.name}.ko" if mod else p.module, 0, p.msg))
    abi = _abi_gate(tree, ktree, modules, exporters, diags) if exporters else {"skipped": no_abi or "no exporter index"}
    results = []
    for m in modules:
        ko = tree / m.dir / f"{m.name}.ko"
        mine = module_diagnostics(m, diags, modules, objects)
        und = [d.msg for d in diags if d.kind == "undefined" and d.file.endswith(f"/{m.name}.ko")]
        r = ModuleResult(
            name=m.name, ko=str(ko) if ko.exists() else None, vermagic=vermagic(ko) if ko.exists() else None,
            ok=False, errors=sum(d.kind == "error" for d in mine), undefined=und,
            hazards=sum(d.kind == "hazard" for d in mine), warnings=sum(d.kind == "warning" for d in mine),
            dir=m.dir)
        r.ok = bool(r.ko) and not und and not any(d.kind in ("binding", "abi") for d in mine)
        results.append(r)
    # Errors or hazards anywhere (a shared header, compat/) fail the build, not only their module.
    bad = any(d.kind in ("error", "undefined", "hazard", "modpost", "binding", "abi") for d in diags)
    ok = rc == 0 and not bad and all(r.ok for r in results)
    failure = make_failure(text, tree, kdir) if rc != 0 else ""
    return BuildResult(ok, seconds, rc, str(log), results, diags, abi, failure=failure,
                       failed_objects=sorted(objects), kbuild_dir=str(kdir))


def _abi_gate(tree: Path, ktree: KernelTree, modules: list[Module], exporters: SourceIndex,
              diags: list[Diagnostic]) -> dict:
    """The ABI gate over the modules that linked: one 'abi' diagnostic per importing module and
    hazardous symbol."""
    from .abi import check_abi
    kos = {m.name: tree / m.dir / f"{m.name}.ko" for m in modules}
    kos = {n: k for n, k in kos.items() if k.exists()}
    if not kos or not (tree / "Module.symvers").exists():
        return {"skipped": "nothing linked"}
    with ui.stage("abi", f"types of {len(kos)} modules' imports from code we do not rebuild"):
        rep = check_abi(tree, list(kos.values()), ktree.build_dir, exporters)
    by_name = {m.name: m for m in modules}
    for h in rep.hazards:
        for user in h.importers:
            m = by_name.get(user)
            diags.append(Diagnostic("abi", f"{m.dir}/{m.name}.ko" if m else user, 0, f"{user}.ko imports {h.message}"))
    for u in rep.unverified:
        ui.warn(f"abi: {u.symbol} (imported by {', '.join(u.importers)}) not checked: {u.why}")
    for h in rep.redirected:
        ui.info(f"[abi] {h.symbol} (imported by {', '.join(h.importers)}) reaches {', '.join(h.types[:2])} but is "
                f"redirected: our calls hand it no RDMA structure")
    if rep.behind_pointers:
        ui.warn(f"abi: {len(rep.behind_pointers)} imports differ from the target only in types behind pointers "
                f"inside the structures they take (not failed: their code reads those only if it dereferences "
                f"them): {', '.join(h.symbol for h in rep.behind_pointers[:8])}"
                f"{' ...' if len(rep.behind_pointers) > 8 else ''}")
    return rep.as_dict()
