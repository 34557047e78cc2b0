"""Progress and messages on stderr; stdout is reserved for results (text or --json)."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

_level = 1  # 0 quiet, 1 normal, 2 verbose


def set_level(level: int) -> None:
    global _level
    _level = level


def info(msg: str) -> None:
    if _level >= 1:
        print(msg, file=sys.stderr, flush=True)


def debug(msg: str) -> None:
    if _level >= 2:
        print(f"  {msg}", file=sys.stderr, flush=True)


def warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr, flush=True)


@contextmanager
def stage(name: str, what: str = ""):
    """Announce a pipeline stage and report its wall time when it ends."""
    t0 = time.monotonic()
    info(f"[{name}] {what}".rstrip())
    yield
    info(f"[{name}] done in {time.monotonic() - t0:.1f}s")
