"""watch: day-0 packages. Which targets need a new build because Debian published a new kernel
ABI (or a new headers upload) or X got a new stable release since the last build, and,
when asked, a release of exactly those.

The last build is read from its records, never from a state file of watch's own: built trees
(`ofedtool build -o`, as a CI workspace keeps them: out/<kernel>/tree) or release directories
(`ofedtool release`). Today's state is the package index (refreshed, nothing else downloaded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from . import ui
from .catalog import Target, parse_from, resolve_target
from .defaults import DEFAULT_MODULES
from .errors import OfedError
from .tree import MANIFEST_SCHEMA, BuildRecord, Manifest

# watch exists to see uploads of today: an index older than this is fetched again.
INDEX_MAX_AGE = 600


@dataclass(frozen=True)
class Built:
    """What an earlier run built for one target, as its records say."""
    target: str
    release: str          # uname -r: 6.1.0-57-amd64
    headers: str          # the headers package's version: 6.1.192-3
    source: str           # X's version: 6.12.117
    provider: str         # git | debian
    ok: bool              # the build passed (a release only holds passed ones)
    where: str            # the tree or release it was read from
    counter: int | None = None   # a release's counter N (<X>-<N>); None for a bare tree


@dataclass(frozen=True)
class Now:
    release: str
    headers: str
    package: str


@dataclass(frozen=True)
class WatchRequest:
    from_: str
    since: tuple[Path, ...]
    kernels: tuple[str, ...] = ()      # default: every target the records name
    release_dir: Path | None = None    # make a release of the changed targets there
    release: object | None = None      # release.ReleaseRequest template (formats, name, jobs...)


def _manifest_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if (path / "manifest.json").is_file():
        return [path / "manifest.json"]
    # A directory of trees or releases: a CI workspace's out/<kernel>/tree, a release parent.
    return sorted({*path.glob("*/manifest.json"), *path.glob("*/tree/manifest.json")})


def read_built(paths: tuple[Path, ...]) -> list[Built]:
    """Every target an earlier run built, from trees and releases under the given paths. A path
    that does not exist means no earlier run (a first CI run); one that holds records of
    something else is an input error."""
    found: list[Built] = []
    for given in paths:
        given = Path(given)
        if not given.exists():
            ui.info(f"[watch] {given}: no earlier build there: every kernel is new")
            continue
        files = _manifest_files(given)
        if not files and any(given.iterdir()):
            raise OfedError(f"--since {given}: no built tree or release there (no manifest.json)")
        for f in files:
            found.extend(_read_one(f))
    return found


def _read_one(path: Path) -> list[Built]:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise OfedError(f"--since {path}: not readable JSON ({e})") from None
    if isinstance(d, dict) and d.get("schema") == MANIFEST_SCHEMA:
        m = Manifest.read(path.parent)
        ok = False
        if (path.parent / "result.json").is_file():
            ok = BuildRecord.read(path.parent).ok
        return [_built(m, ok, str(path.parent), None)]
    if isinstance(d, dict) and isinstance(d.get("targets"), dict) and "version" in d:
        try:
            counter = int(str(d["version"]).rsplit("-", 1)[1])
        except (IndexError, ValueError):
            raise OfedError(f"--since {path}: release version {d['version']!r} is not <X>-<N>") from None
        out = []
        for tid, md in d["targets"].items():
            try:
                m = Manifest.from_dict(md)
            except (KeyError, TypeError) as e:
                raise OfedError(f"--since {path}: target {tid} without its field {e}") from None
            out.append(_built(m, True, str(path.parent), counter))
        return out
    raise OfedError(f"--since {path}: neither a built tree's manifest ({MANIFEST_SCHEMA}) nor a release's")


def _built(m: Manifest, ok: bool, where: str, counter: int | None) -> Built:
    pkgs = m.target.get("packages") or []
    headers = next((p["version"] for p in pkgs if p["package"].startswith("linux-headers-")
                    and not p["package"].endswith("-common")), "")
    return Built(m.target_id, m.release, headers, m.source_version, m.source.get("provider", "debian"),
                 ok, where, counter)


def newest_headers(session, target: Target) -> Now:
    """Today's newest headers of a catalog target in Debian's index (nothing downloaded)."""
    from .fetch.apt import Apt
    from .fetch.headers import debian

    if target.headers.get("provider") != "debian":
        raise OfedError(f"kernel {target.id}: watch reads Debian's index; headers provider "
                        f"{target.headers.get('provider')!r} is not supported")
    apt = Apt(session.cache, tuple(target.suites), offline=session.offline)
    apt.update(INDEX_MAX_AGE)
    name, version, _abi = debian.resolve(apt, target)
    return Now(name.removeprefix("linux-headers-"), version, name)


def compare(kernel: str, target: Target, before: Built | None, now: Now, source_now: str) -> dict:
    """One target's verdict: rebuild (with every reason) or unchanged."""
    why = []
    if before is None:
        why.append("not built before")
    else:
        if before.release != now.release:
            why.append(f"kernel ABI {before.release} → {now.release}")
        elif before.headers != now.headers:
            why.append(f"headers upload {before.headers} → {now.headers}")
        if before.source != source_now:
            why.append(f"upstream {before.source} → {source_now}")
        if not before.ok:
            why.append(f"the last build failed ({before.where})")
    return {"kernel": kernel, "target": target.id, "changed": bool(why), "why": why,
            "was": None if before is None else {"release": before.release, "headers": before.headers,
                                                "source": before.source, "ok": before.ok, "where": before.where},
            "now": {"release": now.release, "headers": now.headers, "source": source_now}}


