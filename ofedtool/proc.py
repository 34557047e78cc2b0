"""Running the tools ofedtool drives: find them (require) and run them with one error format.

A tool that is missing is MissingTool naming its Debian package; a tool that fails is one
OfedError line: what was being done, the tool's last line of stderr (its own words, usually
the reason), its exit status, and the tool with the Debian package it comes from.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .errors import MissingTool, OfedError


def require(tool: str, package: str) -> str:
    """The tool's path, or MissingTool naming its Debian package. /usr/sbin is searched too:
    dkms and depmod live there and a non-root PATH often lacks it."""
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    if not path:
        raise MissingTool(tool, package)
    return path


def failure(what: str, p: subprocess.CompletedProcess, tool: str = "", package: str = "") -> OfedError:
    """The one line for a tool that ran and failed."""
    err = p.stderr if isinstance(p.stderr, str) else (p.stderr or b"").decode(errors="replace")
    out = p.stdout if isinstance(p.stdout, str) else (p.stdout or b"").decode(errors="replace")
    last = (err.strip().splitlines() or out.strip().splitlines() or ["failed"])[-1]
    origin = f" ({tool}, Debian package {package})" if tool and package else f" ({tool})" if tool else ""
    return OfedError(f"{what}: {last} (exit {p.returncode}){origin}")


def run(cmd: Sequence[str | Path], what: str = "", package: str = "", check: bool = True,
        **kw) -> subprocess.CompletedProcess:
    """subprocess.run capturing text output. check: a non-zero exit is failure() (what: the
    action, default the command line); package: the Debian package of cmd[0], for both errors."""
    cmd = [str(c) for c in cmd]
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    tool = Path(cmd[0]).name
    try:
        p = subprocess.run(cmd, **kw)
    except FileNotFoundError:
        if package:
            raise MissingTool(tool, package) from None
        raise OfedError(f"{cmd[0]}: no such program") from None
    if check and p.returncode != 0:
        raise failure(what or " ".join([tool, *cmd[1:3]]), p, tool, package)
    return p
