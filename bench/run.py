#!/usr/bin/env python3
"""ofedtool benchmarks (issue 8): the real CLI through subprocess, wall and CPU time, one machine, one run.

    python bench/run.py --kernel 6.1 --from 6.12 [--source debian] [--out /tmp/ofedtool-bench.json]

Figures (each also reports the 1-minute load average while it ran; on a shared machine compare
CPU time and ratios within one run, not wall times across runs):
  (a) plain kbuild of the generated tree (its own Makefile after `make clean`) vs `ofedtool build`
      of a fresh output dir, same target; the source/headers are fetched first so the download
      is not timed; ccache is off for both (--no-ccache) so the compile work is the same;
  (b) probes cold (a copy of the cache without probes/) and cached, with the probe count;
  (c) a no-change re-run of `ofedtool build` (bound: < 10 s);
  (d) `ofedtool check` over 3 targets vs the sum of 3 sequential builds ("not available" when the
      installed ofedtool has no `check` command).
Benchmarks, not tests: nothing here fails on a bound; the table says which bounds held.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def ofedtool_cmd() -> list[str]:
    exe = shutil.which("ofedtool")
    venv = Path(sys.executable).parent / "ofedtool"
    if venv.exists():
        return [str(venv)]
    return [exe] if exe else [sys.executable, "-m", "ofedtool.cli"]


def machine_busy() -> float | None:
    """CPU seconds the whole machine has been busy since boot (/proc/stat), all processes'."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Demand:
    """Samples how many of a process tree's processes want a core (state R: running or
    runnable) every `every` seconds. Unlike wall time this does not depend on what else runs on
    the machine: a build that leaves a core idle shows it as samples below the core count,
    however busy the neighbours keep that core."""

    def __init__(self, pid: int, cores: int, every: float = 0.25):
        self.pid, self.cores, self.every = pid, cores, every
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            procs = {}
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                try:
                    stat = Path(f"/proc/{d}/stat").read_text()
                except OSError:
                    continue
                rest = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
                procs[int(d)] = (rest[0], int(rest[1]))     # state, ppid
            mine, todo = set(), [self.pid]
            children: dict[int, list[int]] = {}
            for pid, (_, ppid) in procs.items():
                children.setdefault(ppid, []).append(pid)
            while todo:
                pid = todo.pop()
                if pid in procs and pid not in mine:
                    mine.add(pid)
                    todo += children.get(pid, [])
            self.samples.append(sum(procs[p][0] == "R" for p in mine))

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        n = len(self.samples) or 1
        capped = [min(x, self.cores) for x in self.samples]
        return {"samples": len(self.samples), "mean": round(sum(capped) / n, 3),
                "below_cores": round(sum(x < self.cores for x in self.samples) / n, 3),
                "above_cores": round(sum(x > self.cores for x in self.samples) / n, 3),
                "max": max(self.samples, default=0)}


