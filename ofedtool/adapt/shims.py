"""Verb shims: adapt the target kernel's own ULP source (Y) to the backported core's verbs API (X).

backports/shims/ holds one directory per verbs API change, named for the API and the upstream
version where it changed (`ib-kernel-cap-flags-5.19/`). Each has a `shim.toml`:

    doc  = "what changed, upstream version"
    when = ["OFED_CORE_IBK_CAP_FLAGS", "!HAVE_IBK_CAP_FLAGS"]   # all must hold

and one `<module>.patch` per ULP it touches (unified diff against Y's pristine source, -p1) and/or
`<name>.cocci` with `files = [globs]` in shim.toml.

Conditions combine two kinds of facts:
  OFED_CORE_* — the backported core's API, read from X's headers in the generated tree
                (backports/shims/core-probes.toml: a regex that must match a file);
  HAVE_*      — the target kernel's own API (its include/rdma), which is what Y's ULP was
                written against.
So a shim applies exactly when our core has the new API and the ULP was written for the old
one; on X → X (or any Y that already has the API) it switches itself off.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..catalog import data_dir
from ..errors import OfedError
from .rules import condition


@dataclass(frozen=True)
class CoreProbe:
    name: str
    file: str
    regex: str
    doc: str
    # true: the probe holds when `file` (a file or a directory) of our tree is byte for byte
    # the target's own (X → X, or a Y that already carries X's headers): facts about layouts,
    # which no regex can state
    same_as_target: bool = False


@dataclass(frozen=True)
class Shim:
    name: str
    path: Path
    when: tuple[str, ...]
    doc: str
    patches: dict[str, Path]       # module → patch
    smpl: tuple[Path, ...]
    smpl_files: tuple[str, ...]

    def active(self, features: dict[str, bool]) -> bool:
        return all(condition(w, features, f"shim {self.name}") for w in self.when)

    def why(self, features: dict[str, bool]) -> str:
        parts = []
        for w in self.when:
            name = w.lstrip("!")
            parts.append(f"{name}={'1' if features.get(name) else '0'}")
        return ", ".join(parts) or "unconditional"


def shims_dir() -> Path:
    return data_dir("backports") / "shims"


def load_core_probes() -> list[CoreProbe]:
    p = shims_dir() / "core-probes.toml"
    if not p.exists():
        return []
    with open(p, "rb") as f:
        d = tomllib.load(f)
    out = []
    for i, e in enumerate(d.get("probe", []), 1):
        try:
            if not e["name"].startswith("OFED_CORE_"):
                raise OfedError(f"{p}: core probe {e['name']} must be named OFED_CORE_*")
            same = bool(e.get("same_as_target", False))
            regex = "" if same else e["regex"]
            re.compile(regex)
            out.append(CoreProbe(e["name"], e["file"], regex, e.get("doc", ""), same))
        except KeyError as k:
            raise OfedError(f"{p}: probe #{i} lacks {k}") from None
        except re.error as r:
            raise OfedError(f"{p}: probe {e['name']}: bad regex: {r}") from None
    return out


def run_core_probes(tree: Path, probes: list[CoreProbe], target_src: Path | None = None,
                    pristine: Path | None = None) -> dict[str, bool]:
    """Answer OFED_CORE_* from the backported headers in the generated tree (no compile: the
    core is our own, known source). target_src: the target kernel's source tree (its
    include/), for the same_as_target probes; without it they are false (the safe answer: a
    shim that assumes our layout differs is correct on any target). pristine: X's own tree,
    which those probes compare instead of the patched copy: every hunk of ours is guarded by a
    probe that switches it off where the target has the API, so on X → X our headers compile
    to X's text even where a patch made the bytes differ (the ABI gate checks the layout)."""
    out = {}
    for p in probes:
        f = tree / p.file
        if p.same_as_target:
            out[p.name] = target_src is not None and same_files(Path(pristine or tree) / p.file,
                                                                Path(target_src) / p.file)
        else:
            out[p.name] = f.exists() and re.search(p.regex, f.read_text(errors="replace"), re.M) is not None
    return out


def same_files(a: Path, b: Path) -> bool:
    """a and b are the same file, or directories holding the same files with the same bytes."""
    if a.is_file() or b.is_file():
        return a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()
    if not (a.is_dir() and b.is_dir()):
        return False
    fa = sorted(str(x.relative_to(a)) for x in a.rglob("*") if x.is_file())
    fb = sorted(str(x.relative_to(b)) for x in b.rglob("*") if x.is_file())
    return fa == fb and all((a / r).read_bytes() == (b / r).read_bytes() for r in fa)


def load_shims() -> list[Shim]:
    root = shims_dir()
    out = []
    if not root.is_dir():
        return out
    for d in sorted(x for x in root.iterdir() if x.is_dir()):
        meta = d / "shim.toml"
        if not meta.exists():
            raise OfedError(f"shim {d.name}: no shim.toml")
        with open(meta, "rb") as f:
            m = tomllib.load(f)
        when = m.get("when", [])
        when = (when,) if isinstance(when, str) else tuple(when)
        out.append(Shim(d.name, d, when, m.get("doc", ""),
                        {p.stem: p for p in sorted(d.glob("*.patch"))},
                        tuple(sorted(d.glob("*.cocci"))), tuple(m.get("files", ()))))
    return out


def plan(shims: list[Shim], features: dict[str, bool], modules: list[str]) -> list[dict]:
    """For `ofedtool shims` and the manifest: every shim touching a selected module, whether it
    applies and why."""
    rows = []
    for s in shims:
        mods = sorted(set(s.patches) & set(modules))
        if not mods and not (s.smpl and modules):  # SmPL shims only where there are ULPs
            continue
        rows.append({"shim": s.name, "active": s.active(features), "why": s.why(features),
                     "modules": mods, "smpl": [p.name for p in s.smpl], "doc": s.doc})
    return rows
