"""The seams between stages, offline and in seconds: the tree's records, the library's requests,
the kernel build tree readers, the log grammar, and every README command line.

Inputs are recorded from a real run (tests/data/tree-6.1: `ofedtool build --kernel 6.1 --from 6.12
--source debian`, core + rxe + siw, its manifest.json, result.json and build.log) or made here
(tests/fakekernel.py). Nothing reaches a mirror: the CLI runs use an empty private cache and --offline.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest

import fakekernel
from conftest import DATA, REPO, error_line, run_cli
from ofedtool.fetch import kbuild
from ofedtool import pipeline, tree
from ofedtool.build.compile import parse_log
from ofedtool.cli import parser
from ofedtool.errors import OfedError
from ofedtool.prove.report import cells_from_build, cells_from_vmtest

RECORDED = DATA / "tree-6.1"


def _copy_tree(tmp_path: Path, with_kos: bool = True) -> Path:
    """The recorded tree somewhere else, with stand-in .ko files where the build put them."""
    out = tmp_path / "tree"
    out.mkdir()
    for f in ("manifest.json", "result.json", "build.log"):
        shutil.copyfile(RECORDED / f, out / f)
    if with_kos:
        for m in tree.Manifest.read(out).modules:
            (out / m.dir).mkdir(parents=True, exist_ok=True)
            (out / m.dir / f"{m.name}.ko").write_bytes(b"\x7fELF stand-in")
    return out


# ---------------------------------------------------------------- records


@pytest.mark.parametrize("cls, name", [(tree.Manifest, "manifest.json"), (tree.BuildRecord, "result.json")])
def test_records_write_the_bytes_they_read(cls, name, tmp_path):
    """A record read and written again is the same file: layout (sorted, indent 2, newline) and fields."""
    rec = cls.read(RECORDED)
    rec.write(tmp_path)
    assert (tmp_path / name).read_bytes() == (RECORDED / name).read_bytes()


def test_schema_is_one_sorted_key_over_todays_fields():
    """The recorded files are today's fields plus "schema": nothing else was added or reordered."""
    for name, schema in (("manifest.json", tree.MANIFEST_SCHEMA), ("result.json", tree.BUILD_SCHEMA)):
        text = (RECORDED / name).read_text()
        data = json.loads(text)
        assert data.pop("schema") == schema
        assert tree.dumps({**data, "schema": schema}) == text
        assert f'\n  "schema": "{schema}",\n' in text or text.endswith(f'\n  "schema": "{schema}"\n}}\n')


@pytest.mark.parametrize("schema, says", [
    (None, "has no schema"),
    ("ofedtool.manifest/9", "this ofedtool reads ofedtool.manifest/1"),
    ("someone-else/1", "is not an ofedtool manifest"),
])
def test_old_or_foreign_tree_is_one_line(tmp_path, schema, says):
    out = _copy_tree(tmp_path)
    m = json.loads((out / "manifest.json").read_text())
    if schema is None:
        del m["schema"]
    else:
        m["schema"] = schema
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(OfedError, match=re.escape(says)):
        tree.BuiltTree.open(out)
    p = run_cli("report", str(out), "-o", str(tmp_path / "r"))
    assert p.returncode == 2 and "Traceback" not in p.stderr  # an input error (errors.py)
    assert says in error_line(p.stderr) and "manifest.json" in error_line(p.stderr)
    # generate never trusts such a manifest as "up to date"
    assert tree.Manifest.peek(out) is None


def test_built_tree_finds_its_modules_after_a_move(tmp_path):
    out = _copy_tree(tmp_path)
    bt = tree.BuiltTree.open(out)
    kos = bt.kos()
    assert list(kos) == [m.name for m in bt.manifest.modules]  # build order
    assert all(k.is_relative_to(out) and k.is_file() for k in kos.values())  # not /tmp/seams/out
    assert bt.module_dir("rdma_rxe") == "drivers/infiniband/sw/rxe"
    (out / "drivers/infiniband/sw/siw/siw.ko").unlink()
    with pytest.raises(OfedError, match=r"siw\.ko missing"):
        bt.kos()


