"""The DKMS probe kit batches its code probes as the build's engine does (issue 16 item 7): real
sh, real make and the host's cc over tests/fakekernel's stand-in for kbuild. Its answers are the
engine's (adapt.probes._Compiler) on the same kernel, a failing probe masks none of its unit's
neighbours, and it compiles far fewer units than it has probes."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

import fakekernel
from ofedtool.adapt.probes import Probe, _blame, _Compiler, _translation_unit
from ofedtool.fetch.kbuild import inspect_tree
from ofedtool.package.probekit import _BLAME, write_kit

FAKE_H = """\
struct fake_s { int present; };
typedef long fake_t;
int fake_present(void);
int fake_takes_long(long x);
#define FAKE_ASSERT(c) _Static_assert(c, "fake assert")
"""


def _p(name: str, code: str, includes=("linux/fake.h",), toplevel: str = "") -> Probe:
    return Probe(name, "compile", "t", includes=tuple(includes), code=code, toplevel=toplevel)


PROBES = [
    _p("HAVE_A", "\treturn fake_present();"),
    _p("HAVE_B", "\treturn fake_absent();"),                      # implicit declaration: -Werror=
    _p("HAVE_C", "\treturn fake_absent() + 1;"),                  # the same function, a second time
    _p("HAVE_D", "\tstruct fake_s s; s.missing = 1; (void)s;"),   # a hard error
    _p("HAVE_E", "\tstruct fake_s s; s.present = 1; return s.present;"),
    _p("HAVE_F", "\tFAKE_ASSERT(sizeof(int) == 3);"),
    _p("HAVE_G", "\treturn g_helper();", toplevel="static int g_helper(void) { return 0; }"),
    _p("HAVE_H", "\treturn 0;", toplevel="typedef int fake_t;"),  # clashes with the header's
    _p("HAVE_I", "\treturn 0;", includes=("linux/fake.h", "linux/nothere.h")),
    _p("HAVE_J", "\tu64 x = 0; return (int)x;", includes=("linux/types.h",)),
    _p("HAVE_K", "\tint (*f)(int) = fake_takes_long; return f(0);"),  # -Werror=incompatible-pointer-types
    *[_p(f"HAVE_M{i}", f"\tstruct fake_s s{i} = {{ {i} }}; return s{i}.present;") for i in range(12)],
]
EXPECTED = {"HAVE_A": True, "HAVE_B": False, "HAVE_C": False, "HAVE_D": False, "HAVE_E": True, "HAVE_F": False,
            "HAVE_G": True, "HAVE_H": False, "HAVE_I": False, "HAVE_J": True, "HAVE_K": False,
            **{f"HAVE_M{i}": True for i in range(12)}}


@pytest.fixture
def kernel(tmp_path):
    build = fakekernel.make_buildable(tmp_path / "k")
    (tmp_path / "k/common/include/linux/fake.h").write_text(FAKE_H)
    (tmp_path / "k/common/include/linux/types.h").write_text("typedef unsigned long long u64;\n")
    return build


def _kit(top: Path, probes: list[Probe]) -> None:
    (top / "compat").mkdir(parents=True)
    write_kit(top / "probekit", probes, [], "ofed-rdma", {}, None, "x86")


def _run_kit(top: Path, kernel: Path, jobs: int = 2) -> dict[str, bool]:
    env = {**{k: v for k, v in os.environ.items() if k != "CC"}, "OFED_PROBE_JOBS": str(jobs)}
    p = subprocess.run(["sh", "probekit/probe.sh", fakekernel.RELEASE, str(kernel)], cwd=top, capture_output=True,
                       text=True, env=env)
    assert p.returncode == 0, p.stderr
    config = (top / "compat/config.h").read_text()
    return {**{n: True for n in re.findall(r"^#define (HAVE_\w+) 1$", config, re.M)},
            **{n: False for n in re.findall(r"^/\* #undef (HAVE_\w+) \*/$", config, re.M)}}


def test_the_kit_answers_as_the_engine_does(kernel, tmp_path):
    _kit(tmp_path / "pkg", PROBES)
    kit = _run_kit(tmp_path / "pkg", kernel)
    engine, _ = _Compiler(inspect_tree(kernel), 2).run([p for p in PROBES if p.name != "HAVE_I"])
    engine["HAVE_I"] = False  # the engine answers a missing include without its compiler, as the kit does
    assert kit == engine == EXPECTED


def test_the_kit_compiles_units_not_probes(kernel, tmp_path):
    _kit(tmp_path / "pkg", PROBES)
    _run_kit(tmp_path / "pkg", kernel, jobs=3)
    log = (tmp_path / "pkg/probekit/cache" / fakekernel.RELEASE / "make.log").read_text()
    units = re.findall(r" -c \S+/(r\d+_\d+)\.c ", log)
    first = [u for u in units if u.startswith("r1_")]
    assert len(first) == 3  # two includes groups, the larger split in two for -j3; linux/nothere.h not compiled
    assert len(units) < len(PROBES) - 1, units


def test_a_probe_alone_in_the_kit_is_still_answered(kernel, tmp_path):
    """No batching partner, nothing pinned: the round machinery decides one probe too."""
    _kit(tmp_path / "pkg", [PROBES[1]])
    assert _run_kit(tmp_path / "pkg", kernel, jobs=1) == {"HAVE_B": False}


def test_blame_awk_is_the_engines_blame(kernel, tmp_path):
    """The same gcc output (one unit of every probe) read by the engine's _blame and the kit's awk."""
    unit = tmp_path / "r1_0001.c"
    unit.write_text(_translation_unit([p for p in PROBES if p.includes == ("linux/fake.h",) and p.name != "HAVE_H"]))
    cc = subprocess.run(["cc", "-nostdinc", f"-I{kernel.parent}/common/include", "-Werror=implicit-function-declaration",
                         "-Werror=incompatible-pointer-types", "-c", str(unit), "-o", str(tmp_path / "x.o")],
                        capture_output=True, text=True, env={**os.environ, "LANG": "C", "LC_ALL": "C"})
    assert cc.returncode != 0
    engine = _blame(cc.stderr)
    awk = tmp_path / "blame.awk"
    awk.write_text(_BLAME)
    out = subprocess.run(["awk", "-f", str(awk)], input=cc.stderr, capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()]
    assert {r[0] for r in rows if r[0] != "!"} == set(engine.first) == {"HAVE_B", "HAVE_D", "HAVE_F", "HAVE_K"}
    assert {r[0] for r in rows if r[0] != "!" and r[1] == "1"} == engine.hard
    assert {r[0]: set(r[2:]) for r in rows if len(r) > 2} == engine.implicit
    assert (["!", "1"] in rows) == engine.unattributed_hard


def test_config_h_carries_what_the_tree_uses_on_engine_and_kit(kernel, tmp_path):
    """A HAVE_* no source or compat header of the tree names decides nothing: the engine's
    config.h leaves it out, and the kit's, answered for the same names, is byte for byte the
    engine's on the same kernel (a probe the kit asks only to choose a variant stays out too)."""
    from ofedtool.adapt.probes import config_features, referenced, render_config_h
    tree = tmp_path / "tree"
    (tree / "drivers").mkdir(parents=True)
    (tree / "compat/include/linux").mkdir(parents=True)
    (tree / "drivers/a.c").write_text("#ifdef HAVE_A\nint a;\n#endif\n#if defined(HAVE_D) || HAVE_M3\n#endif\n")
    (tree / "compat/include/linux/fake.h").write_text("#ifndef HAVE_B\n#define fake_absent() 0\n#endif\n")
    (tree / "compat/config.h").write_text("#define HAVE_E 1\n")   # config.h names nothing it uses
    (tree / "drivers/Makefile").write_text("# HAVE_F in a Makefile is no C\n")
    used = referenced(tree)
    assert used == {"HAVE_A", "HAVE_B", "HAVE_D", "HAVE_M3"}
    engine, _ = _Compiler(inspect_tree(kernel), 2).run([p for p in PROBES if p.name != "HAVE_I"])
    engine["HAVE_I"] = False
    want = render_config_h(config_features(engine, used))
    top = tmp_path / "pkg"
    (top / "compat").mkdir(parents=True)
    asked = [p for p in PROBES if p.name in used | {"HAVE_K"}]   # HAVE_K: as if pinned for a variant
    write_kit(top / "probekit", asked, [], "ofed-rdma", {}, None, "x86", config=sorted(used))
    got = _run_kit(top, kernel)
    assert (top / "compat/config.h").read_text() == want
    assert got == {n: EXPECTED[n] for n in used}