def run_watch(session, req: WatchRequest) -> dict:
    from .fetch.sources import newest_version

    spec = parse_from(req.from_)
    built = read_built(req.since)
    by_target: dict[str, Built] = {}
    for b in built:  # the newest record of each target wins (a later upload has a larger release)
        if b.target not in by_target or (b.release, b.headers) > (by_target[b.target].release, by_target[b.target].headers):
            by_target[b.target] = b
    kernels = req.kernels or tuple(by_target)
    if not kernels:
        raise OfedError("watch: no --kernel given and no earlier build under --since to take them from")
    targets = [(k, resolve_target(k)) for k in kernels]  # an unknown kernel stops here, before the index
    providers = sorted({b.provider for b in by_target.values()} or {"debian"})
    with ui.stage("watch", f"newest {spec.series} release and target ABIs in the index"):
        source_now = {p: newest_version(session.cache, spec, p, offline=session.offline, max_age=INDEX_MAX_AGE)
                      for p in providers}
        rows = []
        for k, t in targets:
            before = by_target.get(t.id)
            now = newest_headers(session, t)
            rows.append(compare(k, t, before, now, source_now[before.provider if before else providers[0]]))
    changed = [r for r in rows if r["changed"]]
    lines = [f"{r['kernel']} ({r['target']}): " + ("rebuild: " + "; ".join(r["why"]) if r["changed"]
                                                   else f"unchanged ({r['now']['release']}, {r['now']['headers']})")
             for r in rows]
    result = {"ok": True, "from": req.from_, "source": source_now, "targets": rows,
              "changed": [r["kernel"] for r in changed]}
    if changed and req.release_dir is not None:
        result["release"] = _release(session, req, changed, by_target, source_now)
        lines.append(result["release"]["text"])
    lines.append(f"watch: {len(changed)} of {len(rows)} target(s) to rebuild"
                 + (f": {','.join(result['changed'])}" if changed else ""))
    result["text"] = "\n".join(lines)
    return result


def _release(session, req: WatchRequest, changed: list[dict], by_target: dict[str, Built],
             source_now: dict[str, str]) -> dict:
    """A release of the changed targets. Same X as an earlier release: its counter + 1 (the
    packages must upgrade the ones already installed); a new X starts at 1."""
    from .release import ReleaseRequest, run_release

    base = req.release or ReleaseRequest(from_=req.from_, kernels=(), modules=DEFAULT_MODULES)
    x_now = next(iter(source_now.values()))
    counters = [b.counter for b in by_target.values() if b.counter is not None and b.source == x_now]
    counter = max(counters) + 1 if counters else base.counter
    return run_release(session, replace(base, from_=req.from_, kernels=tuple(r["kernel"] for r in changed),
                                        counter=counter, output=Path(req.release_dir)))