def test_unbuilt_tree_is_named(tmp_path):
    out = _copy_tree(tmp_path)
    (out / "result.json").unlink()
    with pytest.raises(OfedError, match="generated but not built"):
        tree.BuiltTree.open(out)
    assert tree.BuiltTree.open(out, built=False).build is None


def test_vm_record_round_trip(tmp_path):
    steps = (tree.VmStep("init", "PASS", "", 1.0, 2.0), tree.VmStep("ours", "FAIL", "ib_core is inbox", 3.0, 4.0))
    rec = tree.VmRecord(ok=False, reason="step ours failed", kernel="6.1.0-57-amd64", target="debian-12",
                        tree=str(tmp_path), steps=steps, image={"package": "linux-image-x", "version": "1"})
    rec.write(tmp_path)
    back = tree.VmRecord.read(tmp_path)
    assert back == rec
    cells = cells_from_vmtest("debian-12", back)
    assert [(c.stage, c.status) for c in cells] == [("vm:init", "pass"), ("vm:ours", "fail")]
    assert cells_from_vmtest("debian-12", None, missing="no result (exit 3)")[0].message == "no result (exit 3)"


# ---------------------------------------------------------------- report, from the recorded build


def test_report_cells_of_the_recorded_build():
    rec = tree.BuildRecord.read(RECORDED)
    dirs = {m.name: m.dir for m in tree.Manifest.read(RECORDED).modules}
    cells = cells_from_build("debian-12", rec, "", rec.seconds, "build.log", dirs)
    # kbuild; compile, modpost, hazards, abi per module; one per stranded distro module
    assert len(cells) == 1 + 4 * len(rec.modules) + len(rec.stranded) and len(rec.stranded) == 22
    # core, rxe and siw alone strand the distro's RDMA stack by choice: skips, not failures
    assert {c.status for c in cells if c.stage != "stranded"} == {"pass"}
    assert {c.status for c in cells if c.stage == "stranded"} == {"skip"} and not rec.stranded_fail
    assert cells[0].seconds == rec.seconds and cells[0].stage == "kbuild"


def test_report_names_the_error_in_the_modules_own_directory():
    """The first error of a failed module is one in its directory (the manifest's), or in a
    header compiled for a file there; not one whose path merely contains its name."""
    rec = tree.BuildRecord.read(RECORDED)
    dirs = {m.name: m.dir for m in tree.Manifest.read(RECORDED).modules}
    diags = [{"kind": "error", "file": "drivers/infiniband/sw/rxe/rdma_rxe_fake.c", "line": 1, "msg": "decoy", "unit": ""},
             {"kind": "error", "file": "include/linux/compiler_types.h", "line": 387, "msg": "min() signedness",
              "unit": "drivers/infiniband/core/cq.c"}]
    mods = [dict(m, ko=None, errors=1) if m["name"] == "ib_core" else m for m in rec.build["modules"]]
    broken = dataclasses.replace(rec, ok=False, build={**rec.build, "modules": mods, "diagnostics": diags})
    cells = {(c.module, c.stage): c for c in cells_from_build("debian-12", broken, "", 1.0, "", dirs)}
    assert cells[("ib_core", "compile")].status == "fail"
    assert cells[("ib_core", "compile")].message == "include/linux/compiler_types.h:387: min() signedness"
    assert cells[("rdma_rxe", "compile")].status == "pass"


