"""A private apt for Debian's mirror: its own sources list, lists and archive dirs in our cache.

The system's apt configuration is never read or changed, so any suite (bullseye, trixie, sid,
backports) is reachable from any Debian host, and no root is needed for index or download work.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .. import ui
from .cache import Cache, atomic_write, sha256_file
from ..catalog import Suite, load_suites, version_key
from ..errors import OfedError
from ..proc import require  # noqa: F401  (re-exported while other branches still import it from here)
from ..proc import run

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
MIRRORS = {
    "debian": os.environ.get("OFEDTOOL_DEBIAN_MIRROR", "http://deb.debian.org/debian"),
    "debian-security": os.environ.get("OFEDTOOL_DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security"),
}
# An index older than this is refreshed before resolving "newest"; --offline never refreshes.
INDEX_MAX_AGE = 6 * 3600


@dataclass(frozen=True)
class Deb:
    package: str
    version: str
    path: Path
    sha256: str
    size: int


class Apt:
    def __init__(self, cache: Cache, suites: tuple[str, ...], arch: str = "amd64", offline: bool = False):
        known = load_suites()
        unknown = [s for s in suites if s not in known]
        if unknown:
            raise OfedError(f"unknown Debian suite(s) {', '.join(unknown)} (see kernels/suites.toml)")
        self.cache = cache
        self.suites: list[Suite] = [known[s] for s in suites]
        self.arch = arch
        self.offline = offline
        key = hashlib.sha256(("|".join(sorted(suites)) + arch).encode()).hexdigest()[:12]
        self.name = f"{'+'.join(sorted(suites))}"[:60]
        self.root = cache.path("apt", key)
        self._lock = f"apt-{key}"

    # -- configuration ---------------------------------------------------------------
    def _sources(self) -> str:
        lines = []
        for s in self.suites:
            uri = MIRRORS[s.archive]
            lines.append(f"deb [signed-by={KEYRING}] {uri} {s.name} main\n")
        return "".join(lines)

    def _opts(self) -> list[str]:
        r = self.root
        return [
            "-o", f"Dir::Etc::sourcelist={r}/sources.list",
            "-o", f"Dir::Etc::sourceparts={r}/sources.list.d",
            "-o", f"Dir::State::Lists={r}/lists",
            "-o", f"Dir::Cache={r}/cache",
            # Debian images often disable apt's binary cache (docker-clean): every apt-cache call
            # then re-parses all indexes (~2-3 s). Our private cache dir can keep it.
            "-o", "Dir::Cache::pkgcache=pkgcache.bin",
            "-o", "Dir::Cache::srcpkgcache=srcpkgcache.bin",
            "-o", f"Dir::Etc::Preferences={r}/preferences",
            # An empty dpkg status: the host's installed packages must not satisfy a dependency
            # of the target's suites (closure() would skip bookworm's libc6 as "installed").
            "-o", f"Dir::State::status={r}/status",
            "-o", f"Dir::Etc::PreferencesParts={r}/preferences.d",
            "-o", f"APT::Architecture={self.arch}",
            "-o", "APT::Architectures::=" + self.arch,
            "-o", "Acquire::Languages=none",
            "-o", "Debug::NoLocking=true",
            "-o", "Acquire::Retries=3",
        ]

    def _run(self, cmd: list[str], what: str) -> str:
        return run(cmd, what=what, package="apt").stdout

    def _query(self, args: list[str], what: str, program: str = "apt-cache") -> str:
        """apt-cache ARGS (or a read-only apt-get -s), memoised per index state. Each call re-reads the whole
        index (~2 s for several suites); its answer is a pure function of the downloaded lists,
        so it is kept in queries.json, keyed by the lists' names, sizes and mtimes: any
        `apt-get update` that changes them starts a fresh memo."""
        lists = self.root / "lists"
        try:
            state = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(lists) if e.is_file())
        except OSError:
            state = []
        fp = hashlib.sha256(repr((self._sources(), self.arch, state)).encode()).hexdigest()
        key = "\0".join([program, *args] if program != "apt-cache" else args)
        memo_file = self.root / "queries.json"
        try:
            memo = json.loads(memo_file.read_text())
            if memo.get("index") != fp:
                memo = {"index": fp, "answers": {}}
        except (OSError, ValueError):
            memo = {"index": fp, "answers": {}}
        if key in memo["answers"]:
            return memo["answers"][key]
        out = self._run([program, *self._opts(), *args], what)
        memo["answers"][key] = out
        try:
            atomic_write(memo_file, json.dumps(memo))  # concurrent runs: last writer wins, both answers are right
        except OSError:
            pass
        return out

    # -- index -----------------------------------------------------------------------
    def update(self, max_age: float = INDEX_MAX_AGE) -> None:
        """Fetch the suites' package indexes unless younger than max_age seconds (or --offline)."""
        require("apt-get", "apt")
        stamp = self.root / "updated"
        with self.cache.lock(self._lock):
            (self.root / "lists" / "partial").mkdir(parents=True, exist_ok=True)
            (self.root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
            (self.root / "sources.list.d").mkdir(exist_ok=True)
            (self.root / "preferences.d").mkdir(exist_ok=True)
            (self.root / "status").touch()
            sources = self._sources()
            sl = self.root / "sources.list"
            fresh = stamp.exists() and sl.exists() and sl.read_text() == sources
            if fresh and (self.offline or time.time() - stamp.stat().st_mtime < max_age):
                return
            if self.offline:
                if fresh:
                    return
                raise OfedError(f"--offline: no package index for suites {self.name} in the cache")
            sl.write_text(sources)
            ui.info(f"[apt] updating package index for {', '.join(s.name for s in self.suites)}")
            self._run(["apt-get", *self._opts(), "-q", "update"], f"apt-get update ({self.name})")
            stamp.touch()

    def names(self, pattern: str) -> list[str]:
        """Package names in the index that fully match the regex."""
        rx = re.compile(pattern)
        # pkgnames takes a literal prefix: the pattern up to its first regex syntax.
        prefix = re.match(r"[A-Za-z0-9-]*", pattern).group(0)
        out = self._query(["pkgnames", prefix], "apt-cache pkgnames")
        return sorted(n for n in out.split() if rx.fullmatch(n))

    def versions(self, package: str) -> list[str]:
        """All versions of a package in the index, newest first (apt's own ordering)."""
        out = self._query(["madison", package], f"apt-cache madison {package}")
        vers = []
        for line in out.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) >= 2 and parts[0] == package and parts[1] not in vers:
                vers.append(parts[1])
        return vers

    def show(self, package: str, version: str) -> dict[str, str]:
        out = self._query(["show", f"{package}={version}"], f"apt-cache show {package}={version}")
        fields: dict[str, str] = {}
        key = None
        for line in out.splitlines():
            if not line.strip():
                if fields:
                    break
                continue
            if line[0].isspace() and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, val = line.partition(":")
                fields[key] = val.strip()
        return fields

    def newest(self, package: str) -> str:
        vers = self.versions(package)
        if not vers:
            raise OfedError(f"package {package} not found in Debian suites {', '.join(s.name for s in self.suites)}")
        return vers[0]

    def closure(self, packages: list[str]) -> list[tuple[str, str]]:
        """(package, version) of the packages and everything they Depend/Pre-Depend on, as apt's
        own resolver picks them on an empty system (alternatives, virtual packages and version
        constraints are its business), without Recommends."""
        out = self._query(["-s", "-q", "install", "--no-install-recommends", *packages],
                          f"resolving {' '.join(packages)}", program="apt-get")
        found = re.findall(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ", out, re.M)
        if not found:
            raise OfedError(f"resolving {' '.join(packages)} in Debian suites {self.name}: apt chose nothing")
        return sorted(found)

    # -- download --------------------------------------------------------------------
    def download_all(self, wanted: list[tuple[str, str]]) -> list[Deb]:
        """download() for many packages, fetching the missing ones in one apt-get call (one index
        read instead of one per package: a toolchain closure is ~30 packages)."""
        missing = [(p, v) for p, v in wanted if not self.cache.path(self._entry(p, v)).exists()]
        if len(missing) < 2:
            return [self.download(p, v) for p, v in wanted]
        self.cache.path("debs").mkdir(parents=True, exist_ok=True)
        # A batch dir is only a source for the per-package entries, which are still made whole
        # and verified one by one; a killed run leaves a .batch-* that nothing trusts.
        with tempfile.TemporaryDirectory(dir=self.cache.path("debs"), prefix=".batch-") as batch:
            size = sum(int(self.show(p, v).get("Size", 0)) for p, v in missing)
            ui.info(f"[apt] downloading {len(missing)} packages ({size >> 20} MiB)")
            self._run(["sh", "-c", 'cd "$1" && shift && exec apt-get "$@"', "sh", batch, *self._opts(), "-q",
                       "download", *(f"{p}={v}" for p, v in missing)], f"apt-get download ({len(missing)} packages)")
            return [self.download(p, v, prefetched=Path(batch)) for p, v in wanted]

    def _entry(self, package: str, version: str) -> str:
        return f"debs/{package}_{version.replace(':', '%3a')}"

    def download(self, package: str, version: str, prefetched: Path | None = None) -> Deb:
        """The .deb in the cache, downloaded and verified against the signed index on first use
        (taken from `prefetched`, a dir download_all() filled, when it is there)."""
        info = self.show(package, version)
        expected = info.get("SHA256", "")
        fname = _deb_name(package, version, info.get("Architecture", self.arch))

        def create(tmp: Path) -> None:
            ready = prefetched / fname if prefetched else None
            if self.offline and not (ready is not None and ready.exists()):
                raise OfedError(f"--offline: {package} {version} is not in the cache")
            tmp.mkdir(parents=True)
            if ready is not None and ready.exists():
                os.rename(ready, tmp / ready.name)
            else:
                ui.info(f"[apt] downloading {package} {version} ({int(info.get('Size', 0)) >> 20} MiB)")
                self._run(["sh", "-c", 'cd "$1" && shift && exec apt-get "$@"', "sh", str(tmp), *self._opts(),
                           "-q", "download", f"{package}={version}"], f"apt-get download {package}={version}")
            debs = list(tmp.glob("*.deb"))
            if len(debs) != 1:
                raise OfedError(f"apt-get download {package}={version}: expected one .deb, got {len(debs)}")
            got = sha256_file(debs[0])
            if expected and got != expected:
                raise OfedError(f"{debs[0].name}: sha256 {got} does not match the index ({expected})")
            os.rename(debs[0], tmp / fname)

        # Pinned to the index's SHA256: a truncated or altered .deb is found on every use
        # (and downloaded again once), not only when it was first downloaded.
        entry = self.cache.ensure(self._entry(package, version), create, pins={fname: expected} if expected else None)
        path = entry / fname
        return Deb(package, version, path, expected or sha256_file(path), path.stat().st_size)


def _deb_name(package: str, version: str, arch: str) -> str:
    """The file name apt-get download gives a package (the epoch's colon is escaped)."""
    return f"{package}_{version.replace(':', '%3a')}_{arch}.deb"


def unpack(debs: list[Deb], root: Path) -> None:
    """dpkg-deb -x each package into root: files only, no maintainer scripts, no root needed."""
    require("dpkg-deb", "dpkg")
    for d in debs:
        run(["dpkg-deb", "-x", d.path, root], what=f"dpkg-deb -x {d.path.name}", package="dpkg")


def highest(names_with_abi: list[tuple[str, str]]) -> tuple[str, str]:
    """The (name, abi) with the highest ABI, comparing its numbers (6.1.0-56 > 6.1.0-9)."""
    return max(names_with_abi, key=lambda na: version_key(na[1]))


def parse_depends(field: str) -> list[tuple[str, str | None]]:
    """Depends: 'a (= 1), b (>= 2) | c, d' → [(a, '1'), (b, None), (d, None)] (first alternative)."""
    out = []
    for dep in field.split(","):
        first = dep.split("|")[0].strip()
        m = re.match(r"([a-z0-9][a-z0-9.+-]*)(?:\s*\(\s*(=|>=|<=|>>|<<)\s*([^)\s]+)\s*\))?", first)
        if m:
            out.append((m.group(1), m.group(3) if m.group(2) == "=" else None))
    return out
