"""Reading kbuild's log (which module a diagnostic belongs to) and finding a sign-file that runs: no kernel build needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ofedtool.build.compile import _failed_modules, parse_log
from ofedtool.modules import load_catalog

TOP = Path("/tmp/tree")
KDIR = Path("/k/linux-headers-6.1.0-56-amd64")

# Abridged from a real 7.3 -> 6.1 ULP build: the type-checked min() fails inside a kernel header,
# so gcc names the header first and the .c being compiled only in its context lines.
LOG = """\
  CC [M]  /tmp/tree/drivers/nvme/target/rdma.o
  CC [M]  /tmp/tree/drivers/infiniband/core/uverbs_ioctl.o
In file included from <command-line>:
In function 'nvmet_rdma_init_srqs',
    inlined from 'nvmet_rdma_find_get_device' at ../../../../tmp/tree/drivers/nvme/target/rdma.c:1255:9:
/k/linux-headers-6.1.0-56-common/include/linux/compiler_types.h:387:45: error: call to '__compiletime_assert_685' declared with attribute error: min() signedness error
/tmp/tree/drivers/infiniband/ulp/srpt/ib_srpt.c: In function 'srpt_create_ch_ib':
/k/linux-headers-6.1.0-56-common/include/linux/compiler_types.h:387:45: error: call to '__compiletime_assert_710' declared with attribute error: min() signedness error
/tmp/tree/drivers/infiniband/core/cq.c:61:14: error: implicit declaration of function 'kzalloc_obj'
"""


def test_header_errors_count_for_the_unit_being_compiled():
    diags = [d for d in parse_log(LOG, TOP, set(), KDIR) if d.kind == "error"]
    assert [d.unit for d in diags] == ["drivers/nvme/target/rdma.c", "drivers/infiniband/ulp/srpt/ib_srpt.c", ""]
    assert diags[2].file == "drivers/infiniband/core/cq.c"
    mods = list(load_catalog().modules.values())
    broken = _failed_modules(diags, mods)
    # the two ULPs, and everything the core directory builds; nothing else
    assert {"nvmet-rdma", "ib_srpt", "ib_core", "ib_uverbs"} <= broken
    assert not broken & {"nvme-rdma", "ib_ipoib", "rdma_rxe", "siw", "rpcrdma"}


def test_sign_file_that_cannot_start_falls_back_to_the_hosts(tmp_path, monkeypatch):
    """Debian 11's sign-file needs libcrypto.so.1.1, which a Debian 12 host lacks: sign with the
    host's own kernel build tools (same signature layout) and say so, or fail naming the package.
    Both cases, whatever this host has: the host's kbuild dirs are stand-ins under tmp_path."""
    import glob
    import os

    import pytest

    from ofedtool import kmod
    from ofedtool.errors import OfedError

    def script(path: Path, body: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)
        return path

    fake = script(tmp_path / "scripts" / "sign-file",
                  "echo 'sign-file: error while loading shared libraries: libcrypto.so.1.1' >&2\nexit 127\n")
    host = tmp_path / "host"
    real_glob = glob.glob
    monkeypatch.setattr(kmod.glob, "glob", lambda pattern: real_glob(str(host) + pattern))
    with pytest.raises(OfedError, match="does not run on this host .* install linux-headers-amd64"):
        kmod.sign_file_of(tmp_path, "5.10.0-46-amd64")
    runs = script(host / "usr/lib/linux-kbuild-6.1/scripts/sign-file", "echo usage >&2\nexit 1\n")
    script(host / "usr/src/linux-headers-6.1.0-9-amd64/scripts/sign-file", "exit 127\n")  # broken too
    got = kmod.sign_file_of(tmp_path, "5.10.0-46-amd64")
    assert got == runs and got != fake


# ---------------------------------------------------------------- why make failed (issue 17)

DATA = Path(__file__).parent / "data"
KDIR_61 = Path("/root/.cache/ofedtool/headers/linux-headers-6.1.0-57-amd64_6.1.192-3/root/usr/src/"
               "linux-headers-6.1.0-57-amd64")


