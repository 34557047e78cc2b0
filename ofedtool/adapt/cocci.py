"""Run one Coccinelle semantic patch over a list of files, in parallel, all or nothing.

Replaces the old pycocci script. Each spatch process gets a small batch of files,
copied into a private directory and changed there with --in-place; the tree is only
written once every file succeeded, so a failing or hung spatch leaves it untouched.

spatch flags, and why:
  --file-groups LIST  one group per file: each file is matched on its own (as with
                      one spatch per file) while the SmPL is parsed once per batch,
                      and unlike --dir no file is skipped for its name.
  --no-includes       spatch parses no #included header, so its output depends only
                      on the SmPL and the file: that is what makes the content-keyed
                      cache sound, and we have no -I for the target anyway.
                      (--include-headers only matters for --dir walks: listed .h files
                      are processed regardless, so we do not pass it.)
  --in-place          on the private copy; its output file is our result. -o cannot be
                      used: it fails with status 255 when the token prefilter skips
                      a file ("no modified files").
  --no-show-diff      we diff nothing on stdout.
  --quiet             not --very-quiet: we need the "HANDLING:"/"Skipping:" lines on
                      stderr to know which file is running (per-file timeout, per-file
                      timing, naming the culprit).
spatch's own --timeout is not used: it does not interrupt Python script rules. In a
multi-file run spatch reports a per-file failure as "EXN: ... in FILE" and still exits
0, so those lines count as failures.
"""

from __future__ import annotations

from ..defaults import DEFAULT_JOBS

import hashlib
import math
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .. import jobserver, ui
from ..errors import Failed, MissingTool, OfedError
from ..fetch.cache import atomic_write, seal, unseal

_FLAGS = ("--quiet", "--no-show-diff", "--no-includes", "--in-place")
# Bump when the flags or the meaning of a cache entry change.
# 2: entries are sealed (cache.seal): a truncated or altered result is recomputed, never applied.
_CACHE_FORMAT = b"ofedtool-cocci-2"
_UNCHANGED = b"unchanged\n"
_CHANGED = b"changed\n"
# Measured on 6.12 drivers/infiniband/core: one spatch per file costs ~45 ms of
# start-up (SmPL, standard.h, standard.iso); batches of up to 8 cut a cold run by
# about a quarter while still leaving several batches per worker to balance load.
MAX_BATCH = 8
_BATCHES_PER_WORKER = 4


class SmplError(Failed):
    """An SmPL rule failed on this X: the backport is bad, not the command line."""


@dataclass(frozen=True)
class SmplFileResult:
    file: str
    changed: bool
    cached: bool
    seconds: float  # spatch time for this file (0 for cache hits)


@dataclass(frozen=True)
class SmplResult:
    smpl: str
    files: tuple[SmplFileResult, ...]
    seconds: float  # wall time of the whole run
    workers: int  # spatch processes run concurrently (0: everything was cached)
    cache_hits: int


@dataclass(frozen=True)
class _Outcome:
    output: bytes | None  # None: unchanged
    seconds: float


def find_spatch() -> str:
    path = shutil.which("spatch")
    if path is None:
        raise MissingTool("spatch", "coccinelle")
    return path


