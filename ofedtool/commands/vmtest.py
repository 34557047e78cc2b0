"""ofedtool vmtest: boot the target's real kernel in QEMU, load our modules, run RDMA traffic."""

from __future__ import annotations

from pathlib import Path

from .. import pipeline
from ..errors import OfedError
from ..prove.system import SystemRequest
from ..prove.system import text as system_text
from ..prove.vmtest import VmRequest, text
from .options import add_build, build_options, selection, session


def add_arguments(p) -> None:
    add_build(p)
    p.add_argument("--tree", type=Path, help="a built output dir (ofedtool build -o DIR) instead of building")
    p.add_argument("--timeout", type=float, default=300, help="hard limit on the guest's run in seconds (default 300)")
    p.add_argument("--accel", choices=("tcg", "kvm"), default="tcg",
                   help="QEMU accelerator (default tcg: /dev/kvm on shared CI hosts often cannot run stock kernels)")
    p.add_argument("--omit-module", default="", metavar="M[,M]",
                   help="leave these of our modules out of the guest so the distro's are used "
                        "(a self-test: the build-id identity check must fail)")
    p.add_argument("--inbox", action="store_true",
                   help="the baseline: the same steps on the target's own module of each of the tree's names "
                        "(none of ours in the guest), to tell a failure of ours from the distro's; "
                        "written to <tree>/vmtest-inbox")
    p.add_argument("--extra-module", type=Path, action="append", default=[], metavar="KO",
                   help="also load this third-party module, built against the tree's -devel package (repeatable)")
    p.add_argument("--conformance", action="store_true",
                   help="also run rdma-core's own test suite (run_tests.py --dev rxe0) on the target's inbox stack "
                        "and on ours, one boot each, and fail on a test that passes on the inbox stack only")
    p.add_argument("--suite-timeout", type=float, default=1500,
                   help="hard limit on one conformance run of the suite in seconds (default 1500)")
    p.add_argument("--sign-key", type=Path, help="private key (PEM): sign our modules with the target's sign-file and "
                   "boot under UEFI Secure Boot (OVMF) with module.sig_enforce=1; an unsigned copy must be refused")
    p.add_argument("--sign-cert", type=Path, help="X.509 certificate of --sign-key: enrolled in the guest's MOK list "
                   "(MokListRT), as `mokutil --import` would on a user's machine")
    p.add_argument("--mok-cert", type=Path, metavar="CERT",
                   help="enroll this certificate in the MOK list instead of --sign-cert "
                        "(a self-test: our modules, signed by a key the guest does not trust, must be refused)")
    s = p.add_argument_group("installed system (--system): our .debs on a real Debian of the target's release")
    s.add_argument("--system", choices=("deb", "dkms"),
                   help="install our <name>-modules-<kver> .deb (deb) or <name>-dkms .deb (dkms, built there) with apt "
                        "in an mmdebstrap image of the target's release, boot its own kernel, check, purge")
    s.add_argument("--packages", type=Path, metavar="DIR",
                   help="the package dir (ofedtool build --package deb,dkms); default <--tree>-packages")
    s.add_argument("--update-kernel", metavar="K",
                   help="with --system dkms: then install this catalog kernel of the same release (6.12 for Debian 12) "
                        "and boot it; ours must load where the DKMS package says it builds, the inbox stack elsewhere")
    s.add_argument("--plant-failure", action="store_true",
                   help="make the DKMS build for --update-kernel fail: the kernel install must still succeed and boot")
    s.add_argument("--purge-boot", action="store_true", help="boot once more after apt purge (the inbox stack at boot)")
    s.add_argument("--keep-system", action="store_true", help="keep the system's root directory and boot disks (removed when the run ends, passed or failed)")


def request(args) -> VmRequest:
    # -o is vmtest's own directory; the tree it builds (without --tree) goes under it
    return VmRequest(selection(args), pipeline.with_output(build_options(args), None), args.tree, args.output,
                     args.timeout, args.accel, tuple(m for m in args.omit_module.split(",") if m),
                     tuple(args.extra_module), args.sign_key, args.sign_cert, args.mok_cert, args.conformance,
                     args.suite_timeout, args.inbox)


def system_request(args) -> SystemRequest:
    packages = args.packages or (pipeline.default_package_dir(args.tree) if args.tree else None)
    if packages is None:
        raise OfedError("--system needs --packages DIR or --tree DIR (built with --package deb,dkms)")
    out = args.output or Path("build") / f"system-{Path(packages).name}-{args.system}"
    return SystemRequest(packages, out, args.system, args.update_kernel, args.plant_failure, args.purge_boot,
                         args.timeout, args.accel, args.keep_system, args.kernel)


def run(args, cache) -> dict:
    if args.system:
        if args.inbox:
            raise OfedError("--inbox boots the tree's names on the distro's modules; --system installs our packages")
        record = pipeline.system_test(session(args, cache), system_request(args))
        return {**record, "text": system_text(record)}
    if args.update_kernel or args.plant_failure or args.purge_boot or args.packages:
        raise OfedError("--packages, --update-kernel, --plant-failure and --purge-boot go with --system")
    record = pipeline.vmtest(session(args, cache), request(args))
    return {**record.as_dict(), "text": text(record)}
