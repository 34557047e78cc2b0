"""The download/extract cache: entries appear whole or not at all, and are verified on use.

Every entry is a directory (or file) that is built under a temporary name beside its final
place and renamed into place while holding the entry's lock. A run that is killed leaves only a
temporary name, which no run ever trusts and the next creator of that entry removes. Concurrent
runs wanting the same entry serialise on its lock; the second finds it done.

Verified, not trusted: at creation each entry gets a record beside it (.NAME.digest) of what it
holds: every file's size ("tree": cheap for big trees; a deleted or truncated file shows) or
its sha256 ("content": for entries cheap to hash), and optionally pins, files whose sha256 is
known from elsewhere (a .deb's, from the signed package index). Every use (get, ensure) checks
the entry against its record; a damaged entry is removed with one warning and made again. An
entry made before records existed is checked by its pins if it has any and then given a record
of what it holds now. Small result files (probe answers, SmPL results) are sealed instead
(seal/unseal: their sha256 in front of the data).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from .. import ui
from ..errors import OfedError
from ..fsutil import atomic_write  # noqa: F401  (re-exported: callers import it from here)

DEFAULT_CACHE = "~/.cache/ofedtool"


def default_cache_dir(given: str | Path | None = None) -> Path:
    """--cache-dir, else $OFEDTOOL_CACHE, else cache_dir in the config file, else ~/.cache/ofedtool."""
    if given:
        return Path(given).expanduser()
    if os.environ.get("OFEDTOOL_CACHE"):
        return Path(os.environ["OFEDTOOL_CACHE"]).expanduser()
    from ..config import load_config
    return Path(load_config().get("cache_dir") or DEFAULT_CACHE).expanduser()


def open_cache(given: str | Path | None = None) -> Cache:
    """The cache the CLI uses; a path that cannot be one is refused in one line up front."""
    root = default_cache_dir(given).absolute()
    p = root
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        raise OfedError(f"cache directory {root}: {p} is not a directory "
                        f"(set --cache-dir, $OFEDTOOL_CACHE or cache_dir in the config to a directory)")
    return Cache(root)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name)


RECORD_FORMAT = 1
_SEAL = b"ofedtool-sealed sha256="


def seal(data: bytes) -> bytes:
    """data with its sha256 in front: unseal() gives it back only if not a byte changed."""
    return _SEAL + hashlib.sha256(data).hexdigest().encode() + b"\n" + data


def unseal(blob: bytes) -> bytes | None:
    """The data of a seal()ed blob, or None when it is torn, changed or not sealed at all."""
    if not blob.startswith(_SEAL):
        return None
    head, sep, data = blob[len(_SEAL):].partition(b"\n")
    if not sep or hashlib.sha256(data).hexdigest().encode() != head:
        return None
    return data


def json_digest(obj) -> str:
    """sha256 of a JSON value in canonical form: the seal of a result kept inside a JSON file."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def inventory(path: Path, kind: str = "tree") -> dict[str, str]:
    """relative path → its size ("tree") or sha256 ("content"); symlinks → their target."""
    path = Path(path)
    if not path.is_dir() or path.is_symlink():
        st = os.lstat(path)
        return {".": sha256_file(path) if kind == "content" else str(st.st_size)}
    out: dict[str, str] = {}
    stack = [(str(path), "")]
    while stack:  # scandir: one getdents and no extra stat per file (a headers tree is 16k files)
        d, prefix = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                rel = prefix + e.name
                if e.is_symlink():
                    out[rel] = "-> " + os.readlink(e.path)
                elif e.is_dir(follow_symlinks=False):
                    stack.append((e.path, rel + "/"))
                else:
                    out[rel] = sha256_file(Path(e.path)) if kind == "content" else str(e.stat(follow_symlinks=False).st_size)
    return dict(sorted(out.items()))


