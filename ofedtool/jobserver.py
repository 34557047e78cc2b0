"""One GNU make jobserver shared by every build of a `check` (issue 8, figure (d)).

`ofedtool check` builds each target in its own `ofedtool build` process. Each build's make used
to get a -j of its own (the cores divided among the builds running at once): with 3 targets on 2
cores that was two builds at -j1, then the third alone at -j1 with a core idle for its whole run.
Now check owns one jobserver and every make of every build joins it, so the compile jobs of all
builds together equal the cores at every moment, whichever build they belong to.

The protocol is make's own (GNU make 4.3, Debian 12's; 4.4 also reads it): MAKEFLAGS carries
`-jN --jobserver-auth=R,W`, where R and W are inherited descriptors of a pipe that holds one
byte (token) per free job slot. Every process in the jobserver owns one implicit slot; a make
started with that MAKEFLAGS and *no -j of its own* takes a token for each job beyond its first
and writes it back when the job ends. A -j on the command line makes make leave the jobserver
("-jN forced in submake: resetting jobserver mode") and run N jobs beside everyone else's.

subprocess closes every descriptor but 0-2 unless told (`pass_fds`), and make without the
descriptors falls back to -j1 ("jobserver unavailable"): every Popen that starts a make (or an
`ofedtool build` that will) passes `fds`.

make 4.4's `--jobserver-auth=fifo:PATH` (from a parent make 4.4) is recognised and handed on
as is; a make 4.3 child would not understand it, but then the parent make is 4.4 too.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

TOKEN = b"+"
_AUTH = re.compile(r"^--jobserver-(?:auth|fds)=(\S+)$")
_JOBS = re.compile(r"^-j(\d*)$")


@dataclass(frozen=True)
class Jobserver:
    auth: str                 # "R,W" or "fifo:PATH", as in --jobserver-auth=
    fds: tuple[int, ...]      # descriptors a child must inherit (none for a fifo)
    jobs: int | None = None   # the -jN beside it (informative: how many slots in all)

    def makeflags(self) -> str:
        return f"{'-j' + str(self.jobs) + ' ' if self.jobs else ''}--jobserver-auth={self.auth}"


def _split(makeflags: str) -> tuple[list[str], str]:
    """MAKEFLAGS as option words, and the variable definitions after ' -- ' (kept verbatim)."""
    head, sep, tail = f" {makeflags}".partition(" -- ")
    return head.split(), sep + tail


def from_environ(environ: Mapping[str, str] | None = None) -> Jobserver | None:
    """The jobserver MAKEFLAGS hands this process, if it is usable: its descriptors are open
    here (a parent make passes them only to recipes marked '+' or using $(MAKE))."""
    env = os.environ if environ is None else environ
    words, _ = _split(env.get("MAKEFLAGS", ""))
    auth = jobs = None
    for w in words:
        if m := _AUTH.match(w):
            auth = m.group(1)
        elif (m := _JOBS.match(w)) and m.group(1):
            jobs = int(m.group(1))
    if not auth:
        return None
    if auth.startswith("fifo:"):
        return Jobserver(auth, (), jobs) if os.path.exists(auth[5:]) else None
    try:
        r, w = (int(x) for x in auth.split(","))
    except ValueError:
        return None
    if r < 0 or w < 0:
        return None
    for fd in (r, w):
        try:
            os.fstat(fd)
        except OSError:
            return None
    return Jobserver(auth, (r, w), jobs)


def make_env(environ: Mapping[str, str], js: Jobserver | None) -> dict[str, str]:
    """The environment for a make. Without a usable jobserver, a stale --jobserver-auth (its
    descriptors were not passed to us) is dropped so our own -j applies without a warning."""
    env = dict(environ)
    if js is None and "MAKEFLAGS" in env:
        words, rest = _split(env["MAKEFLAGS"])
        if any(_AUTH.match(w) for w in words):
            kept = [w for w in words if not _AUTH.match(w) and not _JOBS.match(w)]
            env["MAKEFLAGS"] = (" ".join(kept) + rest).strip()
    return env


def jobs_args(jobs: int, js: Jobserver | None) -> list[str]:
    """make's -j: ours when we run alone, none under a jobserver (make then takes its slots
    from the shared pool)."""
    return [] if js is not None else [f"-j{jobs}"]


class Pool:
    """A jobserver this process owns (`ofedtool check`): a pipe holding `jobs - holders`
    tokens, for `holders` children that each run with one implicit slot of their own.

    When a holder ends and nothing takes its place, `give_back()` turns its slot into a token,
    so the builds still running can use that core."""

    def __init__(self, jobs: int, holders: int):
        if not 1 <= holders <= jobs:
            raise ValueError(f"jobserver: {holders} holders for {jobs} slots")
        self.jobs = jobs
        self.r, self.w = os.pipe()
        # make 4.3 sets the read side non-blocking itself (it waits with pselect); do it here
        # so Python clients (ofedtool's own parallel stages) can take tokens without blocking.
        fcntl.fcntl(self.r, fcntl.F_SETFL, fcntl.fcntl(self.r, fcntl.F_GETFL) | os.O_NONBLOCK)
        if jobs > holders:
            os.write(self.w, TOKEN * (jobs - holders))
        self.server = Jobserver(f"{self.r},{self.w}", (self.r, self.w), jobs)
        self._lock = threading.Lock()
        self._closed = False

    def env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """environ with MAKEFLAGS pointing at this pool (a parent's jobserver, if any, is
        replaced: check divides its own -j among its builds)."""
        words, rest = _split(environ.get("MAKEFLAGS", ""))
        kept = [w for w in words if not _AUTH.match(w) and not _JOBS.match(w)]
        return {**environ, "MAKEFLAGS": " ".join([*kept, self.server.makeflags()]) + rest}

    def give_back(self) -> None:
        with self._lock:
            if not self._closed:
                os.write(self.w, TOKEN)

    def close(self) -> None:
        with self._lock:  # a late give_back() must not write to a reused descriptor number
            if self._closed:
                return
            self._closed = True
            os.close(self.r)
            os.close(self.w)


@contextmanager
def slots(want: int, js: Jobserver | None = None) -> Iterator[int]:
    """How many parallel workers a Python stage (spatch) may run: `want` when no jobserver is
    around, else this process's implicit slot plus the tokens it can take right now (never
    waiting), held until the block ends. Tokens are written back even on errors and ^C."""
    if js is None:
        js = from_environ()
    if js is None or want <= 1 or len(js.fds) != 2:
        yield max(1, want)
        return
    r, w = js.fds
    taken = b""
    try:
        if fcntl.fcntl(r, fcntl.F_GETFL) & os.O_NONBLOCK:  # never block on someone else's pipe
            while len(taken) < want - 1:
                try:
                    got = os.read(r, want - 1 - len(taken))
                except (BlockingIOError, InterruptedError):
                    break
                if not got:
                    break
                taken += got
        yield 1 + len(taken)
    finally:
        if taken:
            os.write(w, taken)
