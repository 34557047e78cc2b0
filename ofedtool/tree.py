"""The built tree: the contract between stages, as versioned records.

An `ofedtool build -o DIR` directory holds three records, each written here and read only here:

    manifest.json        Manifest     what generate made, from what (written by generate)
    result.json          BuildRecord  how the compile was judged (written by the build stage)
    vmtest/result.json   VmRecord     what the guest proved (written by vmtest)

Each carries a "schema" string, "ofedtool.<kind>/<N>". A file without it (an older ofedtool's)
or with another (a foreign tool's) is refused in one line: readers then never guess at fields.
The JSON is sorted, indented by 2 and newline-terminated, so the same inputs give the same
bytes; the schema is one more sorted key, so today's fields keep their bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import OfedError
from .fsutil import atomic_write

MANIFEST_SCHEMA = "ofedtool.manifest/1"
BUILD_SCHEMA = "ofedtool.build/1"
VM_SCHEMA = "ofedtool.vmtest/1"


def dumps(data: dict) -> str:
    """The one layout of every record (and of `--json` results)."""
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"


def _load(path: Path, schema: str, what: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise OfedError(f"cannot read {path}: {e.strerror}") from None
    except ValueError as e:
        raise OfedError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise OfedError(f"{path}: not an ofedtool {what}")
    got = data.get("schema")
    if got == schema:
        return data
    kind = schema.split("/")[0]
    if got is None:
        raise OfedError(f"{path} has no schema (an older ofedtool's, or not ofedtool's): "
                        f"make it again with this ofedtool (`ofedtool build -o {path.parent}`)")
    if isinstance(got, str) and got.split("/")[0] == kind:
        raise OfedError(f"{path} is {got}, this ofedtool reads {schema}: make it again with this ofedtool")
    raise OfedError(f"{path} is not an ofedtool {what} (schema {got!r})")


def _from(cls, data: dict):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


# ---------------------------------------------------------------- manifest.json


@dataclass(frozen=True)
class ModuleEntry:
    name: str
    dir: str      # relative to the tree, e.g. drivers/infiniband/core
    rule: str     # upstream | target
    cls: str      # "class" in the file

    def as_dict(self) -> dict:
        return {"name": self.name, "dir": self.dir, "rule": self.rule, "class": self.cls}


@dataclass(frozen=True)
class TargetHeaders:
    """The target's build tree as generate recorded it: identity and the headers' provenance
    (which packages, which toolchain), no directory. What the kernel image is found by."""
    target_id: str
    release: str
    provenance: dict


@dataclass(frozen=True)
class Manifest:
    """What generate made: sources, target, modules, adaptations and probe results."""
    ofedtool: str
    inputs: str                      # content address of everything that decides the tree
    source: dict                     # the source provider's provenance (version, provider, ...)
    target: dict                     # id, release, the headers' provenance, toolchain
    modules: tuple[ModuleEntry, ...]
    copied: tuple[str, ...]
    target_source: dict | None
    skipped: dict                    # module → why it is not built
    shims: list
    patches: list
    smpl: list
    probes: dict                     # tree_id, results
    compat: dict                     # active, absent
    off: list = field(default_factory=list)  # features switched off per module (modules.toml off)
    rules: list = field(default_factory=list)  # --rule choices (modules.RuleChoice.as_dict) and why

    @property
    def target_id(self) -> str:
        return self.target.get("id") or "local"

    @property
    def release(self) -> str:
        return self.target["release"]

    @property
    def source_version(self) -> str:
        return self.source["version"]

    @property
    def features(self) -> dict[str, bool]:
        return self.probes["results"]

    @property
    def headers(self) -> TargetHeaders:
        return TargetHeaders(self.target_id, self.release,
                             {k: v for k, v in self.target.items() if k not in ("release", "id")})

    def as_dict(self) -> dict:
        return {"schema": MANIFEST_SCHEMA, "ofedtool": self.ofedtool, "inputs": self.inputs,
                "source": self.source, "target": self.target,
                "modules": [m.as_dict() for m in self.modules], "copied": list(self.copied),
                "target_source": self.target_source, "skipped": self.skipped, "shims": self.shims,
                "patches": self.patches, "smpl": self.smpl, "probes": self.probes, "compat": self.compat,
                # only where a feature is off: a tree without one keeps the bytes it had
                **({"off": self.off} if self.off else {}), **({"rules": self.rules} if self.rules else {})}

    def write(self, tree: Path) -> None:
        atomic_write(Path(tree) / "manifest.json", dumps(self.as_dict()))

    @classmethod
    def from_dict(cls, d: dict) -> Manifest:
        mods = tuple(ModuleEntry(m["name"], m["dir"], m["rule"], m["class"]) for m in d["modules"])
        return cls(d["ofedtool"], d["inputs"], d["source"], d["target"], mods, tuple(d["copied"]),
                   d.get("target_source"), d.get("skipped", {}), d.get("shims", []), d.get("patches", []),
                   d.get("smpl", []), d["probes"], d["compat"], d.get("off", []), d.get("rules", []))

    @classmethod
    def read(cls, tree: Path) -> Manifest:
        path = Path(tree) / "manifest.json"
        d = _load(path, MANIFEST_SCHEMA, "manifest")
        try:
            return cls.from_dict(d)
        except (KeyError, TypeError) as e:
            raise OfedError(f"{path}: {MANIFEST_SCHEMA} without its field {e}") from None

    @classmethod
    def peek(cls, tree: Path) -> Manifest | None:
        """The tree's manifest when it is a current one, else None (generate's up-to-date test:
        an old or foreign manifest means the tree is made again, never trusted)."""
        try:
            return cls.read(tree)
        except OfedError:
            return None


# ---------------------------------------------------------------- result.json


@dataclass(frozen=True)
class ModuleRecord:
    name: str
    ko: str | None
    vermagic: str | None
    ok: bool
    errors: int = 0
    undefined: list = field(default_factory=list)
    hazards: int = 0
    warnings: int = 0


@dataclass(frozen=True)
class DiagnosticRecord:
    kind: str
    file: str
    line: int
    msg: str
    unit: str = ""


@dataclass(frozen=True)
class BuildRecord:
    """The judged compile of one tree (what `ofedtool build --json` prints, without its text)."""
    ok: bool
    output: str
    source: dict
    kernel: str
    target: str
    probes: dict
    skipped: dict
    build: dict          # build.BuildResult.as_dict(): seconds, exit_code, log, counts, modules, diagnostics
    consumers: list | None = None   # distro modules importing from ours (None: not told)
    stranded: list = field(default_factory=list)  # consumers not rebuilt and not left
    left: list = field(default_factory=list)      # consumers left with --leave (blacklisted)
    stranded_fail: bool = True                    # the whole stack: a stranded module fails
    off: list = field(default_factory=list)       # features switched off (the manifest's off)

    @property
    def modules(self) -> list[ModuleRecord]:
        return [_from(ModuleRecord, m) for m in self.build.get("modules", [])]

    @property
    def diagnostics(self) -> list[DiagnosticRecord]:
        return [_from(DiagnosticRecord, d) for d in self.build.get("diagnostics", [])]

    @property
    def seconds(self) -> float:
        return self.build.get("seconds", 0.0)

    @property
    def exit_code(self) -> int | None:
        return self.build.get("exit_code")

    def as_dict(self) -> dict:
        return {"schema": BUILD_SCHEMA, "consumers": self.consumers, "ok": self.ok, "output": self.output,
                "source": self.source, "kernel": self.kernel, "target": self.target, "probes": self.probes,
                "skipped": self.skipped, "build": self.build,
                # the consumer gate's verdict, where it has one to give
                **({"stranded": self.stranded, "stranded_fail": self.stranded_fail} if self.stranded else {}),
                **({"left": self.left} if self.left else {}), **({"off": self.off} if self.off else {})}

    def write(self, tree: Path) -> None:
        atomic_write(Path(tree) / "result.json", dumps(self.as_dict()))

    @classmethod
    def from_dict(cls, d: dict) -> BuildRecord:
        return cls(bool(d["ok"]), d.get("output", ""), d.get("source", {}), d.get("kernel", ""), d.get("target", ""),
                   d.get("probes", {}), d.get("skipped", {}), d["build"], d.get("consumers"),
                   d.get("stranded") or [], d.get("left") or [], bool(d.get("stranded_fail", True)),
                   d.get("off") or [])

    @classmethod
    def read(cls, tree: Path) -> BuildRecord:
        path = Path(tree) / "result.json"
        d = _load(path, BUILD_SCHEMA, "build result")
        try:
            return cls.from_dict(d)
        except (KeyError, TypeError) as e:
            raise OfedError(f"{path}: {BUILD_SCHEMA} without its field {e}") from None


# ---------------------------------------------------------------- vmtest/result.json


@dataclass(frozen=True)
class VmStep:
    step: str
    status: str      # PASS | FAIL | SKIP
    detail: str
    guest_s: float   # guest uptime when printed
    host_s: float    # seconds since QEMU started


@dataclass(frozen=True)
class VmRecord:
    """What one boot of the target's kernel with our modules proved."""
    ok: bool
    reason: str
    kernel: str
    target: str
    tree: str
    steps: tuple[VmStep, ...] = ()
    image: dict | None = None
    userland: list = field(default_factory=list)
    initramfs: Any = None
    qemu: list = field(default_factory=list)
    secure_boot: dict | None = None
    console: str = ""
    seconds: dict = field(default_factory=dict)
    conformance: dict | None = None   # conformance.Comparison.as_dict(): rdma-core's suite, run by run

    def as_dict(self) -> dict:
        return {"schema": VM_SCHEMA, "ok": self.ok, "reason": self.reason, "kernel": self.kernel,
                "target": self.target, "tree": self.tree, "image": self.image, "userland": self.userland,
                "initramfs": self.initramfs, "qemu": self.qemu, "secure_boot": self.secure_boot,
                "console": self.console, "seconds": self.seconds, "conformance": self.conformance,
                "steps": [s.__dict__ for s in self.steps]}

    def write(self, out: Path) -> None:
        atomic_write(Path(out) / "result.json", dumps(self.as_dict()))

    @classmethod
    def from_dict(cls, d: dict) -> VmRecord:
        steps = tuple(_from(VmStep, s) for s in d.get("steps") or [])
        return cls(**{**{k: v for k, v in d.items() if k in {f.name for f in fields(cls)}}, "steps": steps})

    @classmethod
    def read(cls, out: Path) -> VmRecord:
        return cls.from_dict(_load(Path(out) / "result.json", VM_SCHEMA, "vmtest result"))


