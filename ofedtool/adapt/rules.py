"""backports/rules.toml: the SmPL rules and their probe conditions."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..catalog import data_dir
from ..errors import OfedError


@dataclass(frozen=True)
class SmplRule:
    file: str            # relative to backports/smpl
    when: str            # "", "HAVE_X" or "!HAVE_X"
    files: tuple[str, ...]
    doc: str

    def active(self, features: dict[str, bool]) -> bool:
        return condition(self.when, features, f"smpl {self.file}")

    def targets(self, tree: Path) -> list[str]:
        """Files of `tree` matched by the rule's globs, sorted (relative paths)."""
        rels = sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file())
        return [r for r in rels if any(fnmatch.fnmatchcase(r, g) for g in self.files)]


def condition(expr: str, features: dict[str, bool], where: str) -> bool:
    """A probe condition: empty (always), NAME, or !NAME. An unknown probe name is an error,
    so a typo never silently turns a rule off."""
    expr = expr.strip()
    if not expr:
        return True
    m = re.fullmatch(r"(!?)\s*([A-Z][A-Z0-9_]*)", expr)
    if not m:
        raise OfedError(f"{where}: condition '{expr}' must be NAME or !NAME")
    name = m.group(2)
    if name not in features:
        raise OfedError(f"{where}: condition names unknown probe {name}")
    return features[name] != bool(m.group(1))


def load_smpl_rules(path: Path | None = None) -> list[SmplRule]:
    path = path or data_dir("backports") / "rules.toml"
    if not path.exists():
        return []
    with open(path, "rb") as f:
        d = tomllib.load(f)
    smpl = []
    for i, r in enumerate(d.get("smpl", []), 1):
        try:
            smpl.append(SmplRule(r["file"], r.get("when", ""), tuple(r["files"]), r.get("doc", "")))
        except KeyError as e:
            raise OfedError(f"{path}: smpl rule #{i} lacks {e}") from None
    return smpl
