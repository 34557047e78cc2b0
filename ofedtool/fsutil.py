"""Output directories: ofedtool replaces or writes into only what it made itself.

A user's `-o DIR` may name anything: their home, `.`, a file, a symlink into another tree. The
one rule, for every command that writes a directory: DIR may be absent, an empty directory, or
a directory ofedtool made; anything else is refused with one line before anything is written.
ofedtool recognises its own directories by what it wrote there: a generated tree by its
manifest.json (the "ofedtool" and "inputs" keys), every other output directory (packages,
vmtest, check, report, release) by the small marker file MARKER.

Outputs appear whole: they are assembled under a temporary name beside their place and
swapped in (replace_dir), and a lock beside the directory (.NAME.lock) keeps two runs from
writing the same one at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from . import ui
from .errors import OfedError

MARKER = ".ofedtool-output"


def is_ours(path: Path) -> bool:
    """A directory ofedtool made: a generated tree (its manifest) or a marked output directory."""
    if path.is_symlink() or not path.is_dir():
        return False
    if (path / MARKER).is_file():
        return True
    try:
        m = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(m, dict) and "ofedtool" in m and "inputs" in m


def check_output(path: Path, what: str = "-o") -> Path:
    """Refuse (one line, nothing touched) an output path ofedtool must not replace or write into.
    Returns the absolute path. Absent and empty directories are fine, and so are ours."""
    p = Path(path).expanduser().absolute()
    if p.is_symlink():
        raise OfedError(f"{what} {path}: is a symlink (to {os.readlink(p)}); give a real directory")
    if p.exists() and not p.is_dir():
        raise OfedError(f"{what} {path}: exists and is not a directory; ofedtool will not replace it")
    cwd = Path.cwd().absolute()
    if p == cwd or p in cwd.parents:
        raise OfedError(f"{what} {path}: is the current directory or holds it; give a directory of its own")
    if p.is_dir():
        try:
            empty = not any(p.iterdir())
        except OSError as e:
            raise OfedError(f"{what} {path}: cannot be read: {e.strerror}") from None
        # inside one of ours (a tree's vmtest/ made before markers existed) counts as ours
        if not empty and not is_ours(p) and not is_ours(p.parent):
            raise OfedError(f"{what} {path}: exists and was not made by ofedtool (no ofedtool manifest or "
                            f"{MARKER}); refusing to replace it: remove it or choose another directory")
    parent = p.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK) or (p.is_dir() and not os.access(p, os.W_OK | os.X_OK)):
        raise OfedError(f"{what} {path}: {p if p.is_dir() else parent} is not writable")
    return p


def claim_dir(path: Path, what: str = "-o") -> Path:
    """check_output, then create the directory (if needed) and mark it as ours."""
    p = check_output(path, what)
    try:
        p.mkdir(parents=True, exist_ok=True)
        if not (p / MARKER).exists():
            atomic_write(p / MARKER, "made by ofedtool: it may replace this directory's contents\n")
    except OSError as e:
        raise OfedError(f"{what} {path}: cannot create: {e.strerror}") from None
    return p


def mark(path: Path) -> None:
    """Mark a directory being assembled (a temporary that will be swapped in) as ours."""
    (path / MARKER).write_text("made by ofedtool: it may replace this directory's contents\n")


def temp_beside(final: Path) -> Path:
    """A fresh temporary directory name beside `final` (same filesystem, so rename is atomic)."""
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)  # left by a killed run of ours with the same pid
    tmp.mkdir(parents=True)  # the umask's mode, as the final directory should have
    return tmp


def replace_dir(new: Path, final: Path, what: str = "-o") -> None:
    """Swap the complete directory `new` into place at `final`. `final` must pass check_output
    (checked again here: it may have changed since the command started); the previous one is
    removed only after the swap."""
    check_output(final, what)
    if final.is_dir() and any(final.iterdir()):
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        os.rename(final, old)
        os.rename(new, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if final.is_dir():
            final.rmdir()
        os.rename(new, final)


@contextmanager
def output_lock(path: Path, what: str = "-o"):
    """Hold a lock on an output directory for the whole run. A second run on the same directory
    waits (saying so once) and then runs as if started after the first: same inputs find the
    tree up to date. The lock is an fcntl lock, released if the holder dies. Its file lives in a
    per-user lock directory, named for the output's absolute path, not beside the output: a run
    that fails before writing leaves nothing there (and deleting a lock file is never safe)."""
    p = Path(path).expanduser().absolute()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        locks = lock_dir()
    except OSError as e:
        raise OfedError(f"{what} {path}: cannot create {p.parent}: {e.strerror}") from None
    name = hashlib.sha256(str(p).encode()).hexdigest()[:24]
    lock = FileLock(str(locks / f"{name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        ui.info(f"[lock] {p} is in use by another ofedtool run: waiting for it to finish")
        lock.acquire()
    except OSError as e:
        raise OfedError(f"{what} {path}: cannot lock {p.parent}: {e.strerror}") from None
    try:
        yield p
    finally:
        lock.release()


def lock_dir() -> Path:
    """The per-user directory of output locks (mode 0700)."""
    d = Path(tempfile.gettempdir()) / f"ofedtool-locks-{os.getuid()}"
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def atomic_write(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data` in one step, keeping its mode (0644 for a new file).

    Readers see the old or the new content, never a mix; concurrent writers (processes or
    threads) each use their own temporary name, and the last os.replace wins.
    """
    if isinstance(data, str):
        data = data.encode()
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
