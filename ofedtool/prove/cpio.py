"""A deterministic initramfs writer: cpio "newc" archives, gzip'ed, byte-identical for equal input.

Written here rather than driving cpio(1): we need device nodes (/dev/console) without root, and
fixed inode numbers, owners and times so that the same input gives the same image.
"""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    path: str            # inside the archive, no leading slash
    mode: int            # full st_mode (type | permissions)
    data: bytes = b""    # file content, or the target of a symlink
    rdev: tuple[int, int] = (0, 0)


def file(path: str, data: bytes, perm: int = 0o644) -> Entry:
    return Entry(path, stat.S_IFREG | perm, data)


def directory(path: str) -> Entry:
    return Entry(path, stat.S_IFDIR | 0o755)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, stat.S_IFLNK | 0o777, target.encode())


def chardev(path: str, major: int, minor: int, perm: int = 0o600) -> Entry:
    return Entry(path, stat.S_IFCHR | perm, b"", (major, minor))


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _header(ino: int, e: Entry, name: bytes) -> bytes:
    nlink = 2 if stat.S_ISDIR(e.mode) else 1
    fields = (ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, e.rdev[0], e.rdev[1], len(name) + 1, 0)
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def archive(entries: list[Entry]) -> bytes:
    """Parents are added as directories; entries are sorted by path so order never depends on the caller."""
    by_path = {e.path.strip("/"): e for e in entries}
    for p in list(by_path):
        parts = p.split("/")
        for i in range(1, len(parts)):
            by_path.setdefault("/".join(parts[:i]), directory("/".join(parts[:i])))
    out = bytearray()
    for ino, path in enumerate(sorted(by_path), start=1):
        e, name = by_path[path], path.encode()
        head = _header(ino, e, name) + name + b"\0"
        out += head + _pad(len(head)) + e.data + _pad(len(e.data))
    trailer = _header(0, Entry("TRAILER!!!", 0), b"TRAILER!!!") + b"TRAILER!!!\0"
    out += trailer + _pad(len(trailer))
    return bytes(out)


def initramfs(entries: list[Entry]) -> bytes:
    return gzip.compress(archive(entries), compresslevel=6, mtime=0)
