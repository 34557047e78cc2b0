"""The check matrix: build the backport for several targets in parallel; one result per (target, module).

Each target is built by its own `ofedtool build` process (a failure or crash in one cannot take
the others down; all run to the end). Up to min(targets, jobs) builds run at once, and all of
them share one make jobserver of --jobs slots (ofedtool/jobserver.py): every build holds one
slot for its own process and its make takes further slots as they are free, so the compile jobs
of all builds together equal --jobs at every moment. When a build ends and no target is left to
start in its place, its slot goes back to the pool for the builds still running (the last build
of 3 on 2 cores compiles at -j2, not -j1 beside an idle core).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from dataclasses import dataclass

from . import jobserver, ui
from .catalog import check_offered, load_targets, parse_from, resolve_target, version_key
from .errors import OfedError
from .fsutil import check_output, claim_dir, output_lock
from .modules import load_catalog, select
from .defaults import DEFAULT_JOBS, DEFAULT_MODULES, DEFAULT_SOURCE
from .requests import BuildOptions, Selection
from .tree import BuildRecord, Manifest, VmRecord
from .prove.report import Cell, cells_from_build, cells_from_vmtest, write_all

@dataclass(frozen=True)
class CheckRequest:
    from_: str
    kernels: tuple[str, ...] = ()   # catalog ids or aliases; empty with all_targets
    all_targets: bool = False
    modules: str = DEFAULT_MODULES
    source: str = DEFAULT_SOURCE
    git_url: str | None = None
    jobs: int = DEFAULT_JOBS         # the whole pool's
    output: Path = Path("check")
    vmtest: bool = False
    ccache: bool | None = None
    conformance: bool = False        # vmtest --conformance: rdma-core's suite, inbox vs ours vs X
    leave: tuple[str, ...] = ()     # --leave, for every target
    rules: tuple[tuple[str, str], ...] = ()   # --rule, for every target

    def selection(self, target: str) -> Selection:
        return Selection(target, self.from_, self.modules, self.source, self.git_url, self.leave, self.rules)


def targets_of(req: CheckRequest, spec) -> list[str]:
    """The target ids of --kernel (each checked against X), or --all's: every target X is offered onto."""
    if req.all_targets:
        return [t.id for t in load_targets() if version_key(t.series) <= version_key(spec.series)]
    if not req.kernels:
        raise OfedError("check: give --kernel K1,K2,... or --all")
    ids = []
    for q in req.kernels:
        t = resolve_target(q.strip())
        check_offered(spec, t)
        if t.id not in ids:
            ids.append(t.id)
    return ids


def cli(session, *argv: str) -> list[str]:
    """A child `ofedtool` process with this session's cache and --offline, printing JSON."""
    return [sys.executable, "-m", "ofedtool.cli", "--cache-dir", str(session.cache.root), "--json",
            *(["--offline"] if session.offline else []), *argv]


def build_command(session, sel: Selection, opts: BuildOptions) -> list[str]:
    """One target's `ofedtool build`. -j is the whole pool's size: its make takes no -j under
    the jobserver, but its probe planning and spatch size their work by it."""
    return cli(session, "build", *sel.argv(), *opts.argv())


def run_check(session, req: CheckRequest) -> dict:
    spec = parse_from(req.from_)
    check_offered(spec)
    targets = targets_of(req, spec)
    if req.jobs < 1:
        raise OfedError(f"--jobs {req.jobs}: must be at least 1")
    select(load_catalog(), req.modules)  # a bad --modules fails here, not once per target
    check_output(req.output, "check -o")  # refused before its lock file appears beside it
    with output_lock(req.output, "check -o"):
        return _run_check(session, req, targets, claim_dir(req.output, "check -o"))


def _run_check(session, req: CheckRequest, targets: list[str], out: Path) -> dict:
    t0 = time.monotonic()
    results = _Runner(session, req, out).run(targets)
    cells = [c for cs, _ in results for c in cs]
    summaries = [s for _, s in results]
    if req.vmtest:
        cells += _vmtests(session, req, summaries, out)
    meta = {"from": req.from_, "modules": req.modules, "targets": summaries,
            "seconds": round(time.monotonic() - t0, 1)}
    files = write_all(out, meta, cells)
    ok = all(s["ok"] for s in summaries) and all(c.status != "fail" for c in cells)
    return {"ok": ok, **meta, "reports": files, "text": _text(summaries, cells, files)}


def _text(summaries: list[dict], cells: list[Cell], files: dict[str, str]) -> str:
    text = [f"{'TARGET':<18} {'RESULT':<6} {'TIME':>6}  FAILED CELLS"]
    for s in summaries:
        bad = [f"{c.module}/{c.stage}" for c in cells if c.target == s["target"] and c.status == "fail"]
        text.append(f"{s['target']:<18} {'PASS' if s['ok'] and not bad else 'FAIL':<6} {s['seconds']:>5.0f}s  "
                    f"{', '.join(bad[:8]) or '-'}{' ' + s['error'] if s['error'] and not bad else ''}")
    text.append(f"reports: {files['html']} {files['junit']} {files['json']}")
    return "\n".join(text)


