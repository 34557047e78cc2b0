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

from . import jobserver, ui
from .catalog import data_dir
from .kbuild import KernelTree
from .modules import Module

if TYPE_CHECKING:
    from .exports import SourceIndex

_ERROR = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?:\d+:)? (?:fatal )?error: (?P<msg>.*)$")
_WARN = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?:\d+:)? warning: (?P<msg>.*?)\s*\[-W(?P<flag>[^\]=]+)[^\]]*\]$")
_UNDEF = re.compile(r'(?:ERROR|WARNING): modpost: "(?P<sym>[^"]+)" \[(?P<ko>[^\]]+)\] undefined!')
_MODPOST_ERR = re.compile(r"^(?:ERROR|FATAL): modpost: (?P<msg>.*)$")
# gcc names the translation unit before a header's diagnostics: "x.c: In function 'f':", the
# last line of an include chain ("   from x.c:12:") or an inlining chain ("inlined from 'f' at x.c:9:3").
_UNIT = re.compile(r"^(?:In file included from |\s+from |\s+inlined from \S+ at )?(?P<file>[^\s:]+\.c)(?::\d+[:,]|: In function)")


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


@dataclass
class BuildResult:
    ok: bool
    seconds: float
    exit_code: int
    log: str
    modules: list[ModuleResult]
    diagnostics: list[Diagnostic]
    abi: dict | None = None   # AbiReport.as_dict(), or {"skipped": why}

    def counts(self) -> dict:
        c = {"errors": 0, "undefined": 0, "hazards": 0, "warnings": 0, "binding": 0, "abi": 0}
        for d in self.diagnostics:
            key = {"error": "errors", "modpost": "errors", "undefined": "undefined", "hazard": "hazards",
                   "warning": "warnings", "binding": "binding", "abi": "abi"}[d.kind]
            c[key] += 1
        return c

    def as_dict(self) -> dict:
        return {"ok": self.ok, "seconds": round(self.seconds, 1), "exit_code": self.exit_code, "log": self.log,
                "counts": self.counts(), "modules": [asdict(m) for m in self.modules],
                "diagnostics": [asdict(d) for d in self.diagnostics[:200]], "abi": self.abi}


def hazard_flags() -> set[str]:
    with open(data_dir("backports") / "hazards.toml", "rb") as f:
        return set(tomllib.load(f)["flags"])


def tree_relative(path: str, top: Path, cwd: Path | None = None) -> str:
    """A path from the build log as a path in the tree. gcc names files as they were given to it:
    absolute, or (when ccache's base_dir rewrote the command line) relative to the directory
    kbuild runs the compiler in, the kernel build dir."""
    if cwd is not None and not os.path.isabs(path):
        path = os.path.normpath(os.path.join(cwd, path))
    return path.removeprefix(str(top).rstrip("/") + "/")


def parse_log(text: str, top: Path, hazards: set[str], cwd: Path | None = None) -> list[Diagnostic]:
    """Unique diagnostics (gcc repeats a header's error for every TU that includes it)."""
    seen = set()
    out = []
    unit = ""
    for line in text.splitlines():
        d = None
        if m := _UNIT.match(line):
            unit = tree_relative(m["file"], top, cwd)
        if m := _ERROR.match(line):
            f = tree_relative(m["file"], top, cwd)
            d = Diagnostic("error", f, int(m["line"]), m["msg"], unit if unit and not f.endswith(".c") else "")
        elif m := _WARN.match(line):
            kind = "hazard" if m["flag"] in hazards else "warning"
            d = Diagnostic(kind, tree_relative(m["file"], top, cwd), int(m["line"]), f"{m['msg']} [-W{m['flag']}]")
        elif m := _UNDEF.search(line):
            d = Diagnostic("undefined", tree_relative(m["ko"], top, cwd), 0, m["sym"])
        elif m := _MODPOST_ERR.match(line):
            if "undefined!" not in line and "Error" not in m["msg"]:
                d = Diagnostic("modpost", "", 0, m["msg"])
        if d and (d.kind, d.file, d.line, d.msg) not in seen:
            seen.add((d.kind, d.file, d.line, d.msg))
            out.append(d)
    return out


def vermagic(ko: Path) -> str | None:
    p = subprocess.run(["modinfo", "-F", "vermagic", str(ko)], capture_output=True, text=True)
    return p.stdout.strip() or None if p.returncode == 0 else None


def compiler_command(cc: str, ccache: bool | None = None) -> str:
    """CC for make: the kernel's compiler, behind ccache when asked (True) or, by default (None),
    when ccache is installed. A rebuild of an unchanged tree at the same path then costs
    ccache look-ups instead of compiles."""
    import shutil
    if ccache is False or (ccache is None and not shutil.which("ccache")):
        return cc
    if not shutil.which("ccache"):
        from .errors import MissingTool
        raise MissingTool("ccache", "ccache")
    return f"ccache {cc}"


