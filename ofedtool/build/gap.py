"""gap: what the adaptation has to cover — the errors of an unadapted tree, grouped by API.

The tree is generated pristine (X's code and Y's ULPs as copied: no patches, no SmPL, no shims,
no compat headers) and compiled with make -k; every gcc error and modpost undefined symbol is
mapped to the API it is about (a function, a struct member, an identifier/macro, a type, a
header, an exported symbol) and counted, with its first sites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import kbuildlog
from ..kbuildlog import tree_relative

_Q = "'"
# gcc quotes with ‘’ under a UTF-8 locale and '' under C: normalise to '.
_QUOTES = str.maketrans({"\u2018": _Q, "\u2019": _Q})

# (regex over the message, kind, how to name the API from the match)
_RULES: list[tuple[re.Pattern, str, object]] = [
    (re.compile(r"^(?P<h>\S+): No such file or directory"), "header", lambda m: m["h"]),
    (re.compile(r"implicit declaration of function '(?P<n>[^']+)'"), "function", lambda m: m["n"]),
    (re.compile(r"too (?:many|few) arguments to function '(?P<n>[^']+)'"), "function", lambda m: m["n"]),
    (re.compile(r"(?:passing argument|incompatible type for argument) \d+ of '(?P<n>[^']+)'"), "function",
     lambda m: m["n"]),
    (re.compile(r"conflicting types for '(?P<n>[^']+)'"), "function", lambda m: m["n"]),
    (re.compile(r"'(?P<s>(?:struct|union) [^']+)' has no member named '(?P<m>[^']+)'"), "member",
     lambda m: f"{m['s']}.{m['m']}"),
    (re.compile(r"'(?P<n>[^']+)' undeclared"), "identifier", lambda m: m["n"]),
    (re.compile(r"unknown type name '(?P<n>[^']+)'"), "type", lambda m: m["n"]),
    (re.compile(r"invalid use of undefined type '(?P<n>[^']+)'"), "type", lambda m: m["n"]),
    (re.compile(r"(?:storage size|field) .*'(?P<n>(?:struct|union|enum) [^']+)'"), "type", lambda m: m["n"]),
    (re.compile(r'macro "(?P<n>[^"]+)" (?:requires|passed) \d+ arguments?'), "macro", lambda m: m["n"]),
    (re.compile(r"called object '(?P<n>[^']+)' is not a function"), "function", lambda m: m["n"]),
    (re.compile(r"(?:too many|too few) arguments to function"), "function", lambda m: None),
]
_NEAR_INIT = re.compile(r"\(near initialization for '(?P<n>[^']+)'\)")
_RETURN_INCOMPAT = re.compile(r"(?:initialization|assignment|returning) .*incompatible pointer type")


@dataclass
class Site:
    file: str
    line: int
    msg: str


@dataclass
class Api:
    kind: str        # function | member | identifier | type | header | symbol | other
    name: str
    count: int = 0
    files: set[str] = field(default_factory=set)
    sites: list[Site] = field(default_factory=list)

    def as_dict(self, max_sites: int = 3) -> dict:
        return {"kind": self.kind, "name": self.name, "count": self.count, "files": sorted(self.files),
                "sites": [s.__dict__ for s in self.sites[:max_sites]]}


def classify(msg: str) -> tuple[str, str]:
    """(kind, api name) of one gcc error message (quotes normalised)."""
    for rx, kind, name in _RULES:
        if m := rx.search(msg):
            n = name(m)
            if n:
                return kind, n
    return "other", re.sub(r"'[^']*'", "'…'", re.sub(r"\s*\[-W[^\]]+\]$", "", msg))


def parse(log: str, top: Path | str | None = None, cwd: Path | None = None) -> list[Api]:
    """APIs from a make -k log, most errors first. Unique per (file, line, message): gcc repeats
    a header's error for every translation unit that includes it."""
    def rel(path: str) -> str:
        return tree_relative(path, Path(top), cwd) if top else path

    apis: dict[tuple[str, str], Api] = {}
    seen: set[tuple] = set()
    pending = None   # an "initialization … incompatible pointer type" error waiting for its note

    def add(kind, name, file, line, msg):
        key = (kind, name)
        a = apis.setdefault(key, Api(kind, name))
        if (kind, name, file, line) in seen:
            return
        seen.add((kind, name, file, line))
        a.count += 1
        a.files.add(file)
        a.sites.append(Site(file, line, msg))

    for raw in log.splitlines():
        line = raw.translate(_QUOTES)
        if m := kbuildlog.UNDEFINED.search(line):
            if pending:
                add(*pending)
                pending = None
            add("symbol", m["sym"], rel(m["ko"]), 0, "modpost: undefined")
            continue
        m = kbuildlog.diagnostic(line)
        if not m or m["sev"] == "warning":
            continue
        file, ln, sev, msg = rel(m["file"]), int(m["line"]), m["sev"], m["msg"]
        if sev == "note":
            if pending and (n := _NEAR_INIT.search(msg)):
                # "near initialization for 'ipoib_client.remove'": the member whose type changed
                add("member", n["n"], *pending[2:])
                pending = None
            continue
        if pending:
            add(*pending)
            pending = None
        kind, name = classify(msg)
        if kind == "other" and _RETURN_INCOMPAT.search(msg):
            pending = ("other", name, file, ln, msg)
            continue
        add(kind, name, file, ln, msg)
    if pending:
        add(*pending)
    # A name used wrongly as a macro and also "undeclared" (the failed expansion) is one API.
    for (kind, name), a in list(apis.items()):
        m = apis.get(("macro", name))
        if kind == "identifier" and m is not None:
            m.count += a.count
            m.files |= a.files
            m.sites = sorted(m.sites + a.sites, key=lambda s: (s.file, s.line))
            del apis[(kind, name)]
    return sorted(apis.values(), key=lambda a: (-a.count, a.kind, a.name))


def render(apis: list[Api], max_sites: int = 2) -> list[str]:
    rows = [f"{'COUNT':>5}  {'KIND':<10} API"]
    for a in apis:
        rows.append(f"{a.count:>5}  {a.kind:<10} {a.name}")
        for s in a.sites[:max_sites]:
            rows.append(f"{'':>17}{s.file}:{s.line}: {s.msg}")
    return rows
