"""A private apt for Debian's mirror: its own sources list, lists and archive dirs in our cache.

The system's apt configuration is never read or changed, so any suite (bullseye, trixie, sid,
backports) is reachable from any Debian host, and no root is needed for index or download work.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import ui
from .cache import Cache, sha256_file
from .catalog import Suite, load_suites, version_key
from .errors import MissingTool, OfedError

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
MIRRORS = {
    "debian": os.environ.get("OFEDTOOL_DEBIAN_MIRROR", "http://deb.debian.org/debian"),
    "debian-security": os.environ.get("OFEDTOOL_DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security"),
}
# An index older than this is refreshed before resolving "newest"; --offline never refreshes.
INDEX_MAX_AGE = 6 * 3600


def require(tool: str, package: str) -> str:
    """The tool's path, or MissingTool naming its Debian package. /usr/sbin is searched too:
    dkms and depmod live there and a non-root PATH often lacks it."""
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    if not path:
        raise MissingTool(tool, package)
    return path


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
            "-o", f"Dir::Etc::PreferencesParts={r}/preferences.d",
            "-o", f"APT::Architecture={self.arch}",
            "-o", "APT::Architectures::=" + self.arch,
            "-o", "Acquire::Languages=none",
            "-o", "Debug::NoLocking=true",
            "-o", "Acquire::Retries=3",
        ]

    def _run(self, cmd: list[str], what: str) -> str:
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            err = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise OfedError(f"{what} failed: {err}")
        return p.stdout

    def _query(self, args: list[str], what: str) -> str:
        """apt-cache ARGS, memoised per index state. Each apt-cache call re-reads the whole
        index (~2 s for several suites); its answer is a pure function of the downloaded lists,
        so it is kept in queries.json, keyed by the lists' names, sizes and mtimes: any
        `apt-get update` that changes them starts a fresh memo."""
        lists = self.root / "lists"
        try:
            state = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(lists) if e.is_file())
        except OSError:
            state = []
        fp = hashlib.sha256(repr((self._sources(), self.arch, state)).encode()).hexdigest()
        key = "\0".join(args)
        memo_file = self.root / "queries.json"
        try:
            memo = json.loads(memo_file.read_text())
            if memo.get("index") != fp:
                memo = {"index": fp, "answers": {}}
        except (OSError, ValueError):
            memo = {"index": fp, "answers": {}}
        if key in memo["answers"]:
            return memo["answers"][key]
        out = self._run(["apt-cache", *self._opts(), *args], what)
        memo["answers"][key] = out
        tmp = memo_file.with_name(f"queries.json.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(memo))
            os.replace(tmp, memo_file)  # concurrent runs: last writer wins, both answers are right
        except OSError:
            tmp.unlink(missing_ok=True)
        return out

    # -- index -----------------------------------------------------------------------
    def update(self) -> None:
        """Fetch the suites' package indexes unless fresh enough (or --offline)."""
        require("apt-get", "apt")
        stamp = self.root / "updated"
        with self.cache.lock(self._lock):
            (self.root / "lists" / "partial").mkdir(parents=True, exist_ok=True)
            (self.root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
            (self.root / "sources.list.d").mkdir(exist_ok=True)
            (self.root / "preferences.d").mkdir(exist_ok=True)
            sources = self._sources()
            sl = self.root / "sources.list"
            fresh = stamp.exists() and sl.exists() and sl.read_text() == sources
            if fresh and (self.offline or time.time() - stamp.stat().st_mtime < INDEX_MAX_AGE):
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

    # -- download --------------------------------------------------------------------
    def download(self, package: str, version: str) -> Deb:
        """The .deb in the cache, downloaded and verified against the signed index on first use."""
        info = self.show(package, version)
        expected = info.get("SHA256", "")
        fname = f"{package}_{version.replace(':', '%3a')}_{info.get('Architecture', self.arch)}.deb"

        def create(tmp: Path) -> None:
            tmp.mkdir(parents=True)
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

        entry = self.cache.ensure(f"debs/{package}_{version.replace(':', '%3a')}", create)
        path = entry / fname
        return Deb(package, version, path, expected or sha256_file(path), path.stat().st_size)


def unpack(debs: list[Deb], root: Path) -> None:
    """dpkg-deb -x each package into root: files only, no maintainer scripts, no root needed."""
    require("dpkg-deb", "dpkg")
    for d in debs:
        p = subprocess.run(["dpkg-deb", "-x", str(d.path), str(root)], capture_output=True, text=True)
        if p.returncode != 0:
            raise OfedError(f"dpkg-deb -x {d.path.name} failed: {p.stderr.strip()}")


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
