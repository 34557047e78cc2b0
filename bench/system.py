#!/usr/bin/env python3
"""Figures of the installed-system flow (issue 16 item 5), with the real CLI, one machine, one run.

    python bench/system.py --packages DIR [--kernel 6.1 --from 6.12] [--update-kernel 6.12]
                           [--plant-failure] [--flows deb,dkms] [--out /tmp/ofedtool-system-bench.json]

DIR is a package dir of `ofedtool build --package deb,dkms` for the target. For each flow it runs
`ofedtool vmtest --system <flow>` (dkms with --update-kernel and --purge-boot: install → boot →
kernel update → boot the new kernel → purge → boot) and reports, from the run's result.json: the
image's build time and size (when this run made it: first use of the cache entry), the install
time (for dkms: the DKMS build inside the system, probe kit + compile), each boot, the update,
the purge and the whole flow, with the 1-minute load average. Benchmarks, not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

OFEDTOOL = [str(Path(sys.executable).parent / "ofedtool")]


def flow(args, kind: str, out: Path) -> dict:
    cmd = [*OFEDTOOL, "vmtest", "--kernel", args.kernel, "--from", args.from_, "--system", kind,
           "--packages", str(args.packages), "-o", str(out)]
    if kind == "dkms" and args.update_kernel:
        cmd += ["--update-kernel", args.update_kernel, "--purge-boot"] + (["--plant-failure"] if args.plant_failure else [])
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    wall = round(time.monotonic() - t0, 1)
    rec = json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else {}
    return {"flow": kind, "cmd": cmd, "exit": p.returncode, "ok": rec.get("ok"), "reason": rec.get("reason"),
            "wall": wall, "load": [round(load0, 1), round(os.getloadavg()[0], 1)],
            "seconds": rec.get("seconds", {}), "image": rec.get("image"), "update": rec.get("update")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packages", type=Path, required=True)
    ap.add_argument("--kernel", default="6.1")
    ap.add_argument("--from", dest="from_", default="6.12")
    ap.add_argument("--update-kernel")
    ap.add_argument("--plant-failure", action="store_true")
    ap.add_argument("--flows", default="deb,dkms")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ofedtool-system-bench"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/ofedtool-system-bench.json"))
    args = ap.parse_args()
    results = []
    for kind in args.flows.split(","):
        out = args.work / kind
        if out.exists():
            subprocess.run(["rm", "-rf", str(out)], check=True)
        r = flow(args, kind, out)
        results.append(r)
        s = r["seconds"]
        print(f"{kind}: {'PASS' if r['ok'] else 'FAIL ' + str(r['reason'])} in {r['wall']}s (load {r['load'][0]}-{r['load'][1]})")
        if r["image"]:
            print(f"  image: {r['image']['bytes'] / 2**20:.0f} MiB, {r['image']['packages']} packages, "
                  f"made in {r['image']['made_s']}s ({'this run' if s.get('image', 0) > 60 else 'cached'})")
        print("  " + ", ".join(f"{k} {v}s" for k, v in s.items()))
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"JSON: {args.out}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