# ---------------------------------------------------------------- the tree


@dataclass(frozen=True)
class BuiltTree:
    """An `ofedtool build -o` directory, opened once: its records and its modules' files."""
    path: Path
    manifest: Manifest
    build: BuildRecord | None     # None: generated, not built
    vm: VmRecord | None           # None: no `ofedtool vmtest --tree` ran

    @classmethod
    def open(cls, path: Path, built: bool = True) -> BuiltTree:
        """built: refuse a tree without result.json (package, vmtest and report need the compile)."""
        path = Path(path).absolute()
        if not (path / "manifest.json").is_file():
            raise OfedError(f"tree {path} has no manifest.json: give the -o directory of `ofedtool build`")
        if built and not (path / "result.json").is_file():
            raise OfedError(f"tree {path} was generated but not built (no result.json): run `ofedtool build`")
        manifest = Manifest.read(path)
        build = BuildRecord.read(path) if (path / "result.json").is_file() else None
        vm = VmRecord.read(path / "vmtest") if (path / "vmtest" / "result.json").is_file() else None
        return cls(path, manifest, build, vm)

    @property
    def release(self) -> str:
        return self.manifest.release

    @property
    def target_id(self) -> str:
        return self.manifest.target_id

    def require_ok(self, why: str = "packaging") -> None:
        if self.build is None or not self.build.ok:
            raise OfedError(f"tree {self.path}: its build failed (result.json ok=false): fix the build before {why}")

    def module_dir(self, name: str) -> str | None:
        """The directory of one of the tree's modules, from the manifest (not from a path's text)."""
        return next((m.dir for m in self.manifest.modules if m.name == name), None)

    def kos(self) -> dict[str, Path]:
        """name → built .ko, in build order, for every module the build linked. The paths in
        result.json are where it was built: a tree copied or moved since is found where it is."""
        if self.build is None:
            raise OfedError(f"tree {self.path} was generated but not built (no result.json): run `ofedtool build`")
        old = Path(self.build.output)
        mods = {}
        for mod in self.build.modules:
            if not mod.ko:
                continue
            ko = Path(mod.ko)
            if ko.is_relative_to(old):
                ko = self.path / ko.relative_to(old)
            if not ko.exists():
                raise OfedError(f"tree {self.path}: {mod.name}.ko missing ({ko}): rebuild it")
            mods[mod.name] = ko
        return mods

    def manifest_kos(self) -> dict[str, Path]:
        """name → .ko for every module of the manifest; each must exist (what a package ships)."""
        out = {}
        for m in self.manifest.modules:
            ko = self.path / m.dir / f"{m.name}.ko"
            if not ko.is_file():
                raise OfedError(f"tree {self.path}: {m.dir}/{m.name}.ko is missing: rebuild it")
            out[m.name] = ko
        return out