def _core_modules():
    cat = load_catalog()
    return [m for m in cat.modules.values() if m.dir == "drivers/infiniband/core"]


def test_compat_header_error_counts_for_every_module_whose_objects_failed():
    """A real log (6.12 -> 6.1, core): compat/compat.h broken, so every object fails. gcc names no
    .c for a header forced in with -include: the errors belong to the objects make says failed."""
    from ofedtool.build.compile import failed_objects, make_failure, module_diagnostics
    top = Path("/tmp/ci-report/hdr")
    text = (DATA / "compat-header-error.log").read_text()
    diags = parse_log(text, top, set(), KDIR_61)
    compat = [d for d in diags if d.file == "compat/compat.h"]
    assert compat and compat[0].line == 31 and not compat[0].unit
    objects = failed_objects(text, top, KDIR_61)
    assert "drivers/infiniband/core/cq.o" in objects and all(o.endswith(".o") for o in objects)
    mods = _core_modules()
    for m in mods:
        mine = [d for d in module_diagnostics(m, diags, mods, objects) if d.kind == "error"]
        assert any(d.file == "compat/compat.h" for d in mine), m.name
    assert _failed_modules(diags, mods, objects) == {m.name for m in mods}
    assert make_failure(text, top, KDIR_61) == ""  # compile errors explain this failure


def test_a_stale_unit_is_not_carried_into_a_command_line_include():
    log = ("/tmp/tree/drivers/infiniband/sw/siw/siw_main.c: In function 'f':\n"
           "/tmp/tree/drivers/infiniband/sw/siw/siw_main.c:3:1: error: boom\n"
           "In file included from <command-line>:\n"
           "/tmp/tree/compat/compat.h:31:32: error: expected expression before ';' token\n")
    d = [x for x in parse_log(log, TOP, set(), KDIR) if x.file == "compat/compat.h"]
    assert d and d[0].unit == ""


def test_make_failure_names_a_path_that_make_split():
    """Real log of a build into '/tmp/ci-report/x y/out' (kbuild splits M= at the space)."""
    from ofedtool.build.compile import make_failure
    log = """\
make: Entering directory '/tmp/ci-report/x y/out'
make[1]: *** No rule to make target 'y/out'.
/k/linux-headers-6.1.0-57-common/scripts/Makefile.build:44: /tmp/ci-report/x/Makefile: No such file or directory
make[2]: *** No rule to make target '/tmp/ci-report/x/Makefile'.
make[2]: Failed to remake makefile '/tmp/ci-report/x/Makefile'.
make[1]: *** [/k/linux-headers-6.1.0-57-common/Makefile:2065: /tmp/ci-report/x] Error 2
make: *** [Makefile:14: modules] Error 2
"""
    assert make_failure(log, Path("/tmp/ci-report/x y/out"), KDIR) == "make: *** No rule to make target 'y/out'."


def test_make_failure_names_a_full_disk_and_it_is_no_compile_error():
    from ofedtool.build.compile import make_failure
    log = """\
  CC [M]  /t/drivers/infiniband/core/mad.o
/t/drivers/infiniband/core/mad.c:3193:1: fatal error: closing dependency file /t/drivers/infiniband/core/.mad.o.d: No space left on device
compilation terminated.
make[3]: *** [/k/scripts/Makefile.build:255: /t/drivers/infiniband/core/mad.o] Error 1
make: *** [Makefile:14: modules] Error 2
"""
    top = Path("/t")
    assert not [d for d in parse_log(log, top, set(), KDIR) if d.kind == "error"]
    assert make_failure(log, top, KDIR).startswith("no space left on the device: ")


