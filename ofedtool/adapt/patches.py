"""Apply and refresh the unified diffs under backports/patches/.

We parse with unidiff and match hunks ourselves instead of running patch(1): the
whole batch is computed in memory, so a failing hunk leaves the tree untouched,
and every hunk's offset and fuzz comes back as data rather than as text to scrape.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import unidiff
from unidiff.constants import LINE_TYPE_ADDED, LINE_TYPE_CONTEXT, LINE_TYPE_NO_NEWLINE, LINE_TYPE_REMOVED

from .. import ui
from ..fetch.cache import atomic_write
from ..errors import Failed

_DEV_NULL = "/dev/null"
_CONTEXT = 3


class PatchError(Failed):
    """A rule did not apply to this X: the backport is bad, not the command line."""


@dataclass(frozen=True)
class HunkResult:
    index: int  # 1-based, counted across the whole patch file
    header: str  # "@@ -a,b +c,d @@"
    offset: int  # lines moved relative to the header's old start
    fuzz: int  # context lines dropped at each edge to make it match


@dataclass(frozen=True)
class PatchResult:
    patch: str  # relative to the patch root
    files: tuple[str, ...]
    hunks: tuple[HunkResult, ...]
    sha256: str  # of the patch file as read


@dataclass(frozen=True)
class RefreshResult:
    patch: str  # relative to the patch root
    file: str  # the source path the patch changes
    changed: bool  # the patch file was rewritten
    hunks: tuple[HunkResult, ...]  # how the old patch landed on the new source
    sha256: str  # of the patch file as it now is


@dataclass(frozen=True)
class _Hunk:
    index: int
    header: str
    start: int  # 0-based line where the old text begins, per the header
    old: tuple[str, ...]
    new: tuple[str, ...]
    prefix: int  # leading context lines
    suffix: int  # trailing context lines


@dataclass(frozen=True)
class _FileDiff:
    path: str
    created: bool
    deleted: bool
    hunks: tuple[_Hunk, ...]


# Kernel sources are not all valid UTF-8; surrogateescape round-trips any byte.
def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _encode(lines: Sequence[str]) -> bytes:
    return "".join(lines).encode("utf-8", "surrogateescape")


def _split_lines(text: str) -> list[str]:
    # str.splitlines() also splits on \f, \r, \x1c..., which C sources contain.
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _display_name(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _strip_prefix(name: str) -> str:
    name = name.split("\t", 1)[0]
    if name.startswith(("a/", "b/")):
        name = name[2:]
    return name


def _safe_path(name: str, patch: str) -> str:
    p = PurePosixPath(name)
    if not name or p.is_absolute() or ".." in p.parts:
        raise PatchError(f"patch {patch}: refusing unsafe path '{name}'")
    return p.as_posix()


def _convert_hunk(h: unidiff.Hunk, index: int) -> _Hunk:
    old: list[str] = []
    new: list[str] = []
    types: list[str] = []
    last: tuple[list[str], ...] = ()
    for line in h:
        t = line.line_type
        if t == LINE_TYPE_NO_NEWLINE:
            # The marker applies to the line just before it, on whichever side(s) it was.
            for side in last:
                side[-1] = side[-1].removesuffix("\n")
            continue
        if t == LINE_TYPE_CONTEXT:
            old.append(line.value)
            new.append(line.value)
            last = (old, new)
        elif t == LINE_TYPE_REMOVED:
            old.append(line.value)
            last = (old,)
        elif t == LINE_TYPE_ADDED:
            new.append(line.value)
            last = (new,)
        else:
            continue
        types.append(t)
    prefix = next((i for i, t in enumerate(types) if t != LINE_TYPE_CONTEXT), len(types))
    suffix = next((i for i, t in enumerate(reversed(types)) if t != LINE_TYPE_CONTEXT), len(types))
    # "-a,0" means "insert after line a", so the 0-based position is a itself.
    start = h.source_start if h.source_length == 0 else h.source_start - 1
    header = f"@@ -{h.source_start},{h.source_length} +{h.target_start},{h.target_length} @@"
    return _Hunk(index, header, start, tuple(old), tuple(new), prefix, suffix)


def _parse(data: bytes, patch: str) -> list[_FileDiff]:
    text = _decode(data)
    try:
        ps = unidiff.PatchSet(_split_lines(text))
    except unidiff.UnidiffParseError as e:
        raise PatchError(f"patch {patch}: malformed diff: {e}") from None
    diffs: list[_FileDiff] = []
    index = 0
    for pf in ps:
        if pf.is_binary_file:
            raise PatchError(f"patch {patch}: binary diffs are not supported")
        src = _strip_prefix(pf.source_file or _DEV_NULL)
        dst = _strip_prefix(pf.target_file or _DEV_NULL)
        created = pf.is_added_file or src == _DEV_NULL
        deleted = pf.is_removed_file or dst == _DEV_NULL
        if not created and not deleted and src != dst:
            raise PatchError(f"patch {patch}: renames are not supported ({src} -> {dst})")
        path = _safe_path(src if deleted else dst, patch)
        hunks = []
        for h in pf:
            index += 1
            hunks.append(_convert_hunk(h, index))
        diffs.append(_FileDiff(path, created, deleted, tuple(hunks)))
    if not diffs:
        raise PatchError(f"patch {patch}: contains no file diffs")
    return diffs


def _matches(lines: Sequence[str], pos: int, pat: Sequence[str]) -> bool:
    if pos < 0 or pos + len(pat) > len(lines):
        return False
    return all(lines[pos + i] == p for i, p in enumerate(pat))


def _locate(
    lines: Sequence[str], h: _Hunk, floor: int, guess_offset: int, max_fuzz: int
) -> tuple[int, int, int, int] | None:
    """Find where hunk h applies: (position of the kept old lines, dropped top, dropped bottom, fuzz).

    Follows GNU patch: every offset at fuzz 0 before any fuzz; search outwards from
    the line the previous hunk's offset predicts, forwards first; never before `floor`
    (the end of the previous hunk), so hunks cannot overlap or reorder.
    """
    ctx = max(h.prefix, h.suffix)
    tried: set[tuple[int, int, bool, bool]] = set()
    for fuzz in range(max_fuzz + 1):
        top = min(fuzz + h.prefix - ctx, h.prefix)
        bottom = min(fuzz + h.suffix - ctx, h.suffix)
        # Less context on one side than the other means diff ran into the start or the
        # end of the file there, so the hunk may only match at that edge (at both: it
        # is the whole file).
        at_start = top < 0 and h.start == 0
        at_end = bottom < 0
        top, bottom = max(top, 0), max(bottom, 0)
        if (top, bottom, at_start, at_end) in tried:
            continue
        tried.add((top, bottom, at_start, at_end))
        pat = h.old[top : len(h.old) - bottom]
        if h.old and not pat:
            continue  # all context fuzzed away: would match anywhere
        if at_start:
            if at_end and len(pat) != len(lines):
                continue
            candidates: Sequence[int] = [0]
        elif at_end:
            candidates = [len(lines) - len(pat)]
        else:
            candidates = _outwards(h.start + guess_offset + top, floor, len(lines) - len(pat))
        for pos in candidates:
            if pos >= floor and _matches(lines, pos, pat):
                return pos, top, bottom, fuzz
    return None


def _outwards(guess: int, lo: int, hi: int):
    if lo > hi:
        return
    guess = min(max(guess, lo), hi)
    yield guess
    for d in range(1, max(guess - lo, hi - guess) + 1):
        if guess + d <= hi:
            yield guess + d
        if guess - d >= lo:
            yield guess - d


def _apply_file(
    lines: list[str], diff: _FileDiff, max_fuzz: int, patch: str
) -> tuple[list[str], list[HunkResult]]:
    out: list[str] = []
    results: list[HunkResult] = []
    cursor = 0
    last_offset = 0
    for h in diff.hunks:
        found = _locate(lines, h, cursor, last_offset, max_fuzz)
        if found is None:
            raise PatchError(f"patch {patch}: hunk #{h.index} ({h.header}) does not apply to {diff.path}")
        pos, top, bottom, fuzz = found
        out.extend(lines[cursor:pos])
        out.extend(h.new[top : len(h.new) - bottom])
        cursor = pos + len(h.old) - top - bottom
        last_offset = pos - top - h.start
        results.append(HunkResult(h.index, h.header, last_offset, fuzz))
        if last_offset or fuzz:
            ui.debug(f"{patch}: hunk #{h.index} applied at offset {last_offset} with fuzz {fuzz}")
    out.extend(lines[cursor:])
    return out, results


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def apply_patches(
    tree: Path, patches: Sequence[Path], patch_root: Path, max_fuzz: int = 0
) -> list[PatchResult]:
    """Apply `patches` in order to `tree`; all or nothing.

    Every file is patched in memory first (a file touched by two patches sees the
    first one's result); only when every hunk applied are the changed files written.
    """
    original: dict[str, bytes | None] = {}  # as on disk before we started
    current: dict[str, list[str] | None] = {}  # None: deleted / absent
    results: list[PatchResult] = []
    for patch_path in patches:
        name = _display_name(patch_path, patch_root)
        try:
            data = patch_path.read_bytes()
        except OSError as e:
            raise PatchError(f"patch {name}: cannot read: {e.strerror}") from None
        files: list[str] = []
        hunks: list[HunkResult] = []
        for diff in _parse(data, name):
            if diff.path not in current:
                target = tree / diff.path
                raw = target.read_bytes() if target.is_file() else None
                original[diff.path] = raw
                current[diff.path] = None if raw is None else _split_lines(_decode(raw))
            lines = current[diff.path]
            if diff.created:
                if lines:
                    raise PatchError(f"patch {name}: creates {diff.path}, which already exists")
                lines = []
            elif lines is None:
                raise PatchError(f"patch {name}: target file {diff.path} does not exist")
            new_lines, hunk_results = _apply_file(lines, diff, max_fuzz, name)
            if diff.deleted:
                if new_lines:
                    raise PatchError(
                        f"patch {name}: deletes {diff.path}, but it has lines the patch does not remove"
                    )
                current[diff.path] = None
            else:
                current[diff.path] = new_lines
            files.append(diff.path)
            hunks.extend(hunk_results)
        results.append(PatchResult(name, tuple(files), tuple(hunks), _sha256(data)))
        ui.debug(f"patch {name}: {len(hunks)} hunks applied")

    for rel, lines in current.items():
        target = tree / rel
        before = original[rel]
        if lines is None:
            if before is not None:
                target.unlink()
            continue
        after = _encode(lines)
        if after != before:
            atomic_write(target, after)
    return results


def _range(start: int, stop: int) -> str:
    # GNU diff's spelling: "-5" for one line, "-4,0" (the line before) for none.
    length = stop - start
    if length == 1:
        return f"{start + 1}"
    if length == 0:
        return f"{start},0"
    return f"{start + 1},{length}"


def _emit(out: list[str], mark: str, line: str) -> None:
    out.append(mark + line)
    if not line.endswith("\n"):
        out.append("\n\\ No newline at end of file\n")


def unified_diff(
    old: Sequence[str], new: Sequence[str], rel: str, created: bool = False, deleted: bool = False
) -> str:
    """A unified diff with clean headers and 3 lines of context, stable for equal inputs."""
    # autojunk would treat frequent lines ("}", blank) as junk in long files and
    # produce needlessly large hunks.
    sm = difflib.SequenceMatcher(None, old, new, autojunk=False)
    out = [
        f"--- {_DEV_NULL if created else 'a/' + rel}\n",
        f"+++ {_DEV_NULL if deleted else 'b/' + rel}\n",
    ]
    groups = list(sm.get_grouped_opcodes(_CONTEXT))
    if not groups:
        return ""
    for group in groups:
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for line in old[i1:i2]:
                    _emit(out, " ", line)
                continue
            for line in old[i1:i2]:
                _emit(out, "-", line)
            for line in new[j1:j2]:
                _emit(out, "+", line)
    return "".join(out)


def _preamble(text: str) -> str:
    """Free text above the first diff (why the patch exists); refresh keeps it."""
    kept = []
    for line in _split_lines(text):
        if line.startswith(("--- ", "diff ", "Index: ")):
            break
        kept.append(line)
    return "".join(kept)


def refresh_patch(
    pristine: Path, tree_root: Path, rel: str, patch_path: Path, max_fuzz: int = 2
) -> RefreshResult:
    """Re-base the patch of `rel` onto the pristine source tree `pristine` (the new X).

    The patch is applied with up to `max_fuzz` fuzz, then regenerated from the result,
    so it applies exactly to this X again. `tree_root` is the patch root names are
    reported against (backports/). The patch file is only written when it changes.
    """
    name = _display_name(patch_path, tree_root)
    try:
        data = patch_path.read_bytes()
    except OSError as e:
        raise PatchError(f"patch {name}: cannot read: {e.strerror}") from None
    diffs = _parse(data, name)
    if len(diffs) != 1 or diffs[0].path != rel:
        found = ", ".join(d.path for d in diffs)
        raise PatchError(f"patch {name}: expected one diff of {rel}, found {found}")
    diff = diffs[0]
    source = pristine / rel
    if diff.created:
        if source.exists():
            raise PatchError(f"patch {name}: creates {rel}, which already exists in {pristine}")
        old: list[str] = []
    elif not source.is_file():
        raise PatchError(f"patch {name}: target file {rel} does not exist in {pristine}")
    else:
        old = _split_lines(_decode(source.read_bytes()))
    new, hunks = _apply_file(old, diff, max_fuzz, name)
    body = unified_diff(old, new, rel, diff.created, diff.deleted)
    if not body:
        raise PatchError(f"patch {name}: no longer changes {rel} (already upstream?)")
    text = _preamble(_decode(data)) + body
    out = text.encode("utf-8", "surrogateescape")

    # The rewritten patch must apply exactly, or refresh would only move the problem.
    check, check_hunks = _apply_file(old, _parse(out, name)[0], 0, name)
    if check != new or any(h.offset for h in check_hunks):
        raise PatchError(f"patch {name}: regenerated diff does not reproduce {rel} (bug)")

    changed = out != data
    if changed:
        atomic_write(patch_path, out)
        ui.debug(f"patch {name}: refreshed")
    return RefreshResult(name, rel, changed, tuple(hunks), _sha256(out))