def timed(cmd: list[str], env: dict | None = None, cwd: Path | None = None, log: Path | None = None) -> dict:
    """Run cmd; wall seconds, CPU seconds of it and all its children, exit code, load average,
    and the CPU seconds everything else on the machine used meanwhile ("others"): on a shared
    machine that, not the load average, says how much of the cores the run did not have."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    busy0 = machine_busy()
    t0 = time.monotonic()
    out = open(log, "w") if log else subprocess.DEVNULL
    try:
        p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        demand = Demand(p.pid, os.cpu_count() or 1)
        p.wait()
        wall = time.monotonic() - t0
        demand = demand.stop()
    finally:
        if log:
            out.close()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    busy1 = machine_busy()
    others = None if busy0 is None or busy1 is None else round(max(0.0, busy1 - busy0 - cpu), 2)
    return {"wall": round(wall, 2), "cpu": round(cpu, 2), "rc": p.returncode,
            "load": round((load0 + os.getloadavg()[0]) / 2, 2), "others_cpu": others, "demand": demand,
            "cmd": " ".join(cmd)}


def build_cmd(args, out: Path, *extra: str) -> list[str]:
    cmd = [*ofedtool_cmd(), "build", "--kernel", args.kernel, "--from", args.from_, "-o", str(out), "-j", str(args.jobs),
           "--modules", args.modules]
    if args.source:
        cmd += ["--source", args.source]
    return cmd + list(extra)


def has_command(name: str) -> bool:
    p = subprocess.run([*ofedtool_cmd(), name, "--help"], capture_output=True, text=True)
    return p.returncode == 0


def bench_build_vs_kbuild(args, env, work: Path) -> dict:
    out = work / "tree"
    shutil.rmtree(out, ignore_errors=True)
    tool = timed(build_cmd(args, out, "--no-ccache"), env, REPO, work / "build-a.log")
    manifest = json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else {}
    kdir = _kernel_dir(args, env, out)
    cc = _cc(kdir)
    subprocess.run(["make", "-C", str(out), f"KERNELDIR={kdir}", "clean"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.STDOUT)
    plain = timed(["make", "-C", str(out), "-k", f"-j{args.jobs}", f"KERNELDIR={kdir}", f"CC={cc}", "modules"],
                  dict(env, LC_ALL="C"), REPO, work / "kbuild.log")
    return {"ofedtool_build": tool, "plain_kbuild": plain, "build_ok": manifest.get("ok"),
            "ratio_wall": round(tool["wall"] / plain["wall"], 3) if plain["wall"] else None,
            "ratio_cpu": round(tool["cpu"] / plain["cpu"], 3) if plain["cpu"] else None}


def _kernel_dir(args, env, tree: Path) -> str:
    res = json.loads((tree / "result.json").read_text())
    bd = res.get("build", {}).get("kernel_dir") or ""
    if bd:
        return bd
    # the headers tree of this release in the cache
    cache = env.get("OFEDTOOL_CACHE", os.path.expanduser("~/.cache/ofedtool"))
    hits = glob.glob(f"{cache}/headers/*/root/usr/src/linux-headers-{res['kernel']}")
    if not hits:
        raise SystemExit(f"cannot find the build dir of {res['kernel']} under {cache}/headers")
    return hits[0]


def _cc(kdir: str) -> str:
    sys.path.insert(0, str(REPO))
    from ofedtool.fetch.kbuild import choose_compiler
    return choose_compiler(Path(kdir))


def bench_probes(args, env, work: Path) -> dict:
    """Cold: a cache copy without probes/ (everything else shared, so no download); cached: again."""
    sys.path.insert(0, str(REPO))
    src_cache = Path(env.get("OFEDTOOL_CACHE", os.path.expanduser("~/.cache/ofedtool")))
    cold_cache = work / "cache-cold"
    shutil.rmtree(cold_cache, ignore_errors=True)
    cold_cache.mkdir(parents=True)
    for entry in src_cache.iterdir():
        if entry.name not in ("probes", "locks"):
            os.symlink(entry, cold_cache / entry.name)
    (cold_cache / "locks").mkdir()
    kdir = _kernel_dir(args, env, work / "tree")
    code = ("import sys, json, time; from pathlib import Path; "
            "from ofedtool.adapt.probes import load_probes, run_probes; from ofedtool.fetch.kbuild import inspect_tree; "
            "from ofedtool.catalog import data_dir; "
            "p = load_probes(data_dir('backports') / 'probes'); "
            f"r = run_probes(p, inspect_tree(Path({kdir!r})), Path({str(cold_cache)!r}), {args.jobs}); "
            "print(json.dumps({'probes': len(p), 'ran': r.ran, 'cached': r.cached, 'hits': sum(r.results.values())}))")
    runs = {}
    for label in ("cold", "cached"):
        log = work / f"probes-{label}.log"
        t = timed([sys.executable, "-c", code], dict(env, PYTHONPATH=str(REPO)), REPO, log)
        last = [line for line in log.read_text().splitlines() if line.startswith("{")]
        t.update(json.loads(last[-1]) if last else {})
        runs[label] = t
    return runs


def bench_nochange(args, env, work: Path) -> dict:
    out = work / "tree"
    first = timed(build_cmd(args, out), env, REPO, work / "build-c1.log")  # settle (e.g. ccache, generate)
    again = timed(build_cmd(args, out), env, REPO, work / "build-c2.log")
    return {"settle": first, "rerun": again, "bound_s": 10, "held": again["wall"] < 10}


def bench_check(args, env, work: Path) -> dict:
    """3 `ofedtool build`s back to back vs one `ofedtool check` over the same targets: same -j,
    no ccache in either (the check's trees would otherwise hit the objects the sequential builds
    just put in ccache), fresh output dirs, warm probe/SmPL caches (the sequential builds run
    first and would warm them anyway)."""
    if not has_command("check"):
        return {"available": False, "note": "not available: this ofedtool has no `check` command"}
    targets = args.check_targets.split(",")
    cores = os.cpu_count() or 1
    seq = []
    for t in targets:
        a = argparse.Namespace(**{**vars(args), "kernel": t})
        out = work / f"seq-{t}"
        shutil.rmtree(out, ignore_errors=True)
        r = timed(build_cmd(a, out, "--no-ccache"), env, REPO, work / f"seq-{t}.log")
        r.update(_build_facts(out / "result.json"))
        seq.append(r)
    out = work / "check"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [*ofedtool_cmd(), "check", "--from", args.from_, "--kernel", ",".join(targets), "-o", str(out),
           "-j", str(args.jobs), "--no-ccache", "--modules", args.modules]
    if args.source:
        cmd += ["--source", args.source]
    chk = timed(cmd, env, REPO, work / "check.log")
    per_target = []
    try:
        for s in json.loads((out / "report.json").read_text())["targets"]:
            per_target.append({"target": s["target"], "seconds": s["seconds"], "ok": s["ok"],
                               **_build_facts(Path(s["output"]) / "result.json")})
    except (OSError, ValueError, KeyError):
        pass
    chk["targets"] = per_target
    total = {"wall": round(sum(s["wall"] for s in seq), 2), "cpu": round(sum(s["cpu"] for s in seq), 2),
             "others_cpu": round(sum(s["others_cpu"] or 0 for s in seq), 2)}
    n = sum(s["demand"]["samples"] for s in seq) or 1
    total["demand"] = {  # the three runs' samples pooled
        "samples": n, "max": max(s["demand"]["max"] for s in seq),
        **{k: round(sum(s["demand"][k] * s["demand"]["samples"] for s in seq) / n, 3)
           for k in ("mean", "below_cores", "above_cores")}}
    for t in (total, chk):  # share of the cores' time our processes used; the rest idled or went to others
        t["utilisation"] = round(t["cpu"] / (t["wall"] * cores), 3) if t["wall"] else None
    return {"available": True, "targets": targets, "check": chk, "sequential": seq, "sequential_total": total,
            "ratio_wall": round(chk["wall"] / total["wall"], 3) if total["wall"] else None,
            "ratio_cpu": round(chk["cpu"] / total["cpu"], 3) if total["cpu"] else None}


def _build_facts(result_json: Path) -> dict:
    """What one build's result.json says about it: ok, its compile seconds, probes compiled."""
    try:
        r = json.loads(result_json.read_text())
    except (OSError, ValueError):
        return {}
    return {"build_ok": r.get("ok"), "compile_s": r.get("build", {}).get("seconds"),
            "probes_ran": (r.get("probes") or {}).get("ran")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="6.1")
    ap.add_argument("--from", dest="from_", default="6.12")
    ap.add_argument("--source", default="debian", help="--source for ofedtool (default debian)")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--modules", default="core,rxe,siw",
                    help="--modules for ofedtool (default core,rxe,siw, the figures' basis; stack: the whole stack)")
    ap.add_argument("--check-targets", default="5.10,6.1,6.12")
    ap.add_argument("--only", default="a,b,c,d", help="which figures (default a,b,c,d)")
    ap.add_argument("--work", type=Path, help="work dir (default: a new temporary dir)")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "ofedtool-bench.json")
    args = ap.parse_args()
    env = dict(os.environ)
    work = args.work or Path(tempfile.mkdtemp(prefix="ofedtool-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    # Fetch first: a cold source cache is not what (a) measures.
    fetch = timed([*ofedtool_cmd(), "fetch", "--from", args.from_, "--kernel", args.kernel,
                   *(["--source", args.source] if args.source else [])], env, REPO, work / "fetch.log")
    res = {"machine": {"cpus": os.cpu_count(), "load_start": os.getloadavg()}, "target": args.kernel,
           "from": args.from_, "jobs": args.jobs, "fetch": fetch, "work": str(work)}
    if "a" in only or "b" in only:
        res["a_build_vs_kbuild"] = bench_build_vs_kbuild(args, env, work)
    if "b" in only:
        res["b_probes"] = bench_probes(args, env, work)
    if "c" in only:
        res["c_nochange"] = bench_nochange(args, env, work)
    if "d" in only:
        res["d_check"] = bench_check(args, env, work)
    res["machine"]["load_end"] = os.getloadavg()
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(table(res))
    print(f"\nJSON: {args.out}")
    return 0


def table(res: dict) -> str:
    rows = [f"{'figure':<44} {'wall s':>8} {'cpu s':>8} {'load':>5}  note"]

    def row(name, t, note=""):
        rows.append(f"{name:<44} {t['wall']:>8.1f} {t['cpu']:>8.1f} {t['load']:>5.1f}  {note}")

    if a := res.get("a_build_vs_kbuild"):
        row("(a) plain kbuild (tree's Makefile)", a["plain_kbuild"])
        row("(a) ofedtool build (fresh -o, --no-ccache)", a["ofedtool_build"],
            f"ratio wall {a['ratio_wall']}, cpu {a['ratio_cpu']} (bound 1.15)")
    if b := res.get("b_probes"):
        for k in ("cold", "cached"):
            t = b[k]
            bound = "bound 35 s" if k == "cold" else "bound 1 s"
            row(f"(b) probes {k}", t, f"{t.get('probes')} probes, {t.get('ran')} compiled/looked up ({bound}, "
                                      f"incl. ~0.5 s interpreter start)")
    if c := res.get("c_nochange"):
        row("(c) no-change re-run of ofedtool build", c["rerun"], f"bound 10 s: {'held' if c['held'] else 'MISSED'}")
    if d := res.get("d_check"):
        if not d["available"]:
            rows.append(f"{'(d) ofedtool check, 3 targets':<44} {'-':>8} {'-':>8} {'-':>5}  {d['note']}")
        else:
            tot = d["sequential_total"]
            for t in d["sequential"]:
                row(f"(d) build {t['cmd'].split('--kernel ')[1].split()[0]}", t,
                    f"compile {t.get('compile_s')} s, others used {t['others_cpu']} CPU-s")
            def dem(t):
                x = t["demand"]
                return (f"cores wanted: mean {x['mean']}, below {x['below_cores']:.0%} / above "
                        f"{x['above_cores']:.0%} of the time, max {x['max']}")
            row("(d) sequential builds, sum", {**tot, "load": d["check"]["load"]},
                f"utilisation {tot['utilisation']}, others used {tot['others_cpu']} CPU-s; {dem(tot)}")
            row(f"(d) ofedtool check {','.join(d['targets'])}", d["check"],
                f"ratio wall {d['ratio_wall']} (bound 1.0), cpu {d['ratio_cpu']}; utilisation "
                f"{d['check']['utilisation']}, others used {d['check']['others_cpu']} CPU-s; {dem(d['check'])}")
            for t in d["check"].get("targets", []):
                rows.append(f"{'    ' + t['target']:<44} {t['seconds']:>8.1f} {'':>8} {'':>5}  "
                            f"compile {t.get('compile_s')} s, probes compiled {t.get('probes_ran')}")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
