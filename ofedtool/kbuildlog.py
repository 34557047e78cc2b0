"""The grammar of a kbuild log: gcc's diagnostics and modpost's lines, written once.

build.py judges a build with it, gap.py groups an unadapted tree's errors with it, probes.py
tells which probe an error belongs to with it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# gcc: "file:line[:col]: severity: message". The file may hold spaces (a cache dir's path), not colons.
DIAGNOSTIC = re.compile(
    r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<sev>fatal error|error|warning|note): (?P<msg>.*)$")
# the option a warning names at its end: "... [-Wincompatible-pointer-types]", "[-Werror=foo]"
WARNING_FLAG = re.compile(r"^(?P<msg>.*?)\s*\[-W(?P<flag>[^\]=]+)[^\]]*\]$")
# modpost: an import nobody exports ("ERROR" from 5.x on, "WARNING" before, and under KBUILD_MODPOST_WARN)
UNDEFINED = re.compile(r'(?:ERROR|WARNING): modpost: "(?P<sym>[^"]+)" \[(?P<ko>[^\]]+)\] undefined!')
MODPOST_ERROR = re.compile(r"^(?:ERROR|FATAL): modpost: (?P<msg>.*)$")
# gcc names the translation unit before a header's diagnostics: "x.c: In function 'f':", the
# last line of an include chain ("   from x.c:12:") or an inlining chain ("inlined from 'f' at x.c:9:3").
UNIT = re.compile(r"^(?:In file included from |\s+from |\s+inlined from \S+ at )?(?P<file>[^\s:]+\.c)(?::\d+[:,]|: In function)")
# "x.c: In function 'f':" or, for an inlined chain, "In function 'f'," then "inlined from ..."
IN_FUNCTION = re.compile(r"^(?:(?P<file>[^\s:][^:]*): )?In function ")
# a new make target's output begins (make -Otarget prints each target's output in one piece)
SECTION = re.compile(r"^\s+CC \[M\]\s|^make(\[\d+\])?: ")
# kbuild linked a module
LINKED = re.compile(r"^\s+LD \[M\]\s+(?P<ko>\S+\.ko)$")
# A header forced in with -include (compat/compat.h) names no .c at all: its errors belong to
# whichever objects make then reports as failed.
CMDLINE_INCLUDE = re.compile(r"^In file included from <command-line>:")
# make's own complaints: "make[3]: *** [.../Makefile.build:255: /t/drivers/x/y.o] Error 1",
# "make[1]: *** No rule to make target 'y/out'.", a kbuild $(error): "Makefile:157: *** ...  Stop."
MAKE_ERROR = re.compile(r"^(?:make(?:\[\d+\])?|\S+:\d+): \*\*\* (?P<msg>.*)$")
MAKE_TARGET_ERROR = re.compile(r"^\[(?P<rule>[^\]]*?):\d+: (?P<target>[^\]]+)\] Error (?P<code>\d+)$")
ENOSPC = re.compile(r"No space left on device|Disk quota exceeded")
FIXDEP = re.compile(r"^fixdep: .*")


def diagnostic(line: str) -> re.Match | None:
    return DIAGNOSTIC.match(line)


def is_error(m: re.Match) -> bool:
    return m["sev"] in ("error", "fatal error")


def tree_relative(path: str, top: Path, cwd: Path | None = None) -> str:
    """A path from the build log as a path in the tree. gcc names files as they were given to it:
    absolute, or (when ccache's base_dir rewrote the command line) relative to the directory
    kbuild runs the compiler in, the kernel build dir or the tree's view of it."""
    if cwd is not None and not os.path.isabs(path):
        path = os.path.normpath(os.path.join(cwd, path))
        # A directory of links inside the tree (the tree's view of the kernel build dir, where
        # ofedtool runs kbuild): what is reached through it is the build dir's, not the tree's.
        if path.startswith(str(cwd).rstrip("/") + "/") and str(cwd).startswith(str(top).rstrip("/") + "/"):
            path = os.path.realpath(path)
    return path.removeprefix(str(top).rstrip("/") + "/")
