"""ofedtool vmtest: boot the target's real kernel in QEMU, load our modules, run RDMA traffic."""

from __future__ import annotations

import json
import time
from argparse import Namespace
from pathlib import Path

from .. import secureboot, ui
from ..catalog import resolve_target
from ..errors import Failed, OfedError
from ..fsutil import check_output, claim_dir, output_lock
from ..image import fetch_image
from ..pipeline import add_pipeline_arguments
from ..userland import fetch_userland
from ..package.common import check_key_pair, find_kernel_dir, sign_file_of
from ..package.common import load_tree as load_package_tree
from ..secureboot import Machine
from ..vmtest import Signing, boot, build_initramfs, judge, load_tree, qemu_command, timings


def add_arguments(p) -> None:
    add_pipeline_arguments(p)
    p.add_argument("--tree", type=Path, help="a built output dir (ofedtool build -o DIR) instead of building")
    p.add_argument("--timeout", type=float, default=300, help="hard limit on the guest's run in seconds (default 300)")
    p.add_argument("--accel", choices=("tcg", "kvm"), default="tcg",
                   help="QEMU accelerator (default tcg: /dev/kvm on shared CI hosts often cannot run stock kernels)")
    p.add_argument("--omit-module", default="", metavar="M[,M]",
                   help="leave these of our modules out of the guest so the distro's are used "
                        "(a self-test: the build-id identity check must fail)")
    p.add_argument("--sign-key", type=Path, help="private key (PEM): sign our modules with the target's sign-file and "
                   "boot under UEFI Secure Boot (OVMF) with module.sig_enforce=1; an unsigned copy must be refused")
    p.add_argument("--sign-cert", type=Path, help="X.509 certificate of --sign-key: enrolled in the guest's MOK list "
                   "(MokListRT), as `mokutil --import` would on a user's machine")
    p.add_argument("--mok-cert", type=Path, metavar="CERT",
                   help="enroll this certificate in the MOK list instead of --sign-cert "
                        "(a self-test: our modules, signed by a key the guest does not trust, must be refused)")


def run(args, cache) -> dict:
    if args.timeout <= 0:
        raise OfedError(f"--timeout {args.timeout}: must be positive")
    if args.kernel.startswith(("/", ".", "~", "local:")):
        raise OfedError(f"--kernel {args.kernel}: vmtest boots a distro kernel image: use a catalog kernel")
    target = resolve_target(args.kernel)
    _check_signing_args(args)
    # Beside a given tree by default, where `ofedtool report TREE` finds it.
    out = args.output or (args.tree / "vmtest" if args.tree else Path("build") / f"vmtest-{target.id}_from-{args.from_}")
    check_output(out, "vmtest -o")
    with output_lock(out, "vmtest -o"):
        return _run(args, cache, target, claim_dir(out, "vmtest -o"))


def _run(args, cache, target, out: Path) -> dict:
    t0 = time.monotonic()
    tree_dir = args.tree or _build(args, cache, out / "tree")
    tree = load_tree(tree_dir)
    if tree.target_id != target.id:
        raise OfedError(f"--tree {tree_dir} was built for {tree.target_id}, not --kernel {args.kernel} ({target.id})")
    built_s = time.monotonic() - t0
    with ui.stage("vmtest", f"kernel image and guest userland for {tree.release}"):
        image = fetch_image(cache, target, tree.build, args.offline)
        userland = fetch_userland(cache, args.offline)
    t1 = time.monotonic()
    omit = tuple(m for m in args.omit_module.split(",") if m)
    signing, machine = _secure_boot(args, cache, tree_dir, target, out)
    with ui.stage("vmtest", f"initramfs: busybox, rdma-core, {len(tree.modules)} modules"
                  f"{' (omitting ' + ', '.join(omit) + ')' if omit else ''}{' signed' if signing else ''}"):
        content = build_initramfs(image, tree, userland, out, omit, signing, machine.subject if machine else "")
    t2 = time.monotonic()
    cmd = qemu_command(image, out / "initramfs.cpio.gz", args.accel, machine=machine)
    console = out / "console.log"
    mode = f", UEFI Secure Boot, MOK '{machine.subject}', sig_enforce" if machine else ""
    with ui.stage("vmtest", f"booting {image.package} {image.version} (qemu {args.accel}{mode}, timeout {args.timeout:.0f}s)"):
        steps, timed_out, qemu_s = boot(cmd, console, args.timeout)
    ok, reason = judge(steps, timed_out, args.timeout)
    secs = {"build": round(built_s, 1), "fetch": round(t1 - t0 - built_s, 1), "initramfs": round(t2 - t1, 1),
            **{f"qemu_{k}": v for k, v in timings(steps, qemu_s).items()}}
    rows = [f"{s.step:<12} {s.status:<5} {s.host_s:>6.1f}s  {s.detail[:100]}" for s in steps]
    rows.append(f"{'PASS' if ok else 'FAIL'}: {tree.release} ({image.package} {image.version}) with {tree_dir}"
                + ("" if ok else f": {reason}"))
    rows.append("wall: " + ", ".join(f"{k} {v}s" for k, v in secs.items()))
    rows.append(f"console: {console}")
    result = {"ok": ok, "reason": reason, "kernel": tree.release, "target": target.id, "tree": str(tree_dir),
              "image": {"package": image.package, "version": image.version},
              "userland": [f"{p['package']}={p['version']}" for p in userland.packages],
              "initramfs": content, "qemu": cmd,
              "secure_boot": {"mok": machine.subject, "db": machine.db, "vars": str(machine.vars),
                              "firmware": str(machine.code)} if machine else None, "console": str(console), "seconds": secs,
              "steps": [s.__dict__ for s in steps], "text": "\n".join(rows)}
    (out / "result.json").write_text(json.dumps({k: v for k, v in result.items() if k != "text"},
                                                indent=2, sort_keys=True, default=str) + "\n")
    if not ok:
        # One line naming the step; the table and result.json carry the rest.
        ui.info("\n".join(rows))
        raise Failed(f"vmtest on {tree.release}: {reason}")
    return result


def _check_signing_args(args) -> None:
    if args.sign_key is None and args.sign_cert is None:
        if args.mok_cert:
            raise OfedError("--mok-cert needs --sign-key and --sign-cert (it replaces only what the MOK list trusts)")
        return
    check_key_pair(args.sign_key, args.sign_cert)
    if args.mok_cert and not args.mok_cert.is_file():
        raise OfedError(f"--mok-cert {args.mok_cert}: no such file")


def _secure_boot(args, cache, tree_dir: Path, target, out: Path) -> tuple[Signing | None, Machine | None]:
    """With --sign-key/--sign-cert: the signing of our modules and the Secure Boot machine."""
    if args.sign_key is None and args.sign_cert is None:
        return None, None
    mok = args.mok_cert or args.sign_cert
    ptree = load_package_tree(tree_dir)
    sign_file = sign_file_of(find_kernel_dir(ptree, cache, None), ptree.release)
    machine = secureboot.machine(out, mok, target.distro)
    signer = secureboot.subject_cn(args.sign_cert)
    return Signing(sign_file, args.sign_key.absolute(), args.sign_cert.absolute(), signer), machine


def _build(args, cache, out: Path) -> Path:
    from . import build
    res = build.run(Namespace(**{**vars(args), "output": out}), cache)
    if not res["ok"]:
        raise Failed(f"build for {res['kernel']} failed: see {res['build']['log']}")
    return Path(res["output"])
