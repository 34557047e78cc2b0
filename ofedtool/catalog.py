"""The kernels/ catalog: target distro kernels (--kernel) and upstream source releases (--from)."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import OfedError

DATA_ROOT = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """Top-level data directory (kernels/, backports/, recipes/) shipped beside the package.

    $OFEDTOOL_BACKPORTS / $OFEDTOOL_KERNELS / $OFEDTOOL_RECIPES point at another copy (a
    rules developer's work tree, or a test's deliberately broken one)."""
    env = os.environ.get(f"OFEDTOOL_{name.upper()}")
    path = Path(env) if env else DATA_ROOT / name
    if not path.is_dir():
        raise OfedError(f"data directory {path} not found: run ofedtool from a checkout "
                        f"(pip install -e .) or set OFEDTOOL_{name.upper()}")
    return path


@dataclass(frozen=True)
class Target:
    id: str
    name: str
    distro: str
    release: str
    series: str
    flavour: str
    arch: str
    suites: tuple[str, ...]
    aliases: tuple[str, ...]
    module_dir: str
    headers: dict = field(hash=False)
    source: dict = field(hash=False)
    path: str = ""
    # [toolchain]: the compiler and binutils to build with, fetched from the target's own
    # release when the host's cannot build its kernel (Debian 13's gcc-14 on a Debian 12 host).
    toolchain: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class SourceRelease:
    series: str
    tag_prefix: str
    debian_package: str
    debian_suites: tuple[str, ...]
    # Offered as X (--from): its builds onto every target of its series or older are proven. A
    # release kept only as the targets' own code (the target rule, tests) says why not.
    offered: bool = True
    not_offered: str = ""


@dataclass(frozen=True)
class Suite:
    name: str
    archive: str  # "debian" or "debian-security"


def _load(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise OfedError(f"catalog file {path}: {e}") from None


def load_targets(root: Path | None = None) -> list[Target]:
    root = root or data_dir("kernels")
    out = []
    for p in sorted((root / "targets").glob("*.toml")):
        d = _load(p)
        try:
            out.append(Target(
                id=p.stem, name=d["name"], distro=d["distro"], release=str(d["release"]),
                series=d["series"], flavour=d["flavour"], arch=d["arch"],
                suites=tuple(d.get("suites", ())), aliases=tuple(d.get("aliases", ())),
                module_dir=d.get("module_dir", "updates"), headers=d["headers"],
                source=d.get("source", {}), path=str(p), toolchain=d.get("toolchain", {}),
            ))
        except KeyError as e:
            raise OfedError(f"catalog file {p}: missing key {e}") from None
    return out


def release_targets(target_id: str, targets: list[Target] | None = None) -> list[Target]:
    """The catalog targets of the target's distro release and arch (Debian 12: 6.1, its cloud and
    rt flavours, bookworm-security's 6.12), the target first; [] for an unknown id."""
    targets = targets if targets is not None else load_targets()
    me = next((t for t in targets if t.id == target_id), None)
    if me is None:
        return []
    return [me] + [t for t in targets if t is not me and (t.distro, t.release, t.arch) == (me.distro, me.release, me.arch)]


def load_sources(root: Path | None = None) -> dict[str, SourceRelease]:
    root = root or data_dir("kernels")
    out = {}
    for p in sorted((root / "sources").glob("*.toml")):
        d = _load(p)
        upstream = d.get("upstream", {})
        out[d["series"]] = SourceRelease(
            series=d["series"], tag_prefix=d["git"]["tag_prefix"],
            debian_package=d["debian"]["package"], debian_suites=tuple(d["debian"]["suites"]),
            offered=upstream.get("offered", True), not_offered=upstream.get("why", ""),
        )
    return out


def check_offered(spec: FromSpec, target: Target | None = None,
                  sources: dict[str, SourceRelease] | None = None) -> None:
    """--from X is offered as an upstream release, and onto a target of X's series or older."""
    rel = spec.release
    if not rel.offered:
        sources = sources if sources is not None else load_sources()
        offered = ", ".join(sorted((s for s, r in sources.items() if r.offered), key=_vkey))
        raise OfedError(f"--from {rel.series}: not offered as an upstream release ({rel.not_offered}); "
                        f"offered: {offered}")
    if target is not None and _vkey(target.series) > _vkey(rel.series):
        raise OfedError(f"--from {rel.series} onto --kernel {target.id} ({target.series}): X must be the "
                        f"target's series or newer (this would be a downgrade)")


def load_suites(root: Path | None = None) -> dict[str, Suite]:
    root = root or data_dir("kernels")
    d = _load(root / "suites.toml")
    return {name: Suite(name, v["archive"]) for name, v in d["suite"].items()}


def resolve_target(query: str, targets: list[Target] | None = None) -> Target:
    """--kernel: exact id, then exact alias, then a unique id prefix or series."""
    targets = targets if targets is not None else load_targets()
    for t in targets:
        if t.id == query:
            return t
    hits = [t for t in targets if query in t.aliases]
    if not hits:
        hits = [t for t in targets if t.id.startswith(query + "-") or t.series == query]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise OfedError(f"--kernel {query} is ambiguous: candidates {', '.join(t.id for t in hits)}")
    raise OfedError(f"unknown kernel '{query}': known targets {', '.join(t.id for t in targets)} "
                    "(or give a kernel build directory)")


_FROM = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")


@dataclass(frozen=True)
class FromSpec:
    """A parsed --from: series 6.12, optionally an exact sublevel or an exact tag."""
    release: SourceRelease
    sublevel: int | None   # None → newest
    exact_tag: str | None  # "v6.12" given literally

    @property
    def series(self) -> str:
        return self.release.series


def parse_from(query: str, sources: dict[str, SourceRelease] | None = None) -> FromSpec:
    sources = sources if sources is not None else load_sources()
    m = _FROM.match(query.strip())
    if not m:
        raise OfedError(f"--from {query}: expected a kernel release like 6.12, 6.12.117 or v6.12")
    series = f"{m.group(1)}.{m.group(2)}"
    rel = sources.get(series)
    if rel is None:
        raise OfedError(f"unknown source release '{query}': known {', '.join(sorted(sources, key=_vkey))}")
    sub = int(m.group(3)) if m.group(3) is not None else None
    exact = query if query.startswith("v") else None
    if exact and sub is None:
        sub = 0
    return FromSpec(rel, sub, exact)


def _vkey(s: str):
    return tuple(int(x) for x in re.findall(r"\d+", s))


version_key = _vkey