def _make(cmd: list[str], env: dict, log, fds: tuple[int, ...] = ()) -> int:
    ui.debug(" ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            pass_fds=fds)
    try:
        for line in proc.stdout:
            log.write(line)
            # Progress per module as kbuild links it.
            if m := re.match(r"\s+LD \[M\]\s+(\S+\.ko)$", line):
                ui.info(f"[build] linked {Path(m.group(1)).stem}")
    except BaseException:
        # ^C or check stopping us: make passes SIGTERM on to its jobs; no compile outlives us.
        proc.terminate()
        proc.wait()
        raise
    return proc.wait()


def _failed_modules(diags: list[Diagnostic], modules: list[Module]) -> set[str]:
    """Modules whose own directory has a compile error (a directory builds all its modules).
    An error in a header counts for the directory of the file that was being compiled."""
    dirs = {m.dir for m in modules
            if any(d.kind == "error" and (d.unit or d.file).startswith(m.dir + "/") for d in diags)}
    return {m.name for m in modules if m.dir in dirs}


def compile_tree(tree: Path, ktree: KernelTree, modules: list[Module], jobs: int,
                 ccache: bool | None = None, exporters: SourceIndex | None = None,
                 no_abi: str = "") -> BuildResult:
    """make -k in the generated tree: -k so one broken file does not hide the others' errors.

    exporters: the target source's exporter index, for the ABI gate (ofedtool/abi.py); without
    it the gate is skipped and the result says why (no_abi).

    Under a jobserver (MAKEFLAGS from `ofedtool check`, or from a make whose recipe runs us)
    make gets no -j and shares the jobserver's slots, in both passes; alone it gets -j{jobs}."""
    from .apt import require
    require("make", "make")
    log = tree / "build.log"
    cc = compiler_command(ktree.cc, ccache)
    js = jobserver.from_environ()
    cmd = ["make", "-C", str(tree), "-k", *jobserver.jobs_args(jobs, js), f"KERNELDIR={ktree.build_dir}",
           *ktree.make_vars(cc), "modules"]
    fds = js.fds if js else ()
    env = dict(jobserver.make_env(os.environ, js), LC_ALL="C")
    if cc.startswith("ccache "):
        # Paths under the tree are hashed relative to it: the same sources generated into
        # another output directory (a CI matrix cell, a release) hit the same cache entries.
        env.setdefault("CCACHE_BASEDIR", str(tree))
    t0 = time.monotonic()
    with open(log, "w") as f:
        rc = _make(cmd, env, f, fds)
        f.flush()
        if rc != 0:
            # kbuild links nothing when any object fails, even with -k. Build again without the
            # modules whose sources failed (their objects are done: only modpost and links run),
            # so one broken module does not turn every other module red.
            broken = _failed_modules(parse_log(log.read_text(errors="replace"), tree, set(), ktree.build_dir),
                                     modules)
            off = sorted({f"CONFIG_{k}" for m in modules if m.name in broken for k, _ in m.kconfig})
            if broken and len(broken) < len(modules):
                ui.info(f"[build] {', '.join(sorted(broken))} failed; linking the other modules without them")
                f.write(f"\n### ofedtool: second pass without {' '.join(off)}\n")
                f.flush()
                _make(cmd + [f"OFED_DISABLE={' '.join(off)}"], env, f, fds)
    seconds = time.monotonic() - t0
    diags = parse_log(log.read_text(errors="replace"), tree, hazard_flags(), ktree.build_dir)
    if (tree / "Module.symvers").exists():
        # Every import must bind to OUR core's export (CRC), not the distro's (ofedtool/binding.py).
        from .binding import check_binding
        for p in check_binding(tree, modules, ktree.build_dir / "Module.symvers"):
            mod = next((m for m in modules if m.name == p.module), None)
            diags.append(Diagnostic("binding", f"{mod.dir}/{mod.name}.ko" if mod else p.module, 0, p.msg))
    abi = _abi_gate(tree, ktree, modules, exporters, diags) if exporters else {"skipped": no_abi or "no exporter index"}
    results = []
    for m in modules:
        ko = tree / m.dir / f"{m.name}.ko"
        mine = [d for d in diags if d.file.startswith(m.dir + "/") or d.file == f"{m.dir}/{m.name}.ko"]
        und = [d.msg for d in diags if d.kind == "undefined" and d.file.endswith(f"/{m.name}.ko")]
        r = ModuleResult(
            name=m.name, ko=str(ko) if ko.exists() else None, vermagic=vermagic(ko) if ko.exists() else None,
            ok=False, errors=sum(d.kind == "error" for d in mine), undefined=und,
            hazards=sum(d.kind == "hazard" for d in mine), warnings=sum(d.kind == "warning" for d in mine))
        r.ok = bool(r.ko) and not und and not any(d.kind in ("binding", "abi") for d in mine)
        results.append(r)
    # Errors or hazards anywhere (a shared header, compat/) fail the build, not only their module.
    bad = any(d.kind in ("error", "undefined", "hazard", "modpost", "binding", "abi") for d in diags)
    ok = rc == 0 and not bad and all(r.ok for r in results)
    return BuildResult(ok, seconds, rc, str(log), results, diags, abi)


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
    return rep.as_dict()