def test_make_failure_names_a_concurrent_build():
    from ofedtool.build.compile import make_failure
    log = """\
  CC [M]  /t/drivers/infiniband/core/cq.o
fixdep: error opening file: /t/drivers/infiniband/core/.cq.o.d: No such file or directory
make[3]: *** [/k/scripts/Makefile.build:250: /t/drivers/infiniband/core/cq.o] Error 2
make[3]: *** [/k/scripts/Makefile.build:250: /t/drivers/infiniband/core/verbs.o] Error 143
make: *** [Makefile:14: modules] Error 2
"""
    why = make_failure(log, Path("/t"), KDIR)
    assert why.startswith("fixdep: error opening file") and "another build" in why
    killed = make_failure("make[3]: *** [/k/s/Makefile.build:250: /t/d/x.o] Error 143\n", Path("/t"), KDIR)
    assert "SIGTERM" in killed


def test_make_failure_names_a_kbuild_error():
    from ofedtool.build.compile import make_failure
    log = "/k/Makefile:157: *** building multiple external modules is not supported.  Stop.\n"
    assert "building multiple external modules" in make_failure(log, Path("/t"), KDIR)


def test_output_path_with_a_space_is_refused_before_anything_is_written(tmp_path):
    from conftest import error_line, run_cli
    out = tmp_path / "x y" / "out"
    p = run_cli("build", "--kernel", "6.1", "--from", "6.12", "--source", "debian", "--offline", "-o", str(out))
    assert p.returncode == 2 and "has a space in its path" in error_line(p.stderr)
    assert not (tmp_path / "x y").exists()


# ---------------------------------------------------------------- progress and the live log


def _fake_tree(tmp_path: Path) -> Path:
    t = tmp_path / "tree"
    (t / "d" / "sub").mkdir(parents=True)
    (t / "Kbuild").write_text("obj-m += d/\n")
    (t / "Makefile").write_text("OFED_CONFIG := CONFIG_A=m CONFIG_B=y CONFIG_OFF= \n")
    (t / "d" / "Makefile").write_text(
        "two-$(CONFIG_B) := b.o\n"
        "obj-$(CONFIG_A) += one.o single.o \\\n    $(two-y)\nobj-$(CONFIG_OFF) += never.o\n"
        "obj-$(CONFIG_A) += sub/\n"
        "one-y := x.o y.o \\\n\tz.o\none-$(CONFIG_B) += w.o\none-$(CONFIG_OFF) += gone.o\n"
        "one-$(CONFIG_KERNEL) += k.o  # from the target's auto.conf\n")
    (t / "d" / "sub" / "Kbuild").write_text("obj-m := s.o\ns-objs := s1.o s2.o\n")
    return t


def test_expected_objects_of_a_generated_tree(tmp_path):
    from ofedtool.build.compile import expected_objects, kbuild_config
    t = _fake_tree(tmp_path)
    kdir = tmp_path / "k"
    (kdir / "include" / "config").mkdir(parents=True)
    (kdir / "include" / "config" / "auto.conf").write_text("CONFIG_KERNEL=y\nCONFIG_A=y\n")
    config = kbuild_config(t, kdir)
    assert config["CONFIG_A"] == "m" and config["CONFIG_KERNEL"] == "y"  # our Makefile wins
    assert expected_objects(t, config) == {
        "d/x.o", "d/y.o", "d/z.o", "d/w.o", "d/k.o", "d/single.o", "d/b.o", "d/sub/s1.o", "d/sub/s2.o"}
    # A target-rule directory: its Kbuild includes the source's own Makefile (generate writes
    # that form), whose objects count too.
    (t / "Kbuild").write_text((t / "Kbuild").read_text() + "obj-m += hw/\n")
    (t / "hw").mkdir()
    (t / "hw" / "Kbuild").write_text("include $(src)/Makefile\nccflags-y += -DOFED_TARGET_RULE\n")
    (t / "hw" / "Makefile").write_text("obj-$(CONFIG_A)\t+= drv.o\ndrv-y :=\tmain.o qp.o\n"
                                       "drv-$(CONFIG_B) += esw.o\n")
    assert {"hw/main.o", "hw/qp.o", "hw/esw.o"} <= expected_objects(t, config)
    # A feature switched off there (generate's `CONFIG_B :=` ahead of the include): its objects
    # are not compiled, so they are not in the progress total either.
    (t / "hw" / "Kbuild").write_text("CONFIG_B :=\n" + (t / "hw" / "Kbuild").read_text())
    objs = expected_objects(t, config)
    assert {"hw/main.o", "hw/qp.o"} <= objs and "hw/esw.o" not in objs and "d/b.o" in objs