class Cache:
    def __init__(self, root: Path):
        self.root = Path(root).expanduser().absolute()
        self._verified: set[str] = set()  # entries checked by this process (checked once each)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @contextmanager
    def lock(self, name: str, timeout: float = -1):
        """Hold the named cross-process lock (fcntl via filelock; released if the process dies)."""
        lockdir = self.root / "locks"
        try:
            lockdir.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(lockdir / f"{_safe(name)}.lock"), timeout=timeout)
            lock.acquire()
        except Timeout:
            raise
        except OSError as e:
            raise OfedError(f"cache directory {self.root}: cannot write there ({e.strerror}); "
                            f"use --cache-dir or $OFEDTOOL_CACHE for a writable one") from None
        try:
            yield
        finally:
            lock.release()

    def get(self, rel: str, kind: str = "tree", pins: dict[str, str] | None = None,
            lock_name: str | None = None) -> Path | None:
        """Entry `rel` if it is there and matches its record; None if absent. A damaged entry is
        removed (one warning) and None returned, so the caller makes it again."""
        final = self.path(rel)
        if not (final.exists() or final.is_symlink()):
            return None
        if rel in self._verified:
            return final
        why = self._damage(final, kind, pins)
        if why is None:
            self._verified.add(rel)
            return final
        with self.lock(lock_name or rel):
            if final.exists() and self._damage(final, kind, pins) is not None:
                ui.warn(f"cache entry {rel} is damaged ({why}): removing it and making it again")
                self._discard(final)
        return None

    def ensure(self, rel: str, create: Callable[[Path], None], lock_name: str | None = None,
               kind: str = "tree", pins: dict[str, str] | None = None) -> Path:
        """Return cache entry `rel`, creating it with create(tmp_path) if absent or damaged.

        create() writes a file or directory at tmp_path; on success it is recorded (kind, pins:
        see the module's doc) and renamed to the final place atomically. On any failure
        (including KeyboardInterrupt) the temporary is removed.
        """
        final = self.get(rel, kind, pins, lock_name)
        if final is not None:
            return final
        final = self.path(rel)
        with self.lock(lock_name or rel):
            if final.exists():  # made meanwhile by a concurrent run
                why = self._damage(final, kind, pins)
                if why is None:
                    self._verified.add(rel)
                    return final
                ui.warn(f"cache entry {rel} is damaged ({why}): removing it and making it again")
                self._discard(final)
            final.parent.mkdir(parents=True, exist_ok=True)
            for stale in final.parent.glob(f".{final.name}.tmp-*"):
                _remove(stale)
            tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
            try:
                create(tmp)
                if not tmp.exists():
                    raise OfedError(f"cache entry {rel}: creator produced nothing")
                bad = _pin_mismatch(tmp, pins)
                if bad:
                    raise OfedError(f"cache entry {rel}: {bad}")
                # The record first: an entry is never in place without one (a record without
                # its entry is overwritten by the next creator).
                self._write_record(final, tmp, kind, pins)
                os.rename(tmp, final)
            except BaseException:
                _remove(tmp)
                raise
        self._verified.add(rel)
        return final

    # -- records ---------------------------------------------------------------------
    @staticmethod
    def _record_path(final: Path) -> Path:
        return final.parent / f".{final.name}.digest"

    def _write_record(self, final: Path, content: Path, kind: str, pins: dict[str, str] | None) -> None:
        record = {"format": RECORD_FORMAT, "kind": kind, "pins": dict(sorted((pins or {}).items())),
                  "files": inventory(content, kind)}
        atomic_write(self._record_path(final), json.dumps(record, sort_keys=True, separators=(",", ":")))

    def _damage(self, final: Path, kind: str, pins: dict[str, str] | None) -> str | None:
        """Why the entry does not match its record (and pins), or None when it does."""
        try:
            record = json.loads(self._record_path(final).read_text())
            if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
                raise ValueError
        except FileNotFoundError:
            record = None
        except (OSError, ValueError):
            return "its record is unreadable"
        bad = _pin_mismatch(final, {**(record or {}).get("pins", {}), **(pins or {})})
        if bad:
            return bad
        if record is None:
            # made before records existed: what it holds now is what later uses must find
            try:
                self._write_record(final, final, kind, pins)
            except OSError:
                pass  # a read-only cache: used as it is
            return None
        want = record.get("files", {})
        got = inventory(final, record.get("kind", kind))
        if got == want:
            return None
        missing = sorted(set(want) - set(got))
        changed = sorted(k for k in set(want) & set(got) if want[k] != got[k])
        added = sorted(set(got) - set(want))
        for label, names in (("missing", missing), ("changed", changed), ("not made by ofedtool", added)):
            if names:
                more = f" and {len(names) - 1} more" if len(names) > 1 else ""
                return f"{label}: {names[0]}{more}"
        return "differs from its record"

    def _discard(self, final: Path) -> None:
        """Move a damaged entry out of the way (a reader still inside it keeps working on the
        old inode), then delete it and its record."""
        gone = final.parent / f".{final.name}.bad-{os.getpid()}"
        _remove(gone)
        os.rename(final, gone)
        self._record_path(final).unlink(missing_ok=True)
        _remove(gone)

    def write_json(self, rel: str, data) -> Path:
        final = self.path(rel)
        final.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(final, json.dumps(data, indent=2, sort_keys=True) + "\n")
        return final

    def size(self) -> int:
        total = 0
        for dirpath, _dirs, files in os.walk(self.root):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_size
                except OSError:
                    pass
        return total


def _pin_mismatch(entry: Path, pins: dict[str, str] | None) -> str | None:
    for name, sha in sorted((pins or {}).items()):
        f = entry / name if name != "." else entry
        if not f.is_file():
            return f"missing: {name}"
        got = sha256_file(f)
        if got != sha:
            return f"{name}: sha256 {got[:16]}... is not the expected {sha[:16]}..."
    return None


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)
