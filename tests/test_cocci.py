"""ofedtool.adapt.cocci: the real spatch on real 6.12 RDMA sources."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from ofedtool.adapt.cocci import SmplError, run_smpl
from ofedtool.errors import MissingTool

CORE = "drivers/infiniband/core"
# A few core files; only uverbs_main.c has a "static const struct class" in 6.12.
SOME = [f"{CORE}/{n}" for n in ("uverbs_main.c", "user_mad.c", "device.c", "cm.c", "addr.c", "cache.c")]

DROP_CONST = """\
// class_register() writes into the class before 6.4
@@
identifier c;
@@
 static
-const
 struct class c = { ... };
"""

RENAME = """\
@@
expression list ES;
@@
- ib_register_client(ES)
+ ib_register_client_compat(ES)
"""

BROKEN = """\
@@
identifier f;
@@
- f(
"""

# Fails at run time on the one file that has a match; spatch itself exits 0 for it.
RAISES = """\
@r@
identifier c;
@@
 static const struct class c = { ... };

@script:python depends on r@
c << r.c;
@@
raise Exception("no backport for " + c)
"""

SLEEPS = """\
@initialize:python@
@@
import time
time.sleep(60)

@@
identifier c;
@@
 static
-const
 struct class c = { ... };
"""


def _copy(src: Path, dest: Path, rels) -> Path:
    for rel in rels:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dest / rel)
    return dest


def _snapshot(tree: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tree)): p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file()}


def _smpl(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / "backports" / "smpl" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def _spatch_processes_using(path: Path) -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if str(path).encode() in (d / "cmdline").read_bytes():
                    found.append(int(d.name))
            except OSError:
                pass
    return found


def test_drop_const_changes_exactly_uverbs_main(src_6_12, tmp_path):
    tree = _copy(src_6_12, tmp_path / "tree", SOME)
    before = _snapshot(tree)
    smpl = _smpl(tmp_path, "class-not-const.cocci", DROP_CONST)
    res = run_smpl(smpl, tree, SOME, jobs=2, smpl_root=tmp_path / "backports")
    assert res.smpl == "smpl/class-not-const.cocci"
    assert [f.file for f in res.files] == SOME
    assert [f.file for f in res.files if f.changed] == [f"{CORE}/uverbs_main.c"]
    assert res.cache_hits == 0 and not any(f.cached for f in res.files) and res.workers == 2
    after = _snapshot(tree)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {f"{CORE}/uverbs_main.c"}
    uverbs = after[f"{CORE}/uverbs_main.c"].decode()
    assert "static struct class uverbs_class = {" in uverbs
    assert "static const struct class" not in uverbs
    assert before[f"{CORE}/uverbs_main.c"].decode().replace("static const struct class", "static struct class") == uverbs


def test_cache_hit_on_second_run(src_6_12, tmp_path):
    smpl = _smpl(tmp_path, "class-not-const.cocci", DROP_CONST)
    cache = tmp_path / "cache"
    first = _copy(src_6_12, tmp_path / "t1", SOME)
    r1 = run_smpl(smpl, first, SOME, jobs=2, cache_dir=cache)
    assert r1.cache_hits == 0
    entries = list((cache / "cocci").rglob("*"))
    assert len([e for e in entries if e.is_file()]) == len(SOME)
    assert not [e for e in entries if e.name.endswith(".tmp")]

    second = _copy(src_6_12, tmp_path / "t2", SOME)
    r2 = run_smpl(smpl, second, SOME, jobs=2, cache_dir=cache)
    assert r2.cache_hits == len(SOME) and r2.workers == 0
    assert all(f.cached for f in r2.files)
    assert [f.changed for f in r2.files] == [f.changed for f in r1.files]
    assert _snapshot(second) == _snapshot(first)

    # A different SmPL is a different key.
    r3 = run_smpl(_smpl(tmp_path, "rename.cocci", RENAME), _copy(src_6_12, tmp_path / "t3", SOME), SOME,
                  jobs=2, cache_dir=cache)
    assert r3.cache_hits == 0


def test_broken_smpl_fails_and_leaves_tree(src_6_12, tmp_path):
    tree = _copy(src_6_12, tmp_path / "tree", SOME)
    before = _snapshot(tree)
    smpl = _smpl(tmp_path, "broken.cocci", BROKEN)
    with pytest.raises(SmplError) as e:
        run_smpl(smpl, tree, SOME, jobs=2, smpl_root=tmp_path / "backports")
    msg = str(e.value)
    assert msg.startswith("smpl smpl/broken.cocci: spatch failed on drivers/infiniband/core/")
    assert "parse error" in msg and "\n" not in msg
    assert _snapshot(tree) == before


def test_failure_in_one_file_names_it_and_writes_nothing(src_6_12, tmp_path):
    # Several files per batch: spatch reports the failure as "EXN: ... in FILE" and exits 0.
    tree = _copy(src_6_12, tmp_path / "tree", SOME)
    before = _snapshot(tree)
    smpl = _smpl(tmp_path, "raises.cocci", RAISES)
    with pytest.raises(SmplError, match=rf"^smpl smpl/raises\.cocci: spatch failed on {CORE}/uverbs_main\.c: .*Python"):
        run_smpl(smpl, tree, SOME, jobs=1, smpl_root=tmp_path / "backports")
    assert _snapshot(tree) == before


def test_timeout_kills_spatch(src_6_12, tmp_path):
    tree = _copy(src_6_12, tmp_path / "tree", SOME[:2])
    before = _snapshot(tree)
    smpl = _smpl(tmp_path, "sleeps.cocci", SLEEPS)
    t0 = time.monotonic()
    with pytest.raises(SmplError, match=r"^smpl smpl/sleeps\.cocci: spatch timed out after 2s on drivers/"):
        run_smpl(smpl, tree, SOME[:2], jobs=2, timeout=2, smpl_root=tmp_path / "backports", max_batch=1)
    assert time.monotonic() - t0 < 20
    assert _spatch_processes_using(smpl) == []
    assert _snapshot(tree) == before


def test_missing_spatch(tmp_path, monkeypatch, src_6_12):
    tree = _copy(src_6_12, tmp_path / "tree", SOME[:1])
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(MissingTool) as e:
        run_smpl(_smpl(tmp_path, "x.cocci", DROP_CONST), tree, SOME[:1])
    assert e.value.tool == "spatch" and e.value.package == "coccinelle"


def test_missing_input_file(src_6_12, tmp_path):
    tree = _copy(src_6_12, tmp_path / "tree", SOME[:1])
    with pytest.raises(SmplError, match=rf"cannot read {CORE}/nope\.c"):
        run_smpl(_smpl(tmp_path, "x.cocci", DROP_CONST), tree, [SOME[0], f"{CORE}/nope.c"])


@pytest.mark.slow
def test_rename_over_all_rdma_c_files_batched_equals_one_by_one(src_6_12, tmp_path):
    rels = sorted(str(p.relative_to(src_6_12)) for p in (src_6_12 / "drivers/infiniband").rglob("*.c"))
    # The callers, found without Coccinelle (the definition in device.c is not a call).
    callers = sorted(r for r in rels if "ib_register_client(&" in (src_6_12 / r).read_text(errors="replace"))
    assert len(callers) > 10
    smpl = _smpl(tmp_path, "rename.cocci", RENAME)
    batched = _copy(src_6_12, tmp_path / "batched", rels)
    single = _copy(src_6_12, tmp_path / "single", rels)
    rb = run_smpl(smpl, batched, rels, jobs=2)
    rs = run_smpl(smpl, single, rels, jobs=2, max_batch=1)
    assert sorted(f.file for f in rb.files if f.changed) == callers
    assert _snapshot(batched) == _snapshot(single)
    for rel in callers:
        text = (batched / rel).read_text(errors="replace")
        assert "ib_register_client(&" not in text and "ib_register_client_compat(&" in text
    assert rb.workers == rs.workers == 2


@pytest.mark.slow
def test_all_core_files_jobs_and_cache(src_6_12, tmp_path):
    rels = sorted(str(p.relative_to(src_6_12)) for p in (src_6_12 / CORE).glob("*.c"))
    smpl = _smpl(tmp_path, "class-not-const.cocci", DROP_CONST)
    cache = tmp_path / "cache"
    one = _copy(src_6_12, tmp_path / "one", rels)
    two = _copy(src_6_12, tmp_path / "two", rels)
    r1 = run_smpl(smpl, one, rels, jobs=1)
    r2 = run_smpl(smpl, two, rels, jobs=2, cache_dir=cache)
    assert _snapshot(one) == _snapshot(two)
    assert [f.file for f in r2.files if f.changed] == [f"{CORE}/uverbs_main.c"]
    assert r1.workers == 1 and r2.workers == 2
    again = _copy(src_6_12, tmp_path / "again", rels)
    r3 = run_smpl(smpl, again, rels, jobs=os.cpu_count() or 1, cache_dir=cache)
    assert r3.cache_hits == len(rels) and _snapshot(again) == _snapshot(two)


def test_port_u32_shim_wraps_ops_tables_and_the_netdev_init_assignment(src_6_12, tmp_path):
    """The provider-side u8 → u32 port shim on real drivers: every port op of mthca's ops table
    points at a wrapper with the core's signature defined above the table, and hfi1's
    initialize_rdma_netdev (assigned in code, not in a table) at one defined above the function
    that assigns it; nothing else in the files changes."""
    from ofedtool.adapt.shims import shims_dir
    mthca, hfi1 = "drivers/infiniband/hw/mthca/mthca_provider.c", "drivers/infiniband/hw/hfi1/ipoib_main.c"
    tree = _copy(src_6_12, tmp_path / "tree", [mthca, hfi1])
    before = _snapshot(tree)
    smpl = shims_dir() / "ib-port-u32-ops-5.13" / "port-u32-ops-wrapper.cocci"
    res = run_smpl(smpl, tree, [mthca, hfi1], jobs=1, cache_dir=tmp_path / "cache")
    assert sorted(f.file for f in res.files if f.changed) == sorted([mthca, hfi1])
    m = (tree / mthca).read_text()
    for op, fn in (("process_mad", "mthca_process_mad"), ("query_pkey", "mthca_query_pkey"),
                   ("query_port", "mthca_query_port")):
        w = f"ofed_shim_{fn}_mthca_dev_ops"
        assert f".{op} = {w}," in m and f".{op} = {fn}," not in m
        assert m.index(f"static int {w}(") < m.index("static const struct ib_device_ops mthca_dev_ops")
        assert "u32 port" in m[m.index(f"static int {w}("):m.index(f"return {fn}(", m.index(f"static int {w}("))]
    h = (tree / hfi1).read_text()
    assert "params->initialize_rdma_netdev = ofed_shim_hfi1_ipoib_setup_rn;" in h
    assert (h.index("static int ofed_shim_hfi1_ipoib_setup_rn(struct ib_device *dev, u32 port,")
            < h.index("int hfi1_ipoib_rn_get_params("))
    # without the wrapper and with the old name back, the file is the original
    start = h.index("static int ofed_shim_hfi1_ipoib_setup_rn(")
    end = h.index("}\n\n", start) + 3
    assert "return hfi1_ipoib_setup_rn(dev, port, netdev, param);" in h[start:end]
    restored = (h[:start] + h[end:]).replace("= ofed_shim_hfi1_ipoib_setup_rn;", "= hfi1_ipoib_setup_rn;")
    assert restored == before[hfi1].decode()


def test_driver_allocated_qp_core_rule_and_driver_shim(src_6_12, src_5_10, tmp_path):
    """Y's drivers allocate their QP and free it in destroy_qp: on X's real verbs.c the core asks
    .ofed_create_qp_legacy for the QP where no size_ib_qp says how big it is, never calls
    create_qp or kfree on it, and ends its own side (usecnt, restrack) before the driver's
    destroy_qp; on 5.10's real mthca the ops table names its create_qp that way."""
    from ofedtool.adapt.shims import shims_dir
    from ofedtool.catalog import data_dir
    verbs, mthca = f"{CORE}/verbs.c", "drivers/infiniband/hw/mthca/mthca_provider.c"
    core = _copy(src_6_12, tmp_path / "core", [verbs])
    run_smpl(data_dir("backports") / "smpl" / "create-qp-driver-allocated.cocci", core, [verbs], jobs=1)
    v = (core / verbs).read_text()
    create = v[v.index("static struct ib_qp *create_qp("):v.index("\n}\n", v.index("static struct ib_qp *create_qp("))]
    assert "qp = dev->ops.ofed_create_qp_legacy(pd, attr, udata);" in create
    assert "ret = !dev->ops.size_ib_qp ? 0 : dev->ops.create_qp(" in create
    legacy_err = create[create.index("if (ret && !dev->ops.size_ib_qp) {"):]
    assert legacy_err.index("rdma_restrack_put(&qp->res);") < legacy_err.index("dev->ops.destroy_qp(qp,")
    assert legacy_err.index("return ERR_PTR(ret);") < legacy_err.index("goto err_security;")
    helper = v[v.index("static int ofed_destroy_legacy_qp("):v.index("int ib_destroy_qp_user(")]
    assert "kfree" not in helper
    assert helper.index("ib_qp_usecnt_dec(qp);") < helper.index("rdma_restrack_commit_del(&qp->res);") \
        < helper.index("ret = qp->device->ops.destroy_qp(qp, udata);")
    user = v[v.index("int ib_destroy_qp_user("):]
    assert user.index("return ofed_destroy_legacy_qp(") < user.index("ret = qp->device->ops.destroy_qp(qp, udata);")
    drv = _copy(src_5_10, tmp_path / "drv", [mthca])
    run_smpl(shims_dir() / "ib-create-qp-driver-allocated-5.15" / "create-qp-legacy.cocci", drv, [mthca], jobs=1)
    m = (drv / mthca).read_text()
    assert ".ofed_create_qp_legacy = mthca_create_qp," in m and ".create_qp = " not in m


def test_hw_stats_and_init_port_shims_on_real_drivers_and_core(src_6_12, src_5_10, tmp_path):
    """5.10's cxgb4 gets a device and a port wrapper over its alloc_hw_stats(dev, port) (port 0 is
    the device), hfi1's init_port becomes ofed_init_port with rdmavt's check following, and X's
    real sysfs.c reads a NULL stats answer as 'none' and calls ofed_init_port with the port's
    kobject after its groups."""
    from ofedtool.adapt.shims import shims_dir
    from ofedtool.catalog import data_dir
    cxgb4, hfi1, vt = ("drivers/infiniband/hw/cxgb4/provider.c", "drivers/infiniband/hw/hfi1/verbs.c",
                       "drivers/infiniband/sw/rdmavt/vt.c")
    drv = _copy(src_5_10, tmp_path / "drv", [cxgb4, hfi1, vt])
    run_smpl(shims_dir() / "ib-alloc-hw-stats-split-5.14" / "alloc-hw-stats-split.cocci", drv, [cxgb4], jobs=1)
    c = (drv / cxgb4).read_text()
    wd, wp = "ofed_shim_c4iw_alloc_stats_device_c4iw_dev_ops", "ofed_shim_c4iw_alloc_stats_port_c4iw_dev_ops"
    assert f".alloc_hw_device_stats = {wd}," in c and f".alloc_hw_port_stats = {wp}," in c
    assert ".alloc_hw_stats =" not in c
    assert "return c4iw_alloc_stats(ibdev, 0);" in c[c.index(f"*{wd}("):c.index(f"*{wp}(")]
    res = run_smpl(shims_dir() / "ib-init-port-kobject-5.15" / "init-port-kobject.cocci", drv, [hfi1, vt], jobs=1)
    assert sorted(f.file for f in res.files if f.changed) == sorted([hfi1, vt])
    assert ".ofed_init_port = hfi1_create_port_files," in (drv / hfi1).read_text()
    assert "rdi->ibdev.ops.ofed_init_port" in (drv / vt).read_text()
    sysfs = f"{CORE}/sysfs.c"
    core = _copy(src_6_12, tmp_path / "core", [sysfs])
    before = (core / sysfs).read_text()
    for rule in ("hw-stats-null-is-none.cocci", "init-port-kobject.cocci"):
        run_smpl(data_dir("backports") / "smpl" / rule, core, [sysfs], jobs=1)
    s = (core / sysfs).read_text()
    assert before.count("return ERR_PTR(-ENOMEM);") - s.count("return ERR_PTR(-ENOMEM);") == 2
    for op in ("alloc_hw_device_stats(ibdev)", "alloc_hw_port_stats(port->ibdev, port->port_num)"):
        after = s[s.index(op):]
        assert after.index("return ERR_PTR(-EOPNOTSUPP);") < after.index("return ERR_PTR(-ENOMEM);")
    setup = " ".join(s[s.index("static struct ib_port *setup_port("):].split())
    assert setup.index("sysfs_create_groups(&p->kobj, device->ops.port_groups);") \
        < setup.index("device->ops.ofed_init_port(device, port_num, &p->kobj);") < setup.index("err_groups:")
