#!/usr/bin/env python3
"""The DKMS build on the node against a plain kbuild of the same tree (issue 16 item 7).

    python bench/dkms_node.py --tarball PKG.dkms.tar.gz --kernel-dir HEADERS [--kver KVER]
                              [-j 2] [--work /tmp/dkms-bench] [--out dkms_node.json]

Both unpack the same DKMS tarball afresh, with ccache off:
  plain: the reference tree as it is (its own compat/config.h), `make -jN KERNELDIR=... modules`;
  dkms:  what dkms.conf's MAKE[0] runs, `sh probekit/probe.sh KVER KDIR && make -jN ... modules`
         (the probe kit's per-kernel cache empty, as on a node's first build).
CPU-s are user + system of every child (getrusage), so the load of other work on the machine
inflates them far less than wall time; one run each. Not a test: nothing fails on a number.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(cmd: list[str], cwd: Path, env: dict, log: Path) -> tuple[float, float]:
    c0, t0 = _cpu(), time.monotonic()
    with open(log, "w") as f:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT)
    if p.returncode:
        sys.exit(f"{' '.join(cmd)} failed: see {log}")
    return _cpu() - c0, time.monotonic() - t0


def _unpack(tarball: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with tarfile.open(tarball) as tf:
        tf.extractall(dest, filter="data")
    [top] = list(dest.iterdir())
    return top


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tarball", type=Path, required=True)
    ap.add_argument("--kernel-dir", type=Path, required=True, help="the kernel's build tree (headers)")
    ap.add_argument("--kver", help="its release (default: read from the build tree)")
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/dkms-bench"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    kver = args.kver
    if not kver:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from ofedtool.fetch.kbuild import kernel_release
        kver = kernel_release(args.kernel_dir)
    env = {**os.environ, "CCACHE_DISABLE": "1"}
    make = ["make", f"-j{args.j}", f"KERNELDIR={args.kernel_dir}", "modules"]
    rows = {}
    top = _unpack(args.tarball, args.work / "plain")
    rows["plain"] = _run(make, top, env, args.work / "plain.log")
    top = _unpack(args.tarball, args.work / "dkms")
    kit = _run(["sh", "probekit/probe.sh", kver, str(args.kernel_dir)], top, env, args.work / "probe.log")
    # the kit's answer for the tree's own kernel is the engine's: config.h byte for byte
    same = (top / "compat/config.h").read_bytes() == (args.work / "plain" / top.name / "compat/config.h").read_bytes()
    build = _run(make, top, env, args.work / "dkms.log")
    rows["probe kit"] = kit
    rows["dkms"] = (kit[0] + build[0], kit[1] + build[1])
    plain = rows["plain"][0]
    print(f"{args.tarball.name} on {kver}, -j{args.j}; the kit's config.h "
          f"{'is the tree' if same else 'DIFFERS from the tree'}'s")
    print("| step | CPU-s | wall s | CPU / plain |\n|---|---|---|---|")
    for k, (cpu, wall) in rows.items():
        print(f"| {k} | {cpu:.0f} | {wall:.0f} | {cpu / plain:.2f} |")
    if args.out:
        args.out.write_text(json.dumps({"tarball": str(args.tarball), "kver": kver, "jobs": args.j,
                                        "rows": {k: {"cpu_s": round(c, 1), "wall_s": round(w, 1)}
                                                 for k, (c, w) in rows.items()},
                                        "ratio": round(rows["dkms"][0] / plain, 3),
                                        "config_h_identical": same}, indent=1) + "\n")


if __name__ == "__main__":
    main()
