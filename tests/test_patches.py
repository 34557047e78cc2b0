"""ofedtool.adapt.patches on real 6.12 RDMA sources, with patches made by GNU diff."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ofedtool.adapt.patches import HunkResult, PatchError, apply_patches, refresh_patch

CM = "drivers/infiniband/core/cm.c"
ADDR = "drivers/infiniband/core/addr.c"

# Three edits far apart in cm.c, so GNU diff makes three hunks.
CM_EDITS = [
    ("MODULE_LICENSE(\"Dual BSD/GPL\");\n", "#include \"compat.h\"\n"),
    ("static void cm_remove_one(struct ib_device *ib_device, void *client_data)\n{\n",
     "#ifdef HAVE_CM_REMOVE_TRACE\n\tpr_debug(\"cm: remove\\n\");\n#endif\n"),
    ("module_init(ib_cm_init);\n", "/* backported */\n"),
]
ADDR_EDITS = [("#include <linux/mutex.h>\n", "#include <linux/compat_addr.h>\n")]
# Rewords the outermost leading context line of hunk #2 (the blank line): fuzz 1.
FUZZ_EDIT = ("}\n\nstatic void cm_remove_one(struct ib_device *ib_device",
             "}\n/* gap */\nstatic void cm_remove_one(struct ib_device *ib_device")


def _insert_after(text: str, edits) -> str:
    for anchor, added in edits:
        assert text.count(anchor) == 1, anchor
        text = text.replace(anchor, anchor + added)
    return text


def _tree(src: Path, dest: Path, *rels: str) -> Path:
    for rel in rels:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dest / rel)
    return dest


def _snapshot(tree: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tree)): p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file()}


def _gnu_diff(old: str, new: str, rel: str, work: Path) -> str:
    """A patch as engineers make them: GNU diff -u with a/ b/ labels."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "old").write_text(old)
    (work / "new").write_text(new)
    p = subprocess.run(["diff", "-u", "--label", f"a/{rel}", "--label", f"b/{rel}", "old", "new"],
                       cwd=work, capture_output=True, text=True, check=False)
    assert p.returncode == 1, p.stderr
    return p.stdout


def _write_patch(root: Path, rel: str, text: str) -> Path:
    path = root / "patches" / f"{rel}.patch"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _headers(patch_text: str) -> list[str]:
    return [m.group(0) for m in re.finditer(r"^@@ -\d+,\d+ \+\d+,\d+ @@", patch_text, re.MULTILINE)]


@pytest.fixture
def cm_case(src_6_12, tmp_path):
    """(tree with pristine cm.c and addr.c, patch root, cm.c patch, expected patched cm.c)."""
    tree = _tree(src_6_12, tmp_path / "tree", CM, ADDR)
    root = tmp_path / "backports"
    old = (tree / CM).read_text()
    new = _insert_after(old, CM_EDITS)
    patch = _write_patch(root, CM, _gnu_diff(old, new, CM, tmp_path / "d"))
    return tree, root, patch, new


def test_applies_exactly(cm_case):
    tree, root, patch, expected = cm_case
    (tree / CM).chmod(0o640)
    [res] = apply_patches(tree, [patch], root)
    assert (tree / CM).read_text() == expected
    assert (tree / CM).stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in (tree / CM).parent.iterdir()) == ["addr.c", "cm.c"]  # no temp files left
    assert res.patch == f"patches/{CM}.patch"
    assert res.files == (CM,)
    assert res.sha256 == hashlib.sha256(patch.read_bytes()).hexdigest()
    assert [h.header for h in res.hunks] == _headers(patch.read_text())
    assert [(h.index, h.offset, h.fuzz) for h in res.hunks] == [(1, 0, 0), (2, 0, 0), (3, 0, 0)]


def test_applies_with_offset(cm_case):
    tree, root, patch, expected = cm_case
    moved = "/* five lines\n * the patch\n * has\n * never\n * seen */\n"
    (tree / CM).write_text(moved + (tree / CM).read_text())
    [res] = apply_patches(tree, [patch], root)
    assert (tree / CM).read_text() == moved + expected
    assert [(h.offset, h.fuzz) for h in res.hunks] == [(5, 0), (5, 0), (5, 0)]