def test_progress_prints_every_ten_percent_off_a_terminal(capsys):
    import io

    from ofedtool import ui
    stream = io.StringIO()
    bar = ui.Progress("[build]", 85, "objects", stream=stream)
    for i in range(1, 86):
        bar.update(i)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and lines[0].startswith("[build] 9/85 objects (10%)")
    assert lines[-1].startswith("[build] 85/85 objects (100%)")


def test_progress_on_a_terminal_is_one_line_rewritten():
    import io

    from ofedtool import ui

    class Tty(io.StringIO):
        def isatty(self):
            return True
    stream = Tty()
    bar = ui.Progress("[build]", 4, "objects", stream=stream)
    for i in range(1, 5):
        bar.update(i)
    bar.close()
    out = stream.getvalue()
    assert out.count("\n") == 1 and out.endswith("4/4 objects (100%), 0s\n") and "\r\033[K" in out


def test_build_log_is_written_as_make_writes(tmp_path):
    """`tail -f build.log` shows lines while make runs: the child copies the log mid-run."""
    from ofedtool.build.compile import _Log, _make
    log, snap = tmp_path / "build.log", tmp_path / "snap"
    f = _Log(log)
    rc = _make(["sh", "-c", f"echo '  CC [M]  /t/a.o'; sleep 1; cat {log} > {snap}; echo done"], {}, f)
    f.close()
    assert rc == 0 and snap.read_text() == "  CC [M]  /t/a.o\n"
    assert log.read_text().endswith("done\n")


@pytest.mark.slow
def test_expected_objects_are_the_objects_kbuild_compiled(built_tree_6_1, build_tree_6_1):
    """The progress total on a real build: exactly the .o files kbuild compiled (not .mod.o)."""
    import re

    from ofedtool.build.compile import expected_objects, kbuild_config, tree_relative
    text = (built_tree_6_1 / "build.log").read_text()
    compiled = {tree_relative(m[1], built_tree_6_1, build_tree_6_1)
                for m in re.finditer(r"^\s+CC \[M\]\s+(\S+\.o)$", text, re.M) if not m[1].endswith(".mod.o")}
    assert len(compiled) > 50
    assert expected_objects(built_tree_6_1, kbuild_config(built_tree_6_1, build_tree_6_1)) == compiled


def test_paths_through_the_trees_view_of_the_kernel_build_dir(tmp_path):
    """kbuild runs gcc in TREE/.kbuild, links to the build dir's entries: ccache hands gcc our
    files as ../drivers/..., the kernel's as ./include/...; the parser puts each where it is."""
    from ofedtool.build.compile import tree_relative
    from ofedtool.fetch.kbuild import VIEW, kbuild_view
    kdir, tree = tmp_path / "k", tmp_path / "out" / "tree"
    (kdir / "include" / "linux").mkdir(parents=True)
    (kdir / "include" / "linux" / "x.h").write_text("")
    (kdir / "Makefile").write_text("")
    tree.mkdir(parents=True)
    view = kbuild_view(kdir, tree)
    assert view == tree / VIEW and not view.is_symlink()
    assert sorted(p.name for p in view.iterdir()) == ["Makefile", "include"]
    assert tree_relative("../drivers/a.c", tree, view) == "drivers/a.c"
    assert tree_relative("./include/linux/x.h", tree, view) == str(kdir / "include" / "linux" / "x.h")
    # A new entry in the build dir (another upload unpacked there) gives a new view; the same one is kept.
    (kdir / ".config").write_text("")
    assert kbuild_view(kdir, tree) == view and (view / ".config").is_symlink()
    assert [p.name for p in tree.iterdir()] == [VIEW]
    from ofedtool.package.common import source_files
    (tree / "Kbuild").write_text("obj-m += drivers/\n")
    assert source_files(tree) == ["Kbuild"]  # no package ships the view