class _Runner:
    """The builds of one check: a pool of workers over the targets, one shared jobserver, and
    no build outliving a ^C or a kill of check."""

    def __init__(self, session, req: CheckRequest, out: Path):
        self.session, self.req, self.out = session, req, out
        self.lock = threading.Lock()
        self.live: set[subprocess.Popen] = set()
        self.stopping = threading.Event()  # ^C: start no more builds
        self.queue: list[tuple[int, str]] = []
        self.done: dict[int, tuple[list[Cell], dict]] = {}
        self.failures: list[BaseException] = []

    def run(self, targets: list[str]) -> list[tuple[list[Cell], dict]]:
        width = max(1, min(len(targets), self.req.jobs))
        ui.info(f"[check] {len(targets)} targets ({', '.join(targets)}), {width} at a time, "
                f"sharing one make jobserver of {self.req.jobs} jobs")
        self.pool = jobserver.Pool(self.req.jobs, width)
        self.env = self.pool.env(os.environ)
        self.queue = list(enumerate(targets))
        threads = [threading.Thread(target=self.worker, name=f"check-{n}", daemon=True) for n in range(width)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(0.5)
        except BaseException:
            with self.lock:
                self.stopping.set()
            _stop(self.live, self.lock)  # ^C or a kill: no build outlives check
            for t in threads:
                t.join(5)
            raise
        finally:
            self.pool.close()
        if self.failures:
            raise self.failures[0]
        return [self.done[i] for i in range(len(targets))]

    def worker(self) -> None:
        # Each worker holds one jobserver slot: its builds' processes run in it, one after
        # the other. When none is left to start, the slot becomes a token for the others.
        try:
            while True:
                with self.lock:
                    if not self.queue or self.stopping.is_set():
                        return
                    i, target = self.queue.pop(0)
                try:
                    self.done[i] = self.one(target)
                except KeyboardInterrupt:  # stopping
                    return
                except Exception as e:  # e.g. an OSError starting it: raised once all others ended
                    with self.lock:
                        self.failures.append(e)
        finally:
            self.pool.give_back()

    def one(self, target: str) -> tuple[list[Cell], dict]:
        req, out, lock = self.req, self.out, self.lock
        tdir = out / target
        log = out / f"{target}.log"  # not with_suffix: debian-12-6.12 would give debian-12-6.log
        cmd = build_command(self.session, req.selection(target), BuildOptions(req.jobs, tdir, req.ccache))
        t0 = time.monotonic()
        with open(log, "w") as lf:
            with lock:  # under the lock: _stop() sees every build that started, and none starts after it
                if self.stopping.is_set():
                    raise KeyboardInterrupt
                p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env,
                                     pass_fds=self.pool.server.fds)
                self.live.add(p)
            stdout_chunks = []
            reader = threading.Thread(target=lambda: stdout_chunks.append(p.stdout.read()))
            reader.start()
            last = ""
            for line in p.stderr:
                lf.write(line)
                if line.startswith("[") or line.startswith("ofedtool: error"):
                    with lock:
                        ui.info(f"  {target}: {line.rstrip()}")
                last = line.strip() or last
            reader.join()
            rc = p.wait()
            with lock:
                self.live.discard(p)
        seconds = time.monotonic() - t0
        try:
            res = json.loads("".join(stdout_chunks))
        except ValueError:
            res = None
        err = (res or {}).get("error") or (last if rc else "")
        record = BuildRecord.from_dict(res) if isinstance(res, dict) and "build" in res else None
        manifest = Manifest.peek(tdir)
        dirs = {m.name: m.dir for m in manifest.modules} if manifest else {}
        cells = cells_from_build(target, record, err, seconds, os.path.relpath(log, out), dirs)
        ok = rc == 0 and all(c.status != "fail" for c in cells)
        with lock:
            ui.info(f"[check] {target}: {'PASS' if ok else 'FAIL'} in {seconds:.0f}s")
        return cells, {"target": target, "ok": ok, "exit_code": rc, "seconds": round(seconds, 1),
                       "output": str(tdir), "log": str(log), "error": err if not ok else ""}


def _stop(live: set[subprocess.Popen], lock: threading.Lock, grace: float = 20) -> None:
    """SIGINT to every build still running (each stops its make, which stops its compilers),
    then SIGKILL to any that did not end within `grace` seconds. A ^C at the terminal has
    reached them already: they get a moment to stop on their own first."""
    with lock:
        procs = list(live)
    deadline = time.monotonic() + 2
    for p in procs:
        try:
            p.wait(max(0.01, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    procs = [p for p in procs if p.poll() is None]
    for p in procs:
        try:
            p.send_signal(signal.SIGINT)
        except OSError:
            pass
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _vmtests(session, req: CheckRequest, summaries: list[dict], out: Path) -> list[Cell]:
    """Boot every target that built; one vmtest cell per target (details in its log)."""
    cells = []
    for s in summaries:
        if not s["ok"]:
            cells.append(Cell(s["target"], "(vm)", "vmtest", "skip", 0.0, "build failed"))
            continue
        log = out / f"{s['target']}.vmtest.log"
        cmd = cli(session, "vmtest", *req.selection(s["target"]).argv(), "--tree", s["output"],
                  *(["--conformance"] if req.conformance else []))
        with open(log, "w") as lf:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=lf, text=True)
        try:
            res = VmRecord.read(Path(s["output"]) / "vmtest")
        except OfedError:
            res = None
        note = f"vmtest produced no result (exit {p.returncode}); see {log.name}"
        cells += cells_from_vmtest(s["target"], res, os.path.relpath(log, out), note)
        msg = res.reason if res else note
        ui.info(f"[check] {s['target']}: vmtest {'PASS' if p.returncode == 0 else 'FAIL ' + msg}")
    return cells
