"""ofedtool vmtest: boot the target's real kernel in QEMU, load our modules, run RDMA traffic."""

from __future__ import annotations

from pathlib import Path

from .. import pipeline
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


def request(args) -> VmRequest:
    # -o is vmtest's own directory; the tree it builds (without --tree) goes under it
    return VmRequest(selection(args), pipeline.with_output(build_options(args), None), args.tree, args.output,
                     args.timeout, args.accel, tuple(m for m in args.omit_module.split(",") if m),
                     tuple(args.extra_module), args.sign_key, args.sign_cert, args.mok_cert, args.conformance,
                     args.suite_timeout)


def run(args, cache) -> dict:
    record = pipeline.vmtest(session(args, cache), request(args))
    return {**record.as_dict(), "text": text(record)}
