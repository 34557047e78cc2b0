"""Command line: global options, then one subcommand; subcommand modules load lazily."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from . import __version__, ui
from .errors import OfedError

# name → (module under ofedtool.commands, help)
COMMANDS = {
    "kernels": ("kernels", "list the target kernels and source releases in the catalog"),
    "fetch": ("fetch", "get upstream source (--from) and/or target headers (--kernel) into the cache"),
    "generate": ("generate", "write the backported source tree for a target"),
    "build": ("build", "generate, then compile against the target kernel and check the result"),
    "shims": ("shims", "list the verb shims that adapt the target's ULPs to the backported core, and why"),
    "package": ("package", "make DKMS, RPM and Debian packages from a built tree"),
    "check": ("check", "build for several target kernels in parallel and write JSON/JUnit/HTML reports"),
    "gap": ("gap", "compile with no adaptation at all and group the errors by API (what compat must cover)"),
    "report": ("report", "write the JSON/JUnit/HTML matrix from built trees (a CI matrix's cells)"),
    "release": ("release", "fetch, check matrix, vmtest and package every target into one release directory"),
    "refresh": ("refresh", "rewrite backports/patches against a new upstream release (like quilt refresh)"),
    "vmtest": ("vmtest", "boot the target's real kernel in QEMU with the built modules; prove they load and carry RDMA traffic"),
}


def _global_options(p: argparse.ArgumentParser, top: bool) -> None:
    # On the top parser these set defaults; on subparsers SUPPRESS keeps the top's value unless
    # given again, so `ofedtool -q build` and `ofedtool build -q` both work.
    d = (lambda v: v) if top else (lambda v: argparse.SUPPRESS)
    p.add_argument("-q", "--quiet", action="store_true", default=d(False), help="only errors and results")
    p.add_argument("-v", "--verbose", action="store_true", default=d(False), help="show commands and details")
    p.add_argument("--cache-dir", default=d(None),
                   help="cache directory (default $OFEDTOOL_CACHE or ~/.cache/ofedtool)")
    p.add_argument("--offline", action="store_true", default=d(False),
                   help="use only what is in the cache; never reach a remote or a mirror")
    p.add_argument("--json", action="store_true", default=d(False), help="print the result as JSON on stdout")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ofedtool", description="Backport the upstream RDMA stack to distro kernels.")
    p.add_argument("--version", action="version", version=f"ofedtool {__version__}")
    _global_options(p, top=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (mod, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        _global_options(sp, top=False)
        importlib.import_module(f"ofedtool.commands.{mod}").add_arguments(sp)
        sp.set_defaults(_module=mod)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    ui.set_level(0 if args.quiet else 2 if args.verbose else 1)
    from .cache import Cache, default_cache_dir

    cache = Cache(args.cache_dir or default_cache_dir())
    try:
        result = importlib.import_module(f"ofedtool.commands.{args._module}").run(args, cache)
    except OfedError as e:
        print(f"ofedtool: error: {e}", file=sys.stderr)
        if args.json:
            print(json.dumps({"ok": False, "error": str(e)}))
        return e.exit_code
    except KeyboardInterrupt:
        print("ofedtool: interrupted", file=sys.stderr)
        return 130
    if result is None:
        return 0
    code = 0 if result.get("ok", True) else 1
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
    elif result.get("text"):
        print(result["text"])
    return code


if __name__ == "__main__":
    sys.exit(main())
