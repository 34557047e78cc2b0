"""ofedtool check: build the backport for several targets in parallel; one result per (target, module).

Each target is built by its own `ofedtool build` process (a failure or crash in one cannot take
the others down; all run to the end). Up to min(targets, jobs) builds run at once, and all of
them share one make jobserver of --jobs slots (ofedtool/jobserver.py): every build holds one
slot for its own process and its make takes further slots as they are free, so the compile jobs
of all builds together equal --jobs at every moment. When a build ends and no target is left to
start in its place, its slot goes back to the pool for the builds still running (the last build
of 3 on 2 cores compiles at -j2, not -j1 beside an idle core).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .. import jobserver, ui
from ..catalog import load_targets, parse_from, resolve_target
from ..errors import OfedError
from ..fsutil import check_output, claim_dir, output_lock
from ..modules import load_catalog, select
from ..report import Cell, cells_from_build, cells_from_vmtest, write_all

def add_arguments(p) -> None:
    p.add_argument("--from", dest="from_", required=True, metavar="X")
    p.add_argument("--kernel", metavar="K1,K2,...", help="targets (catalog ids or aliases)")
    p.add_argument("--all", action="store_true", help="every target in the catalog")
    p.add_argument("--modules", default="core,rxe,siw")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="total parallel jobs (default: cores)")
    p.add_argument("--source", choices=("git", "debian", "auto"), default="auto")
    p.add_argument("--git-url")
    p.add_argument("-o", "--output", type=Path, default=Path("check"), help="report directory (default ./check)")
    p.add_argument("--vmtest", action="store_true", help="also boot each target and pass traffic (ofedtool vmtest)")
    p.add_argument("--ccache", action=argparse.BooleanOptionalAction, default=None,
                   help="passed to every build (default: ccache when installed)")


def _targets(args) -> list[str]:
    if args.all:
        return [t.id for t in load_targets()]
    if not args.kernel:
        raise OfedError("check: give --kernel K1,K2,... or --all")
    ids = []
    for q in args.kernel.split(","):
        t = resolve_target(q.strip())
        if t.id not in ids:
            ids.append(t.id)
    return ids


def build_command(args, cache, target: str, tdir: Path) -> list[str]:
    """One target's `ofedtool build`. -j is the whole pool's size: its make takes no -j under
    the jobserver, but its probe planning and spatch size their work by it."""
    return [sys.executable, "-m", "ofedtool.cli", "--cache-dir", str(cache.root), "--json",
            *(["--offline"] if args.offline else []), "build", "--kernel", target, "--from", args.from_,
            "--modules", args.modules, "-j", str(args.jobs), "--source", args.source, "-o", str(tdir),
            *(["--git-url", args.git_url] if args.git_url else []),
            *({True: ["--ccache"], False: ["--no-ccache"]}.get(getattr(args, "ccache", None), []))]


def run(args, cache) -> dict:
    parse_from(args.from_)
    targets = _targets(args)
    if args.jobs < 1:
        raise OfedError(f"--jobs {args.jobs}: must be at least 1")
    select(load_catalog(), args.modules)  # a bad --modules fails here, not once per target
    check_output(args.output, "check -o")  # refused before its lock file appears beside it
    with output_lock(args.output, "check -o"):
        return _run(args, cache, targets, claim_dir(args.output, "check -o"))


def _run(args, cache, targets: list[str], out: Path) -> dict:
    width = max(1, min(len(targets), args.jobs))
    ui.info(f"[check] {len(targets)} targets ({', '.join(targets)}), {width} at a time, "
            f"sharing one make jobserver of {args.jobs} jobs")
    lock = threading.Lock()
    live: set[subprocess.Popen] = set()
    stopping = threading.Event()  # ^C: start no more builds
    pool = jobserver.Pool(args.jobs, width)
    env = pool.env(os.environ)

    def one(target: str) -> tuple[list[Cell], dict]:
        tdir = out / target
        log = out / f"{target}.log"  # not with_suffix: debian-12-6.12 would give debian-12-6.log
        cmd = build_command(args, cache, target, tdir)
        t0 = time.monotonic()
        with open(log, "w") as lf:
            with lock:  # under the lock: _stop() sees every build that started, and none starts after it
                if stopping.is_set():
                    raise KeyboardInterrupt
                p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                     pass_fds=pool.server.fds)
                live.add(p)
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
                live.discard(p)
        seconds = time.monotonic() - t0
        try:
            res = json.loads("".join(stdout_chunks))
        except ValueError:
            res = None
        err = (res or {}).get("error") or (last if rc else "")
        cells = cells_from_build(target, res, err, seconds, os.path.relpath(log, out))
        ok = rc == 0 and all(c.status != "fail" for c in cells)
        with lock:
            ui.info(f"[check] {target}: {'PASS' if ok else 'FAIL'} in {seconds:.0f}s")
        return cells, {"target": target, "ok": ok, "exit_code": rc, "seconds": round(seconds, 1),
                       "output": str(tdir), "log": str(log), "error": err if not ok else ""}

    queue = list(enumerate(targets))
    done: dict[int, tuple[list[Cell], dict]] = {}
    failures: list[BaseException] = []

    def worker() -> None:
        # Each worker holds one jobserver slot: its builds' processes run in it, one after
        # the other. When none is left to start, the slot becomes a token for the others.
        try:
            while True:
                with lock:
                    if not queue or stopping.is_set():
                        return
                    i, target = queue.pop(0)
                try:
                    done[i] = one(target)
                except KeyboardInterrupt:  # stopping
                    return
                except Exception as e:  # e.g. an OSError starting it: raised once all others ended
                    with lock:
                        failures.append(e)
        finally:
            pool.give_back()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, name=f"check-{n}", daemon=True) for n in range(width)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    except BaseException:
        with lock:
            stopping.set()
        _stop(live, lock)  # ^C or a kill: no build outlives check
        for t in threads:
            t.join(5)
        raise
    finally:
        pool.close()
    if failures:
        raise failures[0]
    results = [done[i] for i in range(len(targets))]
    cells = [c for cs, _ in results for c in cs]
    summaries = [s for _, s in results]
    if args.vmtest:
        cells += _vmtests(args, cache, summaries, out)
    meta = {"from": args.from_, "modules": args.modules, "targets": summaries,
            "seconds": round(time.monotonic() - t0, 1)}
    files = write_all(out, meta, cells)
    ok = all(s["ok"] for s in summaries) and all(c.status != "fail" for c in cells)
    text = [f"{'TARGET':<18} {'RESULT':<6} {'TIME':>6}  FAILED CELLS"]
    for s in summaries:
        bad = [f"{c.module}/{c.stage}" for c in cells if c.target == s["target"] and c.status == "fail"]
        text.append(f"{s['target']:<18} {'PASS' if s['ok'] and not bad else 'FAIL':<6} {s['seconds']:>5.0f}s  "
                    f"{', '.join(bad[:8]) or '-'}{' ' + s['error'] if s['error'] and not bad else ''}")
    text.append(f"reports: {files['html']} {files['junit']} {files['json']}")
    return {"ok": ok, **meta, "reports": files, "text": "\n".join(text)}


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


def _vmtests(args, cache, summaries: list[dict], out: Path) -> list[Cell]:
    """Boot every target that built; one vmtest cell per target (details in its log)."""
    cells = []
    for s in summaries:
        if not s["ok"]:
            cells.append(Cell(s["target"], "(vm)", "vmtest", "skip", 0.0, "build failed"))
            continue
        log = out / f"{s['target']}.vmtest.log"
        cmd = [sys.executable, "-m", "ofedtool.cli", "--cache-dir", str(cache.root), "--json", "vmtest",
               "--kernel", s["target"], "--from", args.from_, "--tree", s["output"], "--source", args.source]
        with open(log, "w") as lf:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=lf, text=True)
        try:
            res = json.loads((Path(s["output"]) / "vmtest" / "result.json").read_text())
        except (OSError, ValueError):
            res = {"ok": False, "reason": f"vmtest produced no result (exit {p.returncode}); see {log.name}"}
        cells += cells_from_vmtest(s["target"], res, os.path.relpath(log, out))
        msg = res.get("reason", "")
        ui.info(f"[check] {s['target']}: vmtest {'PASS' if p.returncode == 0 else 'FAIL ' + msg}")
    return cells
