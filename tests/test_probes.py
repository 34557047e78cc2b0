"""Feature probes against a real Debian 6.1 build tree (fixture build_tree_6_1): no mocks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ofedtool.errors import OfedError
from ofedtool.fetch.kbuild import inspect_tree, make_args, tree_id
from ofedtool.adapt.probes import Probe, load_probes, render_config_h, run_probes

# Facts about Debian's 6.1.192 that the cases rely on (checked against the headers):
# linux/unaligned.h arrived in 6.12; fd_file() in 6.12; class_register() takes a const
# struct class * only from 6.4; get_random_u32_inclusive() (6.2) was backported into 6.1.y.
PROBES_TOML = '''
[[probe]]
name = "HAVE_LINUX_SLAB_H"
header = "linux/slab.h"

[[probe]]
name = "HAVE_LINUX_UNALIGNED_H"
header = "linux/unaligned.h"

[[probe]]
name = "HAVE_KMAP_LOCAL_PAGE"
includes = ["linux/highmem.h"]
code = "void *p = kmap_local_page(NULL); kunmap_local(p);"

[[probe]]
name = "HAVE_GET_RANDOM_U32_INCLUSIVE"
includes = ["linux/random.h"]
code = "return get_random_u32_inclusive(1, 5);"

[[probe]]
name = "HAVE_FD_FILE"
includes = ["linux/file.h"]
code = "struct fd f = {}; struct file *file = fd_file(f); (void)file;"

[[probe]]
name = "HAVE_CLASS_REGISTER_CONST"
includes = ["linux/device/class.h"]
toplevel = "static const struct class probe_class;"
code = "return class_register(&probe_class);"

[[probe]]
name = "HAVE_SIZEOF_FD_IS_ONE_WORD"
includes = ["linux/file.h", "linux/build_bug.h"]
code = "BUILD_BUG_ON(sizeof(struct fd) != sizeof(unsigned long));"

[[probe]]
name = "HAVE_LIST_HEAD_SIZE_TWO_POINTERS"
includes = ["linux/file.h", "linux/build_bug.h"]
code = "BUILD_BUG_ON(sizeof(struct list_head) != 2 * sizeof(void *));"

[[probe]]
name = "HAVE_UNKNOWN_STRUCT"
includes = ["linux/file.h", "linux/build_bug.h"]
code = "struct ofedtool_no_such_struct *s = NULL; return s->x;"

[[probe]]
name = "HAVE_NEEDS_UNALIGNED_H"
includes = ["linux/unaligned.h"]
code = "return get_unaligned_le16(NULL);"

[[probe]]
name = "HAVE_KTHREAD_CREATE_ON_CPU_EXPORTED"
symbol = "kthread_create_on_cpu"

[[probe]]
name = "HAVE_OFEDTOOL_NO_SUCH_EXPORT"
symbol = "ofedtool_no_such_export"
'''

EXPECTED_6_1 = {
    "HAVE_LINUX_SLAB_H": True,
    "HAVE_LINUX_UNALIGNED_H": False,
    "HAVE_KMAP_LOCAL_PAGE": True,
    "HAVE_GET_RANDOM_U32_INCLUSIVE": True,
    "HAVE_FD_FILE": False,
    "HAVE_CLASS_REGISTER_CONST": False,  # only a warning without -Werror=discarded-qualifiers
    # same batch as a hard error (unknown struct): gcc skips BUILD_BUG_ON there, the re-check must not
    "HAVE_SIZEOF_FD_IS_ONE_WORD": False,
    "HAVE_LIST_HEAD_SIZE_TWO_POINTERS": True,
    "HAVE_UNKNOWN_STRUCT": False,
    "HAVE_NEEDS_UNALIGNED_H": False,
    "HAVE_KTHREAD_CREATE_ON_CPU_EXPORTED": True,  # in 5.10's symvers it is not
    "HAVE_OFEDTOOL_NO_SUCH_EXPORT": False,
}


def write_probes(tmp_path: Path, text: str, name: str = "t.toml") -> Path:
    d = tmp_path / "probes"
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)
    return d


@pytest.fixture(scope="module")
def tree(build_tree_6_1):
    return inspect_tree(build_tree_6_1)


# ---------------------------------------------------------------- kbuild


def test_inspect_tree_reads_release_and_compiler(tree):
    # the kernel's own release (vermagic), not include/config/kernel.release's "6.1.NNN"
    assert tree.release.startswith("6.1.0-") and tree.release.endswith("-amd64")
    assert tree.cc == "gcc-12"
    assert tree.arch == "x86"
    args = make_args(tree, Path("/tmp/m"), 3, ["-k"])
    assert args == ["make", "-C", str(tree.build_dir), "M=/tmp/m", "CC=gcc-12", "-j3", "-k"]


def test_inspect_tree_names_what_is_missing(tmp_path):
    (tmp_path / "Makefile").write_text("all:\n")
    with pytest.raises(OfedError, match=r"missing \.config, Module\.symvers$"):
        inspect_tree(tmp_path)


def test_tree_id_is_stable_and_content_addressed(build_tree_6_1):
    from ofedtool.fetch.kbuild import _TREE_IDS, _tree_id
    first = tree_id(build_tree_6_1)
    _TREE_IDS.clear()  # computed again, not the memo's answer
    assert len(first) == 64 and _tree_id(build_tree_6_1) == first == tree_id(build_tree_6_1)


# ---------------------------------------------------------------- running


@pytest.mark.slow
def test_probes_against_6_1_then_all_cached(tree, tmp_path, capfd):
    probes = load_probes(write_probes(tmp_path, PROBES_TOML))
    cache = tmp_path / "cache"
    run = run_probes(probes, tree, cache, jobs=2)
    assert run.results == dict(sorted(EXPECTED_6_1.items()))
    assert (run.ran, run.cached) == (len(probes), 0)
    assert "discards 'const' qualifier" in run.why["HAVE_CLASS_REGISTER_CONST"]
    assert run.why["HAVE_NEEDS_UNALIGNED_H"] == "no header linux/unaligned.h"
    stored = json.loads((cache / "probes" / f"{run.tree_id}.json").read_text())
    assert stored["results"] == {p.digest(): EXPECTED_6_1[p.name] for p in probes}

    t0 = time.monotonic()
    again = run_probes(probes, tree, cache, jobs=2)
    assert time.monotonic() - t0 < 1.0
    assert (again.ran, again.cached) == (0, len(probes))
    assert again.results == run.results
    assert f"probes: {len(probes)} total, 0 ran, {len(probes)} cached" in capfd.readouterr().err


@pytest.mark.slow
def test_only_new_probes_compile(tree, tmp_path):
    cache = tmp_path / "cache"
    first = load_probes(write_probes(tmp_path, PROBES_TOML.split("[[probe]]\nname = \"HAVE_FD_FILE\"")[0]))
    run_probes(first, tree, cache, jobs=2)
    every = load_probes(write_probes(tmp_path, PROBES_TOML))
    run = run_probes(every, tree, cache, jobs=2)
    assert (run.ran, run.cached) == (len(every) - len(first), len(first))
    assert run.results == dict(sorted(EXPECTED_6_1.items()))


@pytest.mark.slow
def test_broken_compiler_is_one_line_error(build_tree_6_1, tmp_path):
    probes = load_probes(write_probes(tmp_path, PROBES_TOML))
    real = inspect_tree(build_tree_6_1)
    broken = type(real)(real.build_dir, real.release, "/nonexistent/gcc-12", real.arch)
    with pytest.raises(OfedError, match=r"^probe build against .* cannot compile a trivial object: ") as exc:
        run_probes(probes, broken, tmp_path / "cache", jobs=2)
    assert "\n" not in str(exc.value)


# ---------------------------------------------------------------- loading


def test_load_probes_sorted_with_kinds(tmp_path):
    probes = load_probes(write_probes(tmp_path, PROBES_TOML))
    assert [p.name for p in probes] == sorted(EXPECTED_6_1)
    by = {p.name: p for p in probes}
    assert by["HAVE_LINUX_SLAB_H"].kind == "header"
    assert by["HAVE_FD_FILE"].kind == "compile" and by["HAVE_FD_FILE"].includes == ("linux/file.h",)
    assert by["HAVE_OFEDTOOL_NO_SUCH_EXPORT"].kind == "symbol"
    assert by["HAVE_FD_FILE"].source == "probes/t.toml"


def test_digest_ignores_name_and_doc_but_not_code():
    a = Probe("HAVE_A", "compile", "probes/x.toml", includes=("linux/fs.h",), code="f();")
    assert a.digest() == Probe("HAVE_B", "compile", "probes/y.toml", includes=("linux/fs.h",), code="f();", doc="d").digest()
    assert a.digest() != Probe("HAVE_A", "compile", "probes/x.toml", includes=("linux/fs.h",), code="g();").digest()


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[probe]]\nheader = "linux/a.h"\n', r"^probe #1 in probes/bad\.toml: missing 'name'$"),
        ('[[probe]]\nname = "HAVE_X"\nheader = "a.h"\nhedaer = "b.h"\n',
         r"^probe HAVE_X in probes/bad\.toml: unknown key 'hedaer'$"),
        ('[[probe]]\nname = "HAVE_X"\ndoc = "nothing to test"\n',
         r"^probe HAVE_X in probes/bad\.toml: needs exactly one of header, code, symbol \(found none\)$"),
        ('[[probe]]\nname = "HAVE_X"\nheader = "a.h"\nsymbol = "s"\n',
         r"^probe HAVE_X in probes/bad\.toml: needs exactly one of header, code, symbol \(found header, symbol\)$"),
        ('[[probe]]\nname = "HAVE_X"\ncode = "if (1) {"\n',
         r"^probe HAVE_X in probes/bad\.toml: unbalanced \(\), \[\] or \{\} in 'code'$"),
        ('[[probe]]\nname = "HAVE_X"\nsymbol = "s"\nincludes = ["a.h"]\n',
         r"^probe HAVE_X in probes/bad\.toml: 'includes' and 'toplevel' only apply to a code probe$"),
        ('[[probe]]\nname = "have_x"\nsymbol = "s"\n', r"^probe have_x in probes/bad\.toml: name must be"),
        ('[[probe]\nname = "HAVE_X"\n', r"^probes/bad\.toml: invalid TOML: "),
    ],
)
def test_bad_probe_file_is_one_line_error(tmp_path, text, message):
    d = write_probes(tmp_path, text, "bad.toml")
    with pytest.raises(OfedError, match=message) as exc:
        load_probes(d)
    assert "\n" not in str(exc.value)


def test_duplicate_name_across_files(tmp_path):
    write_probes(tmp_path, '[[probe]]\nname = "HAVE_X"\nheader = "a.h"\n', "a.toml")
    d = write_probes(tmp_path, '[[probe]]\nname = "HAVE_X"\nsymbol = "x"\n', "b.toml")
    with pytest.raises(OfedError, match=r"^probe HAVE_X in probes/b\.toml: duplicate name, also defined in probes/a\.toml$"):
        load_probes(d)


def test_braces_in_strings_and_comments_do_not_count(tmp_path):
    d = write_probes(tmp_path, '[[probe]]\nname = "HAVE_X"\ncode = \'\'\'const char *s = "{("; /* ) */ (void)s;\'\'\'\n')
    assert load_probes(d)[0].code.startswith("const char")


def test_repo_probe_files_load():
    probes = load_probes(Path(__file__).resolve().parent.parent / "backports" / "probes")
    assert all(p.name.startswith("HAVE_") for p in probes)


# ---------------------------------------------------------------- output


def test_render_config_h_is_sorted_and_deterministic():
    a = render_config_h({"HAVE_B": False, "HAVE_A": True})
    assert a == render_config_h({"HAVE_A": True, "HAVE_B": False})
    body = a.splitlines()
    assert body.index("#define HAVE_A 1") < body.index("/* #undef HAVE_B */")
    assert body[1] == "#ifndef _OFEDTOOL_COMPAT_CONFIG_H" and body[-1] == "#endif /* _OFEDTOOL_COMPAT_CONFIG_H */"
    assert not any(ch.isdigit() for ch in body[0])  # no timestamp in the header comment