def test_offset_search_goes_backwards_too(cm_case):
    tree, root, patch, expected = cm_case
    text = (tree / CM).read_text()
    # Drop four lines between hunks 1 and 2: hunks 2 and 3 are found 4 lines early.
    cut = "static void cm_remove_one(struct ib_device *device, void *client_data);\n"
    lines = text.splitlines(keepends=True)
    i = lines.index(cut)
    del lines[i + 1 : i + 5]
    (tree / CM).write_text("".join(lines))
    exp_lines = expected.splitlines(keepends=True)
    j = exp_lines.index(cut)
    del exp_lines[j + 1 : j + 5]
    [res] = apply_patches(tree, [patch], root)
    assert (tree / CM).read_text() == "".join(exp_lines)
    assert [h.offset for h in res.hunks] == [0, -4, -4]


def test_failure_names_patch_and_hunk_and_writes_nothing(src_6_12, tmp_path, cm_case):
    tree, root, cm_patch, _ = cm_case
    old_addr = (tree / ADDR).read_text()
    addr_patch = _write_patch(root, ADDR, _gnu_diff(old_addr, _insert_after(old_addr, ADDR_EDITS), ADDR,
                                                    tmp_path / "d2"))
    # Upstream rewrote the line hunk #2 anchors on: the addr.c patch (first) is fine,
    # the cm.c one (second) is not.
    text = (tree / CM).read_text()
    text = text.replace("\tstruct cm_device *cm_dev = client_data;\n\tstruct cm_port *port;\n",
                        "\tstruct cm_device *cm_dev = client_data;\n\tstruct cm_port *p;\n", 1)
    (tree / CM).write_text(text)
    before = _snapshot(tree)
    header = _headers(cm_patch.read_text())[1]
    with pytest.raises(PatchError) as e:
        apply_patches(tree, [addr_patch, cm_patch], root)
    assert str(e.value) == f"patch patches/{CM}.patch: hunk #2 ({header}) does not apply to {CM}"
    assert _snapshot(tree) == before


def _fuzzed(text: str) -> str:
    assert text.count(FUZZ_EDIT[0]) == 1
    return text.replace(*FUZZ_EDIT)


def test_fuzz_reported_and_bounded(cm_case):
    tree, root, patch, expected = cm_case
    (tree / CM).write_text(_fuzzed((tree / CM).read_text()))
    with pytest.raises(PatchError, match=r"hunk #2 "):
        apply_patches(tree, [patch], root, max_fuzz=0)
    [res] = apply_patches(tree, [patch], root, max_fuzz=2)
    assert [(h.offset, h.fuzz) for h in res.hunks] == [(0, 0), (0, 1), (0, 0)]
    assert (tree / CM).read_text() == _fuzzed(expected)


