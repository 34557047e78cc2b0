"""Command line: global options, then one subcommand; subcommand modules load lazily."""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from . import __version__, ui
from .errors import EXIT_FAILED, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_PIPE, EXIT_USAGE, OfedError

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
    "watch": ("watch", "day-0: which targets a new distro kernel ABI or X release needs rebuilt (and a release of them)"),
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
    """Run one command under the error policy of ofedtool/errors.py: every failure is one line
    `ofedtool: error: ...` on stderr and its exit code, never a raw traceback."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # stdout went away (`ofedtool --json kernels | head`): stop quietly, as CLI tools do.
        # Point stdout at /dev/null so the interpreter's last flush does not complain again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE


def _main(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    ui.set_level(0 if args.quiet else 2 if args.verbose else 1)
    cache = None
    try:
        from .fetch.cache import open_cache
        cache = open_cache(args.cache_dir)
        result = importlib.import_module(f"ofedtool.commands.{args._module}").run(args, cache)
    except OfedError as e:
        return _fail(args, str(e), e.exit_code)
    except KeyboardInterrupt:
        print("ofedtool: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise
    except OSError as e:
        if e.errno in _ENVIRONMENT:
            # the machine, not ofedtool: a read-only or full filesystem, a path that is a file
            where = f"{e.filename}: " if e.filename else ""
            return _fail(args, f"{where}{e.strerror}", EXIT_USAGE)
        return _internal(args, cache)
    except Exception:
        return _internal(args, cache)
    if result is None:
        return EXIT_OK
    code = EXIT_OK if result.get("ok", True) else EXIT_FAILED
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
    elif result.get("text"):
        print(result["text"])
    return code


# errno values that name a problem of the user's machine or paths, not a bug of ofedtool
_ENVIRONMENT = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR,
                errno.EISDIR, errno.EEXIST, errno.ENOTEMPTY, errno.ENAMETOOLONG, errno.ELOOP, errno.EMFILE}


def _fail(args, msg: str, code: int) -> int:
    print(f"ofedtool: error: {msg}", file=sys.stderr)
    if args.json:
        print(json.dumps({"ok": False, "error": msg, "exit_code": code}))
    return code


def _internal(args, cache) -> int:
    """A bug: one line naming the exception and the file holding its traceback."""
    exc = sys.exc_info()[1]
    text = f"ofedtool {__version__} {' '.join(sys.argv)}\n\n{traceback.format_exc()}"
    saved = None
    for d in ([cache.root / "logs"] if cache is not None else []) + [Path(tempfile.gettempdir())]:
        try:
            d.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=d, prefix=f"ofedtool-traceback-{time.strftime('%Y%m%dT%H%M%S')}-",
                                        suffix=".txt")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            saved = name
            break
        except OSError:
            continue
    where = f"traceback saved in {saved}" if saved else "the traceback could not be saved"
    return _fail(args, f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
                       f"({where}; please report it)", EXIT_INTERNAL)


if __name__ == "__main__":
    sys.exit(main())