def test_report_command_over_a_recorded_tree(tmp_path):
    out = _copy_tree(tmp_path)
    p = run_cli("--json", "report", str(out), "-o", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["failed"] == [] and Path(res["reports"]["junit"]).is_file()
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["from"] == "6.12.117" and len(report["cells"]) == 1 + 4 * 9 + 22  # 22 stranded (skips)


# ---------------------------------------------------------------- the log grammar, on the recorded log


def test_recorded_build_log_parses_to_the_recorded_verdict():
    """The real 6.1 build's log, parsed again, gives the diagnostics its result.json recorded."""
    rec = tree.BuildRecord.read(RECORDED)
    out = Path(rec.output)
    diags = parse_log((RECORDED / "build.log").read_text(), out, set())
    counts = {k: 0 for k in ("error", "undefined", "hazard", "warning", "modpost")}
    for d in diags:
        counts[d.kind] += 1
    assert counts["error"] == rec.build["counts"]["errors"] == 0
    assert counts["undefined"] == rec.build["counts"]["undefined"]
    # every warning of the recorded verdict is found again (hazards counted apart there)
    assert counts["warning"] + counts["hazard"] == rec.build["counts"]["warnings"] + rec.build["counts"]["hazards"]


def test_recorded_gap_log_parses_as_before_the_grammar_moved():
    """A real unadapted 6.12 → 6.1 compile's log (ofedtool gap --kernel 6.1 --from 6.12): the one
    grammar gives exactly what build.py's and gap.py's own regexes gave (parsed.json was
    computed by ofedtool ef82d80, before kbuildlog.py existed)."""
    from ofedtool.build.compile import hazard_flags
    from ofedtool.build.gap import parse
    log = (DATA / "gap-6.1" / "build.log").read_text()
    want = json.loads((DATA / "gap-6.1" / "parsed.json").read_text())
    top, cwd = Path("/tmp/seams/gap"), Path("/k/linux-headers-6.1.0-57-amd64")
    assert [a.as_dict(3) for a in parse(log, top, cwd)] == want["apis"]
    assert [d.__dict__ for d in parse_log(log, top, hazard_flags(), cwd)] == want["diagnostics"]
    # what the measured gap says for this pair: 8 root causes include these
    names = {a["name"] for a in want["apis"]}
    assert {"__assign_str", "fd_file", "linux/unaligned.h", "EMPTY_FD", "dst_rtable"} <= names


def test_one_grammar_for_build_gap_and_probes():
    from ofedtool.build import gap
    from ofedtool import kbuildlog
    from ofedtool.adapt import probes
    line = "/tmp/a b/probe-HAVE_X.c:12:5: error: implicit declaration of function 'foo' [-Werror=implicit]"
    m = kbuildlog.diagnostic(line)
    assert (m["file"], m["line"], m["col"], m["sev"]) == ("/tmp/a b/probe-HAVE_X.c", "12", "5", "error")
    assert kbuildlog.diagnostic("drivers/x.c:3: warning: unused [-Wunused-variable]")["col"] is None
    assert kbuildlog.diagnostic("In file included from drivers/x.c:3:") is None
    blame = probes._blame(line)
    assert blame.first == {"HAVE_X": "error: implicit declaration of function 'foo' [-Werror=implicit]"}
    assert blame.implicit == {"HAVE_X": {"foo"}} and not blame.hard
    apis = gap.parse('ERROR: modpost: "kthread_create_on_cpu" [/t/drivers/infiniband/sw/siw/siw.ko] undefined!\n'
                     + line.replace("/tmp/a b/probe-HAVE_X.c", "/t/drivers/x.c"), "/t")
    assert [(a.kind, a.name, sorted(a.files)) for a in apis] == [
        ("function", "foo", ["drivers/x.c"]), ("symbol", "kthread_create_on_cpu", ["drivers/infiniband/sw/siw/siw.ko"])]


@pytest.mark.parametrize("msg, kind, name", [
    ("linux/unaligned.h: No such file or directory", "header", "linux/unaligned.h"),
    ("implicit declaration of function 'kmap_local_page'", "function", "kmap_local_page"),
    ("too many arguments to function 'kfree_rcu'", "function", "kfree_rcu"),
    ("'struct ib_device_attr' has no member named 'max_sgl_rd'", "member", "struct ib_device_attr.max_sgl_rd"),
    ("'MSG_SPLICE_PAGES' undeclared (first use in this function)", "identifier", "MSG_SPLICE_PAGES"),
    ("unknown type name 'netdevice_tracker'", "type", "netdevice_tracker"),
    ('macro "__assign_str" requires 2 arguments, but only 1 given', "macro", "__assign_str"),
    ("expected ';' before 'x' [-Wfoo]", "other", "expected '…' before '…'"),
])
def test_gap_classify(msg, kind, name):
    from ofedtool.build.gap import classify
    assert classify(msg) == (kind, name)


# ---------------------------------------------------------------- compat and shims on recorded features


def test_shims_plan_for_the_recorded_6_12_core_on_6_1():
    """Against 6.1 the 6.12 core's only ULP-visible verbs change is num_prs turning unsigned; the
    drivers' ops tables get the 6.10 uverbs_attr_bundle wrappers (SmPL over the drivers' files)."""
    from ofedtool.adapt.shims import load_shims, plan
    features = tree.Manifest.read(RECORDED).features
    rows = plan(load_shims(), features, ["ib_ipoib", "ib_srp"])
    assert [r["shim"] for r in rows if r["active"] and r["modules"]] == ["ib-sa-path-rec-num-prs-unsigned-6.3"]
    assert [r["shim"] for r in rows if r["active"] and not r["modules"]] == [
        "ib-create-cq-attrs-6.10", "ib-reg-user-mr-dmabuf-attrs-6.10"]
    assert plan(load_shims(), features, []) == []  # core + rxe + siw: no ULP, no shim


def test_pinned_probes_are_the_smpl_and_shim_conditions():
    from ofedtool.package.probekit import pinned_probes
    m = dataclasses.replace(
        tree.Manifest.read(RECORDED),
        probes={"results": {"HAVE_A": False, "HAVE_B": True, "HAVE_C": False, "HAVE_SA_PATH_REC_NUM_PRS_INT": True}},
        smpl=[{"file": "a.cocci", "when": "!HAVE_A", "active": True},
              {"file": "b.cocci", "when": "!HAVE_B", "active": False}],
        shims=[{"shim": "ib-sa-path-rec-num-prs-unsigned-6.3", "why": "not read", "active": True}])
    pins = pinned_probes(m)
    assert [(p.name, p.value, p.rule) for p in pins] == [
        ("HAVE_A", False, "a.cocci"), ("HAVE_B", True, "b.cocci"),
        ("HAVE_SA_PATH_REC_NUM_PRS_INT", True, "shim ib-sa-path-rec-num-prs-unsigned-6.3")]
    gone = dataclasses.replace(m, shims=[{"shim": "no-such-shim", "why": "", "active": False}])
    with pytest.raises(OfedError, match="no-such-shim of this tree is no longer in backports/shims"):
        pinned_probes(gone)


def test_active_compat_counts_only_compat_that_x_uses(tmp_path):
    from ofedtool.adapt.generate import active_compat
    bp = tmp_path / "bp"
    (bp / "compat" / "include" / "linux").mkdir(parents=True)
    (bp / "compat" / "include" / "linux" / "slab.h").write_text(
        "#include_next <linux/slab.h>\n#ifndef HAVE_KVFREE_RCU\n#define kvfree_rcu_mightsleep(p) kvfree(p)\n#endif\n"
        "#ifndef HAVE_NEVER_USED\nstatic inline int never_used_by_x(void) { return 0; }\n#define never_used_by_x never_used_by_x\n#endif\n")
    src = tmp_path / "tree" / "drivers" / "infiniband" / "core"
    src.mkdir(parents=True)
    (src / "cq.c").write_text("void f(void *p) { kvfree_rcu_mightsleep(p); }\n")
    features = {"HAVE_KVFREE_RCU": False, "HAVE_NEVER_USED": False, "HAVE_PRESENT": True}
    assert active_compat(bp, tmp_path / "tree", features, [], []) == ["HAVE_KVFREE_RCU"]
    # SmPL rules are active when they changed a file
    smpl = [{"file": "x.cocci", "when": "!HAVE_NEVER_USED", "active": True, "changed": ["drivers/x.c"]}]
    assert active_compat(bp, tmp_path / "tree", features, [], smpl) == ["HAVE_KVFREE_RCU", "HAVE_NEVER_USED"]


# ---------------------------------------------------------------- the kernel build tree (fake)


@pytest.fixture
def fake_kernel(tmp_path) -> Path:
    return fakekernel.make(tmp_path / "k")


def test_kbuild_reads_the_fake_tree(fake_kernel):
    assert kbuild.kernel_release(fake_kernel) == fakekernel.RELEASE  # utsrelease.h, not kernel.release
    config = kbuild.config_values(fake_kernel)
    assert config["CONFIG_RDMA_RXE"] == "m" and "CONFIG_INFINIBAND_SRPT" not in config
    assert kbuild.compiler_text(fake_kernel) == "gcc-12 (Debian 12.2.0-14) 12.2.0"
    exports = kbuild.read_symvers(fake_kernel / "Module.symvers")
    assert sorted(exports) == ["ib_register_device", "kmalloc_caches", "rdma_create_user_id"]
    assert exports["rdma_create_user_id"] == kbuild.Export(0xdeadbeef, "rdma_create_user_id",
                                                           "drivers/infiniband/core/rdma_cm", "EXPORT_SYMBOL_GPL")
    assert kbuild.source_dir(fake_kernel) == fake_kernel.parent / "common"
    with pytest.raises(OfedError, match="cannot read"):
        kbuild.read_symvers(fake_kernel / "nope")
    assert kbuild.read_symvers(fake_kernel / "nope", missing_ok=True) == {}


def test_tree_id_is_content_addressed_not_memoised(fake_kernel, tmp_path):
    """Computed afresh each time (the memo is cleared): a copy elsewhere, or new mtimes, keep the
    id; a changed .config, another header, or a changed Module.symvers change it."""
    def fresh(d):
        kbuild._TREE_IDS.clear()
        return kbuild.tree_id(d)
    first = fresh(fake_kernel)
    assert len(first) == 64
    copy = tmp_path / "copy"
    shutil.copytree(fake_kernel.parent, copy, symlinks=True)
    (copy / "build" / "Makefile").write_text(f"include {copy / 'common'}/Makefile\n")
    assert fresh(copy / "build") == first
    (copy / "build" / ".config").write_text(fakekernel.CONFIG + "CONFIG_NEW=y\n")
    changed = fresh(copy / "build")
    assert changed != first
    (copy / "common" / "include" / "linux" / "new.h").write_text("")
    assert fresh(copy / "build") not in (first, changed)
    # another arch's headers are not part of the id
    (fake_kernel.parent / "common" / "arch" / "arm64" / "include" / "asm" / "more.h").write_text("")
    assert fresh(fake_kernel) == first


def test_buildable_skips_ulps_whose_subsystem_is_off(fake_kernel):
    from ofedtool.fetch.headers import BuildTree
    from ofedtool.modules import load_catalog, select
    mods = select(load_catalog(), "core,rxe,ib_ipoib,ib_srpt")
    keep, skipped = pipeline.buildable(mods, BuildTree(fake_kernel, fakekernel.RELEASE))
    assert "ib_ipoib" in [m.name for m in keep] and "rdma_rxe" in [m.name for m in keep]
    assert skipped == {"ib_srpt": f"CONFIG_INFINIBAND_SRPT is not set in {fakekernel.RELEASE}'s config"}


# ---------------------------------------------------------------- requests: one default, child argv


def test_one_default_module_set():
    """Every command's --modules defaults to the one constant (shims asks for ULPs on purpose)."""
    for cmd in ("generate", "build", "gap", "vmtest", "check", "release"):
        args = parser().parse_args([cmd, "--kernel", "6.1", "--from", "6.12"])
        assert args.modules == pipeline.DEFAULT_MODULES, cmd
        assert args.source == pipeline.DEFAULT_SOURCE and args.git_url is None, cmd
    assert parser().parse_args(["shims", "--kernel", "6.1", "--from", "6.12"]).modules == "core,ulps"
    text = "\n".join(p.read_text() for p in (REPO / "ofedtool").rglob("*.py"))
    assert text.count(f"\"{pipeline.DEFAULT_MODULES}\"") == 1  # written once
    assert text.count("(\"git\", \"debian\", \"auto\")") == 1 and text.count("os.cpu_count()") == 1


def test_check_builds_its_childs_argv_from_the_selection(tmp_path):
    from ofedtool.commands.options import build_options, selection
    from ofedtool.matrix import CheckRequest, build_command
    req = CheckRequest("6.12", ("6.1",), modules="core,ulps", source="debian", git_url="file:///m", jobs=3,
                       ccache=False)
    session = pipeline.Session(type("C", (), {"root": tmp_path})(), offline=True)
    argv = build_command(session, req.selection("debian-12"), pipeline.BuildOptions(3, tmp_path / "t", False))
    assert argv[3:8] == ["--cache-dir", str(tmp_path), "--json", "--offline", "build"]
    child = parser().parse_args(argv[3:])
    assert selection(child) == pipeline.Selection("debian-12", "6.12", "core,ulps", "debian", "file:///m")
    assert build_options(child) == pipeline.BuildOptions(3, tmp_path / "t", False)
    assert child.offline and child.cache_dir == str(tmp_path)


# ---------------------------------------------------------------- every README command line


README_LINES = [
    "scripts/bootstrap && .venv/bin/ofedtool build --kernel 6.1 --from 6.12",
    "ofedtool kernels",
    "ofedtool fetch --from 6.12 --kernel 6.1,5.10",
    "ofedtool generate --kernel 6.1 --from 6.12 -o DIR",
    "ofedtool build --kernel 6.1 --from 6.12 --modules core,rxe,siw,ulps --package dkms,rpm,deb",
    "ofedtool shims --kernel 6.1 --from 6.12",
    "ofedtool gap --kernel 5.10 --from 6.12",
    "ofedtool package --tree DIR --format dkms,rpm,deb --sign-key K --sign-cert C",
    "ofedtool vmtest --kernel 6.1 --from 6.12 --tree DIR --sign-key K --sign-cert C",
    "ofedtool vmtest --kernel 6.1 --from 6.12",
    "ofedtool vmtest --kernel 6.1 --from 6.12 --tree DIR --inbox",
    "ofedtool check --from 6.12 --kernel 6.1,6.12,5.10 --vmtest",
    "ofedtool report -o DIR TREE --screenshot PNG",
    "ofedtool release --from 6.12 --kernel 6.1,6.12,5.10",
    "ofedtool release --from 7.3 --kernel trixie,6.1,5.10",
    "ofedtool refresh --from X",
    "ofedtool watch --from 6.12 --since out --kernel 6.1,5.10 --changed --release-dir DIR",
    "ofedtool watch --from 6.12 --since out --changed",
    "ofedtool watch --from 6.12 --since release/ofed-rdma-6.12.117-1 --release-dir release",
    "python bench/run.py --kernel 6.1 --from 6.12 --source debian --only a,b,c,d",
]


def _argv(line: str) -> list[str]:
    return line.split("ofedtool ", 1)[1].split()


def test_readme_commands_are_all_listed_here():
    readme = (REPO / "README.md").read_text()
    in_table = set(re.findall(r"^\| `ofedtool (\w+)", readme, re.M))
    assert in_table and in_table <= {_argv(line)[0] for line in README_LINES if "ofedtool " in line}
    for line in README_LINES:
        shown = re.sub(r"\s+#.*", "", line)
        # the README shows optional parts in [brackets]: every word given here is in it
        assert all(w in readme for w in shown.replace("python ", "").split()), line


@pytest.mark.parametrize("line", [x for x in README_LINES if "ofedtool " in x and "bench/" not in x])
def test_readme_command_line_translates_into_a_request(line):
    """The command line parses, and its arguments become the library's request without error."""
    from ofedtool.commands import check, options, release, vmtest
    from ofedtool.commands import package as package_cmd
    args = parser().parse_args(_argv(line))
    cmd = args.command
    if cmd in ("generate", "build", "gap", "shims", "vmtest"):
        sel = options.selection(args)
        assert (sel.kernel, sel.from_) == (args.kernel, args.from_)
    if cmd in ("generate", "build", "gap"):
        assert options.build_options(args).jobs == args.jobs
    if cmd == "build" and args.formats:
        assert package_cmd.options(args, "--package").formats == ["dkms", "rpm", "deb"]
    if cmd == "package":
        assert package_cmd.options(args).sign_key == Path("K")
    if cmd == "vmtest":
        req = vmtest.request(args)
        assert req.tree == (Path("DIR") if args.tree else None) and req.build.output is None
    if cmd == "check":
        assert check.request(args).kernels == ("6.1", "6.12", "5.10") and check.request(args).vmtest
    if cmd == "watch":
        from ofedtool.commands import watch
        req = watch.request(args)
        assert req.from_ == "6.12" and req.since and req.release.formats == ("dkms", "rpm", "deb")
    if cmd == "release":
        req = release.request(args)
        assert req.vmtest and req.formats == ("dkms", "rpm", "deb") and len(req.kernels) == 3


@pytest.mark.parametrize("argv", [
    ["vmtest", "--kernel", "6.1", "--from", "6.12"],          # without --tree: builds first (issue 15)
    ["build", "--kernel", "6.1", "--from", "6.12", "--package", "dkms"],
    ["generate", "--kernel", "6.1", "--from", "6.12"],
    ["gap", "--kernel", "5.10", "--from", "6.12"],
    ["shims", "--kernel", "6.1", "--from", "6.12"],
    ["fetch", "--from", "6.12", "--kernel", "6.1,5.10"],
])
def test_readme_command_runs_to_the_fetch_offline(argv, tmp_path):
    """Run for real with an empty cache and --offline: each gets as far as the first download and
    stops there with the one error line, never an AttributeError or any traceback."""
    out = ["-o", str(tmp_path / "o")] if argv[0] in ("generate", "build", "gap", "vmtest") else []
    p = run_cli("--cache-dir", str(tmp_path / "cache"), "--offline", *argv, "--source", "debian", *out, cwd=tmp_path)
    assert p.returncode == 2, p.stderr  # --offline with nothing cached: an input error
    assert "Traceback" not in p.stderr and "AttributeError" not in p.stderr
    assert error_line(p.stderr).startswith("ofedtool: error: --offline: ") and "in the cache" in error_line(p.stderr)
    assert not (tmp_path / "o").exists() or argv[0] == "vmtest"  # nothing half-written (vmtest: its own dir)


def test_readme_commands_that_need_no_download(tmp_path):
    p = run_cli("--cache-dir", str(tmp_path / "cache"), "--offline", "--json", "kernels")
    assert p.returncode == 0 and {"debian-12", "debian-11"} <= {t["id"] for t in json.loads(p.stdout)["targets"]}


# ---------------------------------------------------------------- running tools


def test_one_error_format_for_tools(tmp_path):
    from ofedtool import proc
    from ofedtool.errors import MissingTool
    with pytest.raises(OfedError) as e:
        proc.run(["sh", "-c", "echo progress; echo 'first\nstrip: ib_core.ko: file format not recognized' >&2; exit 3"],
                 what="strip --strip-debug ib_core.ko", package="binutils")
    assert str(e.value) == ("strip --strip-debug ib_core.ko: strip: ib_core.ko: file format not recognized "
                            "(exit 3) (sh, Debian package binutils)")
    with pytest.raises(MissingTool, match="required tool 'no-such-tool-x' not found: install the Debian package 'pkg-x'"):
        proc.run(["no-such-tool-x"], package="pkg-x")
    assert proc.run(["sh", "-c", "exit 4"], check=False).returncode == 4
    from ofedtool.fetch import apt
    assert apt.require is proc.require  # kept importable for branches that still use it
