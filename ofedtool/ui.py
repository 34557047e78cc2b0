"""Progress and messages on stderr; stdout is reserved for results (text or --json)."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

_level = 1  # 0 quiet, 1 normal, 2 verbose
_live = None  # the Progress whose line a terminal shows now (cleared before any other message)


def set_level(level: int) -> None:
    global _level
    _level = level


def _clear_live() -> None:
    if _live is not None and _live.drawn:
        sys.stderr.write("\r\033[K")
        _live.drawn = False


def info(msg: str) -> None:
    if _level >= 1:
        _clear_live()
        print(msg, file=sys.stderr, flush=True)
        if _live is not None:
            _live.redraw()


def debug(msg: str) -> None:
    if _level >= 2:
        _clear_live()
        print(f"  {msg}", file=sys.stderr, flush=True)


def warn(msg: str) -> None:
    _clear_live()
    print(f"warning: {msg}", file=sys.stderr, flush=True)


class Progress:
    """`done/total what (pct%)` for a long step. On a terminal, one line rewritten in place
    (at most every 0.2 s); elsewhere (CI logs, pipes) a line at every further 10 % or every
    `every` seconds, whichever comes first, so a log shows life without filling up."""

    def __init__(self, prefix: str, total: int, what: str, every: float = 30.0, stream=None):
        global _live
        self.prefix, self.total, self.what, self.every = prefix, max(total, 1), what, every
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.drawn = False
        self._t0 = self._last = time.monotonic()
        self._last_step = 0
        if _level >= 1 and self.tty:
            _live = self

    def _text(self) -> str:
        pct = min(100, self.done * 100 // self.total)
        return f"{self.prefix} {self.done}/{self.total} {self.what} ({pct}%), {time.monotonic() - self._t0:.0f}s"

    def redraw(self) -> None:
        if self.tty and _level >= 1:
            self.stream.write("\r\033[K" + self._text())
            self.stream.flush()
            self.drawn = True

    def update(self, done: int) -> None:
        self.done = done
        if _level < 1:
            return
        now = time.monotonic()
        if self.tty:
            if now - self._last >= 0.2 or done >= self.total:
                self._last = now
                self.redraw()
            return
        step = min(10, done * 10 // self.total)
        if step > self._last_step or now - self._last >= self.every:
            self._last_step, self._last = step, now
            print(self._text(), file=self.stream, flush=True)

    def close(self) -> None:
        global _live
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
        if _live is self:
            _live = None


@contextmanager
def stage(name: str, what: str = ""):
    """Announce a pipeline stage and report its wall time when it ends."""
    t0 = time.monotonic()
    info(f"[{name}] {what}".rstrip())
    yield
    info(f"[{name}] done in {time.monotonic() - t0:.1f}s")