@cache
def spatch_version(spatch: str) -> str:
    try:
        out = subprocess.run([spatch, "--version"], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        raise OfedError(f"cannot run '{spatch} --version': {e}") from None
    return out.stdout.splitlines()[0].strip() if out.stdout else "unknown"


def cache_key(smpl: bytes, version: str, content: bytes) -> str:
    h = hashlib.sha256()
    # Length-prefixed so that no two different triples hash the same bytes.
    for part in (_CACHE_FORMAT, " ".join(_FLAGS).encode(), smpl, version.encode(), content):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / "cocci" / key[:2] / key


def _cache_get(cache_dir: Path | None, key: str) -> _Outcome | None:
    if cache_dir is None:
        return None
    path = _cache_path(cache_dir, key)
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    data = unseal(blob)
    if data is None:
        ui.warn(f"SmPL cache entry {path} is damaged: running spatch again")
        return None
    if data == _UNCHANGED:
        return _Outcome(None, 0.0)
    if data.startswith(_CHANGED):
        return _Outcome(data[len(_CHANGED) :], 0.0)
    return None  # torn or foreign entry: recompute and overwrite


def _cache_put(cache_dir: Path | None, key: str, outcome: _Outcome) -> None:
    if cache_dir is None:
        return
    data = _UNCHANGED if outcome.output is None else _CHANGED + outcome.output
    # Same key means same content, so racing writers are harmless; os.replace keeps
    # readers from seeing half an entry.
    atomic_write(_cache_path(cache_dir, key), seal(data))


def _batches(files: list[str], sizes: dict[str, int], workers: int, max_batch: int) -> list[list[str]]:
    size = max(1, min(max_batch, math.ceil(len(files) / (workers * _BATCHES_PER_WORKER))))
    # Largest files first, so the long ones start early and small ones fill the gaps.
    ordered = sorted(files, key=lambda f: -sizes[f])
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def _first_error(lines: list[str]) -> str:
    noise = ("init_defs_builtins:", "HANDLING:", "Skipping:", "(ONCE)")
    useful = [ln.strip() for ln in lines if ln.strip() and not ln.startswith(noise)]
    if not useful:
        return "no error output"
    first = useful[0]
    # "minus: parse error:" says nothing alone; the next line says where.
    if first.endswith(":") and len(useful) > 1:
        first = f"{first} {useful[1]}"
    return first


class _Run:
    """State shared by the worker threads: live spatch processes and the first failure."""

    def __init__(self, smpl_name: str):
        self.smpl_name = smpl_name
        self.lock = threading.Lock()
        self.procs: set[subprocess.Popen] = set()
        self.stopped = threading.Event()
        self.error: SmplError | None = None

    def fail(self, err: SmplError) -> None:
        with self.lock:
            if self.error is None:
                self.error = err
        self.stop()

    def stop(self) -> None:
        self.stopped.set()
        with self.lock:
            procs = list(self.procs)
        for p in procs:
            _kill(p)

    def start(self, argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen | None:
        with self.lock:
            if self.stopped.is_set():
                return None
            # Own session: killing the group also ends python helpers spatch started.
            p = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            self.procs.add(p)
            return p

    def done(self, p: subprocess.Popen) -> None:
        with self.lock:
            self.procs.discard(p)


def _kill(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _run_batch(
    run: _Run, spatch: str, smpl: Path, batch: list[str], inputs: dict[str, bytes], work: Path, timeout: float
) -> dict[str, _Outcome] | None:
    """One spatch over `batch`; None if the run was stopped by another failure."""
    if run.stopped.is_set():
        return None
    bdir = Path(tempfile.mkdtemp(dir=work, prefix="batch-"))
    copies: dict[str, str] = {}
    for rel in batch:
        copy = bdir / "src" / rel
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(inputs[rel])
        copies[str(copy)] = rel
    groups = bdir / "groups"
    groups.write_text("".join(f"{c}\n\n" for c in copies))
    tmp = bdir / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))  # spatch's scratch files die with bdir
    argv = [spatch, "--sp-file", str(smpl), *_FLAGS, "--file-groups", str(groups)]

    p = run.start(argv, bdir, env)
    if p is None:
        return None
    started: dict[str, float] = {}
    seconds: dict[str, float] = {}
    current: str | None = None  # the file spatch is working on
    stderr: list[str] = []
    failed: str | None = None
    t_begin = file_begin = time.monotonic()
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(p.stderr, selectors.EVENT_READ)
            pending = b""
            eof = False
            while not eof and failed is None:
                if run.stopped.is_set():
                    return None
                if time.monotonic() - file_begin > timeout:
                    failed = f"spatch timed out after {timeout:g}s on {current or batch[0]}"
                    break
                if not sel.select(timeout=min(0.2, timeout)):
                    continue
                chunk = os.read(p.stderr.fileno(), 65536)
                eof = not chunk
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop() if not eof else b""
                for raw in lines:
                    line = raw.decode("utf-8", "replace")
                    stderr.append(line)
                    now = time.monotonic()
                    if line.startswith(("HANDLING: ", "Skipping: ")):
                        if current is not None:
                            seconds[current] = now - started[current]
                        current = copies.get(line.split(": ", 1)[1].strip())
                        if current is not None:
                            started[current] = now
                        file_begin = now  # the timeout is per file
                    elif line.startswith("EXN: "):
                        # "EXN: <exception> in <file>": spatch would carry on, we stop.
                        msg, _, path = line[len("EXN: ") :].rpartition(" in ")
                        rel = copies.get(path.strip(), current or batch[0])
                        failed = f"spatch failed on {rel}: {msg or line}"
                        break
        if failed is None:
            try:
                # stderr is closed; the last file's clock still runs until spatch exits.
                rc = p.wait(timeout=max(0.0, timeout - (time.monotonic() - file_begin)))
            except subprocess.TimeoutExpired:
                rc = None
                failed = f"spatch timed out after {timeout:g}s on {current or batch[0]}"
            if current is not None:
                seconds[current] = time.monotonic() - started[current]
            if rc is not None and rc < 0:
                failed = f"spatch failed on {current or batch[0]}: killed by signal {-rc}"
            elif rc:
                failed = f"spatch failed on {current or batch[0]}: {_first_error(stderr)}"
            elif rc == 0 and (missing := [rel for rel in batch if rel not in started]):
                failed = f"spatch failed on {missing[0]}: it never reported processing it"
    finally:
        if p.poll() is None:
            _kill(p)
            p.wait()
        p.stderr.close()
        run.done(p)
    if failed is not None:
        run.fail(SmplError(f"smpl {run.smpl_name}: {failed}"))
        return None

    out: dict[str, _Outcome] = {}
    for copy, rel in copies.items():
        data = Path(copy).read_bytes()
        out[rel] = _Outcome(None if data == inputs[rel] else data, seconds.get(rel, 0.0))
    ui.debug(f"{run.smpl_name}: batch of {len(batch)} in {time.monotonic() - t_begin:.2f}s")
    return out


def run_smpl(
    smpl: Path,
    tree: Path,
    files: Sequence[str],
    jobs: int = DEFAULT_JOBS,
    timeout: float = 120,
    cache_dir: Path | None = None,
    *,
    smpl_root: Path | None = None,
    max_batch: int = MAX_BATCH,
) -> SmplResult:
    """Apply the semantic patch `smpl` to `files` (relative to `tree`).

    Either every file is processed and the changed ones are written back, or
    SmplError is raised and the tree is left as it was. `smpl_root` only shortens
    the SmPL's name in messages (backports/ gives "smpl/x.cocci").
    """
    t0 = time.monotonic()
    name = _display_name(smpl, smpl_root)
    spatch = find_spatch()
    version = spatch_version(spatch)
    try:
        smpl_text = smpl.read_bytes()
    except OSError as e:
        raise SmplError(f"smpl {name}: cannot read: {e.strerror}") from None

    wanted = list(dict.fromkeys(files))  # keep order, drop repeats
    inputs: dict[str, bytes] = {}
    for rel in wanted:
        try:
            inputs[rel] = (tree / rel).read_bytes()
        except OSError as e:
            raise SmplError(f"smpl {name}: cannot read {rel}: {e.strerror}") from None

    keys = {rel: cache_key(smpl_text, version, inputs[rel]) for rel in wanted}
    outcomes: dict[str, _Outcome] = {}
    for rel in wanted:
        hit = _cache_get(cache_dir, keys[rel])
        if hit is not None:
            outcomes[rel] = hit
    cached = set(outcomes)
    todo = [rel for rel in wanted if rel not in cached]

    workers = 0
    if todo:
        # Under a jobserver (a build of `ofedtool check`) spatch runs as many workers as this
        # process has slots right now, so it does not add jobs beside the other builds' compiles.
        with jobserver.slots(max(1, min(jobs, len(todo)))) as workers:
            batches = _batches(todo, {r: len(inputs[r]) for r in todo}, workers, max(1, max_batch))
            workers = min(workers, len(batches))
            ui.debug(
                f"{name}: {len(todo)} files in {len(batches)} batches, {workers} workers, {len(cached)} cached"
            )
            run = _Run(name)
            smpl_abs = smpl.resolve()
            with (
                tempfile.TemporaryDirectory(prefix="ofedtool-cocci-") as work,
                ThreadPoolExecutor(max_workers=workers) as pool,
            ):
                try:
                    futures = [
                        pool.submit(_run_batch, run, spatch, smpl_abs, b, inputs, Path(work), timeout)
                        for b in batches
                    ]
                    for fut in futures:
                        try:
                            got = fut.result()
                        except OSError as e:
                            run.fail(SmplError(f"smpl {name}: cannot run spatch: {e}"))
                            continue
                        for rel, outcome in (got or {}).items():
                            outcomes[rel] = outcome
                            _cache_put(cache_dir, keys[rel], outcome)
                finally:
                    run.stop()  # also on errors and ^C: no spatch outlives the run
            if run.error is not None:
                raise run.error

    results = []
    for rel in wanted:
        o = outcomes[rel]
        if o.output is not None:
            atomic_write(tree / rel, o.output)
        results.append(SmplFileResult(rel, o.output is not None, rel in cached, o.seconds))
    seconds = time.monotonic() - t0
    changed = sum(r.changed for r in results)
    ui.info(
        f"smpl {name}: {changed}/{len(results)} files changed in {seconds:.1f}s "
        f"({len(cached)} cached, {workers} workers)"
    )
    return SmplResult(name, tuple(results), seconds, workers, len(cached))


def _display_name(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)
