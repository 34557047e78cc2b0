"""The download/extract cache: entries appear whole or not at all.

Every entry is a directory (or file) that is built under a temporary name beside its final
place and renamed into place while holding the entry's lock. A run that is killed leaves only a
temporary name, which no run ever trusts and the next creator of that entry removes. Concurrent
runs wanting the same entry serialise on its lock; the second finds it done.
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

from .errors import OfedError
from .fsutil import atomic_write  # noqa: F401  (re-exported: callers import it from here)

DEFAULT_CACHE = "~/.cache/ofedtool"


def default_cache_dir(given: str | Path | None = None) -> Path:
    """--cache-dir, else $OFEDTOOL_CACHE, else cache_dir in the config file, else ~/.cache/ofedtool."""
    if given:
        return Path(given).expanduser()
    if os.environ.get("OFEDTOOL_CACHE"):
        return Path(os.environ["OFEDTOOL_CACHE"]).expanduser()
    from .config import load_config
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


class Cache:
    def __init__(self, root: Path):
        self.root = Path(root).expanduser().absolute()

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

    def ensure(self, rel: str, create: Callable[[Path], None], lock_name: str | None = None) -> Path:
        """Return cache entry `rel`, creating it with create(tmp_path) if absent.

        create() writes a file or directory at tmp_path; on success it is renamed to the final
        place atomically. On any failure (including KeyboardInterrupt) the temporary is removed.
        """
        final = self.path(rel)
        if final.exists():
            return final
        with self.lock(lock_name or rel):
            if final.exists():
                return final
            final.parent.mkdir(parents=True, exist_ok=True)
            for stale in final.parent.glob(f".{final.name}.tmp-*"):
                _remove(stale)
            tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
            try:
                create(tmp)
                if not tmp.exists():
                    raise OfedError(f"cache entry {rel}: creator produced nothing")
                os.rename(tmp, final)
            except BaseException:
                _remove(tmp)
                raise
        return final

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


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)