def test_fuzz_matches_gnu_patch(cm_case, tmp_path):
    """Same result as GNU patch -F2 on a tree where hunks both moved and lost context."""
    tree, root, patch, _ = cm_case
    (tree / CM).write_text("/* moved */\n" * 7 + _fuzzed((tree / CM).read_text()))
    gnu = tmp_path / "gnu"
    _tree(tree, gnu, CM)
    p = subprocess.run(["patch", "-p1", "-F2", "--no-backup-if-mismatch", "-i", str(patch)], cwd=gnu,
                       capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    [res] = apply_patches(tree, [patch], root, max_fuzz=2)
    assert (tree / CM).read_bytes() == (gnu / CM).read_bytes()
    assert [(h.offset, h.fuzz) for h in res.hunks] == [(7, 0), (7, 1), (7, 0)]
    assert "Hunk #2 succeeded at" in p.stdout and "with fuzz 1" in p.stdout


def test_second_patch_sees_first_result(src_6_12, tmp_path):
    tree = _tree(src_6_12, tmp_path / "tree", CM)
    root = tmp_path / "backports"
    v0 = (tree / CM).read_text()
    v1 = _insert_after(v0, CM_EDITS[:1])
    v2 = _insert_after(v1, [("#include \"compat.h\"\n", "#include \"compat2.h\"\n")])
    first = _write_patch(root, "a", _gnu_diff(v0, v1, CM, tmp_path / "d1"))
    second = _write_patch(root, "b", _gnu_diff(v1, v2, CM, tmp_path / "d2"))
    res = apply_patches(tree, [first, second], root)
    assert [r.patch for r in res] == ["patches/a.patch", "patches/b.patch"]
    assert (tree / CM).read_text() == v2


def test_new_deleted_and_no_newline_files(src_6_12, tmp_path):
    tree = _tree(src_6_12, tmp_path / "tree", ADDR, CM)
    root = tmp_path / "backports"
    cm_old = (tree / CM).read_text()
    cm_new = cm_old + "/* no newline */"  # ends without "\n"
    text = (_gnu_diff(cm_old, cm_new, CM, tmp_path / "d1")
            + _gnu_diff("", "#define HAVE_X 1\n", "drivers/infiniband/core/compat_x.h", tmp_path / "d2")
            .replace("--- a/drivers/infiniband/core/compat_x.h", "--- /dev/null")
            + _gnu_diff((tree / ADDR).read_text(), "", ADDR, tmp_path / "d3")
            .replace(f"+++ b/{ADDR}", "+++ /dev/null"))
    assert "\\ No newline at end of file" in text
    patch = _write_patch(root, "multi", text)
    [res] = apply_patches(tree, [patch], root)
    assert res.files == (CM, "drivers/infiniband/core/compat_x.h", ADDR)
    assert (tree / CM).read_text() == cm_new
    assert (tree / "drivers/infiniband/core/compat_x.h").read_text() == "#define HAVE_X 1\n"
    assert not (tree / ADDR).exists()


def test_missing_target_file(cm_case):
    tree, root, patch, _ = cm_case
    (tree / CM).unlink()
    with pytest.raises(PatchError, match=rf"^patch patches/{CM}\.patch: target file {CM} does not exist$"):
        apply_patches(tree, [patch], root)


def test_malformed_patch(cm_case):
    tree, root, patch, _ = cm_case
    text = patch.read_text()
    patch.write_text(text.replace(_headers(text)[0], "@@ -88,70 +88,8 @@", 1))
    with pytest.raises(PatchError, match=rf"^patch patches/{CM}\.patch: malformed diff"):
        apply_patches(tree, [patch], root)


def _new_x(text: str) -> str:
    """A later upstream: lines added above everything, and one context line of hunk #2 reworded."""
    return "// SPDX moved\n" * 12 + _fuzzed(text)


def test_refresh_rewrites_patch_after_file_moved(cm_case, tmp_path):
    tree, root, patch, _ = cm_case
    patch.write_text("Why: compat.h and a trace hook.\n" + patch.read_text())
    before = patch.read_bytes()
    x = tmp_path / "x"
    (x / CM).parent.mkdir(parents=True)
    (x / CM).write_text(_new_x((tree / CM).read_text()))

    res = refresh_patch(x, root, CM, patch)
    assert res.changed and res.patch == f"patches/{CM}.patch" and res.file == CM
    assert [(h.offset, h.fuzz) for h in res.hunks] == [(12, 0), (12, 1), (12, 0)]
    text = patch.read_text()
    assert text != before.decode()
    assert text.startswith(f"Why: compat.h and a trace hook.\n--- a/{CM}\n+++ b/{CM}\n@@ ")
    assert res.sha256 == hashlib.sha256(patch.read_bytes()).hexdigest()

    # It now applies exactly, with the same result as the fuzzy application.
    expected = _insert_after((x / CM).read_text(), CM_EDITS)
    work = _tree(x, tmp_path / "work", CM)
    [applied] = apply_patches(work, [patch], root)
    assert all(h.offset == 0 and h.fuzz == 0 for h in applied.hunks)
    assert (work / CM).read_text() == expected

    # Refreshing again is a no-op.
    again = refresh_patch(x, root, CM, patch)
    assert not again.changed and again.sha256 == res.sha256
    assert [(h.offset, h.fuzz) for h in again.hunks] == [(0, 0)] * 3


def test_refresh_failure_leaves_patch_untouched(cm_case, tmp_path):
    tree, root, patch, _ = cm_case
    before = patch.read_bytes()
    x = tmp_path / "x"
    (x / CM).parent.mkdir(parents=True)
    (x / CM).write_text((tree / CM).read_text().replace("module_init(ib_cm_init);\n", "module_init(cm_init);\n"))
    header = _headers(before.decode())[2]
    with pytest.raises(PatchError) as e:
        refresh_patch(x, root, CM, patch)
    assert str(e.value) == f"patch patches/{CM}.patch: hunk #3 ({header}) does not apply to {CM}"
    assert patch.read_bytes() == before


def test_hunk_result_is_frozen():
    h = HunkResult(1, "@@ -1,3 +1,4 @@", 0, 0)
    with pytest.raises(AttributeError):
        h.offset = 2  # type: ignore[misc]
