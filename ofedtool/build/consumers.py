"""In-kernel RDMA consumers we do not ship: the target's own modules that import our modules' symbols.

Replacing ib_core/rdma_cm/... with the backported core breaks every distro module that imports
their symbols and is not rebuilt with us (ksmbd, rds, 9p's RDMA transport, smc, cifs smbdirect,
hardware drivers, the distro's own ULPs when we do not build them): they fail to load with
"disagrees about version of symbol". Module.symvers lists exports only, so the importers come
from the target's real modules: the linux-image package of the same upload as the headers,
unpacked whole into the cache by ofedtool/fetch/image.py (the same entry, /lib/modules tree and
vmlinuz, boots the target in QEMU), and every module's .modinfo `depends=` read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..kmod import depends, module_name
from ..fetch.cache import atomic_write


@dataclass(frozen=True)
class Consumer:
    name: str                       # module name (as in modinfo depends: underscores)
    path: str                       # relative to /lib/modules/<release>/, e.g. kernel/fs/smb/server/ksmbd.ko
    imports_from: tuple[str, ...]   # which of our modules it depends on

    def as_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "imports_from": list(self.imports_from)}


@dataclass(frozen=True)
class Verdict:
    """The consumers of one build judged: stranded ones fail a whole-stack build (strict), the
    ones --leave names are blacklisted by the packages."""
    stranded: list[dict]
    left: list[dict]
    unknown_left: list[str]        # --leave names that are no consumer of this target
    strict: bool
    rows: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.strict and self.stranded)


def judge_consumers(consumers: list[dict] | None, leave: tuple[str, ...], strict: bool,
                    partial: str = "") -> Verdict:
    """consumers: Consumer.as_dict()s, None when they cannot be told (no image: neither
    stranded nor left, and no line). leave: --leave names (underscores)."""
    found = consumers or []
    stranded = [x for x in found if x["name"] not in leave]
    left = [x for x in found if x["name"] in leave]
    rows = []
    if consumers is not None:
        rows.append(f"{len(stranded)} stranded modules (distro modules importing from modules we replace, "
                    f"not rebuilt, not left with --leave)"
                    + (f": {', '.join(x['name'] for x in stranded)}; they would NOT load with ours" if stranded else ""))
    for x in left:
        rows.append(f"left: {x['name']} ({x['path']}) is not rebuilt and would not load with ours: "
                    f"blacklisted in the packages' modprobe.d")
    if stranded and strict:
        rows.append(f"FAIL: {len(stranded)} stranded: fix their build or name them with --leave")
    elif stranded:
        rows.append(f"partial stack (--modules {partial}): the packages would strand them; the default "
                    f"module set rebuilds them")
    unknown = sorted(set(leave) - {x["name"] for x in left}) if consumers is not None else []
    return Verdict(stranded, left, unknown, strict, rows)


def scan(modules_dir: Path, our_modules, build_names=None, memo: Path | None = None) -> list[Consumer]:
    """Modules under modules_dir importing from one of our_modules (names), excluding the ones we build.

    memo: where the modules' depends= are remembered between runs; never inside a verified cache
    entry (the next run's verification would find a file it did not make and unpack it again)."""
    ours = {n.replace("-", "_") for n in our_modules}
    built = {n.replace("-", "_") for n in (build_names if build_names is not None else our_modules)}
    out = []
    known = _DependsMemo(memo)
    for ko in sorted(p for p in modules_dir.rglob("*.ko*") if p.is_file()):
        name = module_name(ko)
        if name in built:
            continue
        deps = sorted(set(known.depends(ko)) & ours)
        if deps:
            out.append(Consumer(name, str(ko.relative_to(modules_dir)), tuple(deps)))
    known.save()
    return out


class _DependsMemo:
    """Every module's depends=, kept in a file beside the unpacked image's cache entry and reused
    while the module's size and mtime are unchanged: reading and decompressing ~4000 modules
    costs seconds on every build otherwise. No file: nothing remembered."""

    def __init__(self, path: Path | None):
        self.path = path
        try:
            self.memo = json.loads(path.read_text()) if path else {}
        except (OSError, ValueError):
            self.memo = {}
        self.dirty = False

    def depends(self, ko: Path) -> list[str]:
        st = ko.stat()
        key, stamp = str(ko), [st.st_size, st.st_mtime_ns]
        hit = self.memo.get(key)
        if isinstance(hit, list) and len(hit) == 2 and hit[0] == stamp:
            return hit[1]
        deps = depends(ko)
        self.memo[key] = [stamp, deps]
        self.dirty = True
        return deps

    def save(self) -> None:
        if not self.dirty or self.path is None:
            return
        try:
            atomic_write(self.path, json.dumps(self.memo))
        except OSError:  # a read-only image: just no memo
            pass


def find_consumers(cache, target, build_tree, our_modules, offline: bool = False) -> list[Consumer]:
    """Distro modules that import from our_modules (names or catalog Modules) and that we do not
    build: they would fail to load next to our core.

    target: the catalog Target (its suites), build_tree: its headers BuildTree (the release and
    the upload to match)."""
    from ..fetch.image import fetch_image   # the same cache entry the QEMU tests boot
    names = [getattr(m, "name", m) for m in our_modules]
    return scan_image(fetch_image(cache, target, build_tree, offline), names)


def scan_image(img, names) -> list[Consumer]:
    """scan() of an unpacked linux-image cache entry (fetch.image.KernelImage), its memo beside
    the entry as its digest record is."""
    entry = img.root.parent
    return scan(img.modules_dir, names, memo=entry.with_name(f".{entry.name}.depends.json"))
