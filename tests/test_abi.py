"""The ABI gate (ofedtool/build/abi.py, exports.py): imports from code we do not rebuild, compared by
genksyms CRC over our headers and the target's.

The quick tests run the pure parts on small made-up inputs; the gate on real kernel code runs in
tests/test_ulps.py (a planted foreign importer on a real 6.1 build) and in every build."""

from __future__ import annotations

from pathlib import Path

from ofedtool.build.abi import compile_args, differing_types, layout_types, pass_args
from ofedtool.fetch.exports import local_closure, reaching, resolve_include

INCLUDES = {
    "block/blk-mq-rdma.c": [("<", "linux/blk-mq.h"), ("<", "linux/blk-mq-rdma.h"), ("<", "rdma/ib_verbs.h")],
    "block/blk-mq.c": [("<", "linux/blk-mq.h"), ('"', "blk-mq.h")],
    "block/blk-mq.h": [('"', "blk-stat.h")],
    "block/blk-stat.h": [],
    "include/linux/blk-mq.h": [],
    "include/linux/blk-mq-rdma.h": [],
    "include/rdma/ib_verbs.h": [("<", "linux/dma-mapping.h"), ("<", "uapi/rdma/ib_user_verbs.h")],
    "include/uapi/rdma/ib_user_verbs.h": [],
    "include/linux/dma-mapping.h": [],
    "lib/dynamic_debug.c": [("<", "linux/dynamic_debug.h")],
    "include/linux/dynamic_debug.h": [("<", "linux/netdevice.h")],
    "include/linux/netdevice.h": [("<", "rdma/ib_verbs.h")],  # as if a shared header pulled RDMA in
    "mm/slub.c": [("<", "linux/dma-mapping.h")],
}
ROOTS = ("include/rdma", "include/uapi/rdma")


def test_include_resolution_prefers_the_including_files_directory():
    assert resolve_include("block/blk-mq.c", '"', "blk-mq.h", INCLUDES, "x86") == "block/blk-mq.h"
    assert resolve_include("block/blk-mq.c", "<", "linux/blk-mq.h", INCLUDES, "x86") == "include/linux/blk-mq.h"
    # <uapi/...> and <rdma/...> through include/ and include/uapi/
    assert resolve_include("x.c", "<", "rdma/ib_user_verbs.h", INCLUDES, "x86") == "include/uapi/rdma/ib_user_verbs.h"
    assert resolve_include("x.c", "<", "linux/nope.h", INCLUDES, "x86") is None


def test_only_files_that_see_an_rdma_header_are_candidates():
    seen = reaching(INCLUDES, ROOTS, "x86")
    assert {"block/blk-mq-rdma.c", "lib/dynamic_debug.c", "include/linux/netdevice.h"} <= seen
    # transitively: dynamic_debug.c → dynamic_debug.h → netdevice.h → rdma/ib_verbs.h
    assert "mm/slub.c" not in seen and "block/blk-mq.c" not in seen


def test_local_closure_is_what_the_headers_package_lacks():
    assert local_closure("block/blk-mq.c", INCLUDES, "x86") == {"block/blk-mq.c", "block/blk-mq.h",
                                                                "block/blk-stat.h"}
    assert local_closure("block/blk-mq-rdma.c", INCLUDES, "x86") == {"block/blk-mq-rdma.c"}


def test_differing_types_names_the_nearest_changed_structure_first():
    target = {"blk_mq_rdma_map_queues": "void blk_mq_rdma_map_queues ( s#blk_mq_queue_map * , s#ib_device * , int )",
              "s#blk_mq_queue_map": "struct blk_mq_queue_map { unsigned int * mq_map ; }",
              "s#ib_device": "struct ib_device { s#device dev ; s#ib_device_ops ops ; }",
              "s#ib_device_ops": "struct ib_device_ops { int ( * query_port ) ( ) ; }",
              "s#device": "struct device { int x ; }"}
    ours = dict(target, **{"s#ib_device": "struct ib_device { s#ib_device_ops ops ; s#device dev ; }",
                           "s#ib_device_ops": "struct ib_device_ops { int ( * query_port ) ( ) ; int y ; }"})
    assert differing_types("blk_mq_rdma_map_queues", ours, target) == ("struct ib_device", "struct ib_device_ops")
    assert differing_types("blk_mq_rdma_map_queues", target, target) == ()


def test_compile_args_from_a_kbuild_cmd_file(tmp_path):
    tree = tmp_path / "tree"
    d = tree / "drivers" / "infiniband" / "core"
    d.mkdir(parents=True)
    (d / ".device.o.cmd").write_text(
        f"savedcmd_{d}/device.o := ccache gcc-12 -Wp,-MMD,{d}/.device.o.d -I{tree}/compat/include "
        f"-I{tree}/include -I{tree}/include/uapi -nostdinc -I/k/include -include /k/include/linux/kconfig.h "
        f"-D__KERNEL__ -std=gnu89 -std=gnu11 -DMODULE -I{d} -DKBUILD_BASENAME='\"device\"' "
        f"-DKBUILD_MODNAME='\"ib_core\"' -D__KBUILD_MODNAME=kmod_ib_core -c -o {d}/device.o {d}/device.c "
        f"-include {tree}/compat/compat.h ; ./tools/objtool/objtool --hacks=jump_label {d}/device.o\n"
        "source_x := y\n")
    args = compile_args(tree)
    assert args[0] == "gcc-12" and "-c" not in args and not any(a.endswith(".c") for a in args)
    assert not any(a.startswith(("-DKBUILD_", "-D__KBUILD", "-Wp,")) or "objtool" in a for a in args)
    target = pass_args(args, tree, ours=False, module=False)
    assert not any(str(tree) in a for a in target), target
    assert "-DMODULE" not in target and target.count("-std=gnu89") == 1 and "-std=gnu11" not in target
    ours = pass_args(args, tree, ours=True, module=True)
    # ours: our include dirs ahead of the kernel's (as NOSTDINC_FLAGS puts them), compat.h forced in
    assert ours[0] == "gcc-12" and ours[1:4] == [f"-I{tree}/compat/include", f"-I{tree}/include",
                                                 f"-I{tree}/include/uapi"]
    assert ours.index(f"-I{tree}/include") < ours.index("-I/k/include")
    assert ours[-2:] == ["-include", str(tree / "compat" / "compat.h")] and "-DMODULE" in ours
    assert f"-I{d}" not in ours


def test_compile_args_need_a_compiled_object(tmp_path):
    import pytest

    from ofedtool.errors import OfedError
    (tmp_path / "x").mkdir()
    with pytest.raises(OfedError, match="no compiled object"):
        compile_args(Path(tmp_path))


def test_layout_types_are_what_the_prototype_names_and_what_that_embeds():
    types = {
        "blk_mq_rdma_map_queues": "void blk_mq_rdma_map_queues ( s#blk_mq_queue_map * , s#ib_device * , int )",
        "s#ib_device": "struct ib_device { s#device dev ; s#ib_device_ops ops ; s#ib_port_data * port_data ; "
                       "union { s#rcu_head rcu ; s#list_head list ; } ; }",
        "s#ib_device_ops": "struct ib_device_ops { int ( * query_port ) ( s#ib_device * , s#ib_port_attr * ) ; }",
        "s#blk_mq_queue_map": "struct blk_mq_queue_map { unsigned int * mq_map ; unsigned int nr_queues ; }",
        # rds core: its transport's callbacks name RDMA/CM types, which rds core never reads
        "rds_conn_create": "s#rds_connection * rds_conn_create ( s#net * , t#__be32 , s#rds_transport * )",
        "s#rds_transport": "struct rds_transport { int ( * cm_handle_connect ) ( s#rdma_cm_id * , "
                           "s#rdma_cm_event * , t#bool ) ; s#list_head t_item ; }",
        "t#__be32": "typedef t#__u32 __be32",
        "t#__u32": "typedef unsigned int __u32",
    }
    got = layout_types("blk_mq_rdma_map_queues", types)
    # what it is handed, and what ib_device embeds (the anonymous union's members too) ...
    assert {"s#blk_mq_queue_map", "s#ib_device", "s#device", "s#ib_device_ops", "s#rcu_head", "s#list_head"} <= got
    # ... but not what sits behind a pointer member or in a callback's signature
    assert not {"s#ib_port_data", "s#ib_port_attr"} & got
    rds = layout_types("rds_conn_create", types)
    assert {"s#rds_transport", "s#list_head", "t#__be32", "t#__u32", "s#rds_connection"} <= rds
    assert not {"s#rdma_cm_id", "s#rdma_cm_event"} & rds


# ---------------------------------------------------------------- the exporters' Makefile flags

MLX5_CORE_MAKEFILE = """\
subdir-ccflags-y += -I$(src)
obj-$(CONFIG_MLX5_CORE) += mlx5_core.o
mlx5_core-y :=\tmain.o cmd.o \\
\t\tipoib/ipoib.o
mlx5_core-$(CONFIG_PTP_1588_CLOCK) += lib/clock.o
ccflags-$(CONFIG_MLX5_DEBUG) += -DMLX5_DEBUG_X
CFLAGS_cmd.o := -I $(srctree)/$(src)/diag -DTRACE_X=1 $(call cc-option,-Wno-foo)
"""


def test_exporter_flags_come_from_the_makefile_that_builds_it():
    """mlx5_core's one Makefile builds ipoib/ipoib.o and lib/clock.o from its own directory:
    those files get its -I$(src), not a Makefile of their own subdirectory (steering/ has one
    that builds nothing); a ccflags-$(CONFIG_X) holds only for a kernel configured with X."""
    from ofedtool.fetch.exports import file_flags
    core = "drivers/net/ethernet/mellanox/mlx5/core"
    makefiles = {core: MLX5_CORE_MAKEFILE, f"{core}/steering": "subdir-ccflags-y += -I$(src)/..\n",
                 "drivers": "obj-y += net/\n"}
    inc = ("-I", core, "")
    assert file_flags(f"{core}/ipoib/ipoib.c", makefiles) == (inc, ("-D", "MLX5_DEBUG_X", "CONFIG_MLX5_DEBUG"))
    assert file_flags(f"{core}/lib/clock.c", makefiles) == file_flags(f"{core}/ipoib/ipoib.c", makefiles)
    # CFLAGS_<obj>.o: split -I, $(srctree)/$(src), a make function left out
    assert file_flags(f"{core}/cmd.c", makefiles)[-2:] == (("-I", f"{core}/diag", ""), ("-D", "TRACE_X=1", ""))
    # a header takes the flags of the nearest Makefile above it
    assert file_flags(f"{core}/steering/fs_dr.h", makefiles)[0] == ("-I", core, "")


def test_index_cflags_follow_the_targets_config(tmp_path):
    from ofedtool.fetch.exports import SourceIndex
    core = "drivers/net/ethernet/mellanox/mlx5/core"
    idx = SourceIndex(tmp_path, "t", {}, frozenset({f"{core}/main.c"}),
                      {f"{core}/main.c": (("-I", core, ""), ("-D", "MLX5_DEBUG_X", "CONFIG_MLX5_DEBUG"))})
    assert idx.cflags(f"{core}/main.c", {}) == [f"-I{tmp_path}/files/{core}"]
    assert idx.cflags(f"{core}/main.c", {"CONFIG_MLX5_DEBUG": "y"})[-1] == "-DMLX5_DEBUG_X"


def test_makefile_include_dirs_resolve_and_bring_their_headers():
    """lib/clock.c's "mlx5_core.h" is found through -I$(src); every header under such a dir is
    local (a trace header is included by macro, TRACE_INCLUDE_PATH, which no #include names)."""
    core = "drivers/net/ethernet/mellanox/mlx5/core"
    includes = {f"{core}/lib/clock.c": [('"', "mlx5_core.h")], f"{core}/mlx5_core.h": [("<", "rdma/ib_verbs.h")],
                f"{core}/diag/cmd_tracepoint.h": [], "include/rdma/ib_verbs.h": []}
    assert f"{core}/lib/clock.c" not in reaching(includes, ROOTS, "x86")
    assert f"{core}/lib/clock.c" in reaching(includes, ROOTS, "x86", {f"{core}/lib/clock.c": (core,)})
    assert local_closure(f"{core}/lib/clock.c", includes, "x86", (core,)) == {
        f"{core}/lib/clock.c", f"{core}/mlx5_core.h", f"{core}/diag/cmd_tracepoint.h"}


# ---------------------------------------------------------------- redirects that hand no RDMA structure

def _redirect_tree(tmp_path: Path, have: bool) -> Path:
    tree = tmp_path / ("on" if have else "off")
    (tree / "compat" / "include" / "net").mkdir(parents=True)
    (tree / "compat" / "config.h").write_text("#define HAVE_X 1\n" if have else "")
    (tree / "compat" / "compat.h").write_text('#include "config.h"\n')
    (tree / "compat" / "include" / "net" / "x.h").write_text(
        "#ifdef HAVE_X\n#ifndef __GENKSYMS__\n#define OFED_ABI_REDIRECTED_x_set \"no ib_device\"\n#endif\n#endif\n")
    return tree


def test_redirects_are_read_under_the_trees_own_config(tmp_path):
    """The gate takes a differing import as redirected only where the tree's compat header
    defines OFED_ABI_REDIRECTED_<symbol> under its config.h (off: X -> X or the probe missed)."""
    from ofedtool.build.abi import redirected
    on = _redirect_tree(tmp_path, True)
    assert redirected(on, ["gcc"], tmp_path) == {"x_set": "no ib_device"}
    assert redirected(_redirect_tree(tmp_path, False), ["gcc"], tmp_path) == {}
    # a header that cannot be preprocessed shields nothing
    (on / "compat" / "include" / "net" / "x.h").write_text('#include "nope.h"\n#define OFED_ABI_REDIRECTED_x_set 1\n')
    assert redirected(on, ["gcc"], tmp_path) == {}


def test_headers_are_the_targets_when_only_guarded_hunks_differ(tmp_path):
    """X → X with a patch to include/rdma (hunks under #ifndef HAVE_*, off where the target has
    the API): our copy's bytes differ from the target's, but X's own headers are the target's,
    so OFED_CORE_RDMA_HEADERS_ARE_TARGETS holds and no redirect switches on. X's headers differing
    from the target's (another X) still make it false."""
    from ofedtool.adapt.shims import load_core_probes, run_core_probes
    probe = [p for p in load_core_probes() if p.name == "OFED_CORE_RDMA_HEADERS_ARE_TARGETS"]
    x, tree, target = tmp_path / "x", tmp_path / "tree", tmp_path / "target"
    for d in (x, tree, target):
        (d / "include" / "rdma").mkdir(parents=True)
    verbs = "struct ib_device_ops {\n\tint (*create_qp)(struct ib_qp *qp);\n};\n"
    for d in (x, target):
        (d / "include" / "rdma" / "ib_verbs.h").write_text(verbs)
    (tree / "include" / "rdma" / "ib_verbs.h").write_text(verbs.replace(
        "};", "#ifndef HAVE_CREATE_QP_CORE_ALLOCATED\n\tvoid *ofed_create_qp_legacy;\n#endif\n};"))
    name = "OFED_CORE_RDMA_HEADERS_ARE_TARGETS"
    assert run_core_probes(tree, probe, target, pristine=x) == {name: True}
    assert run_core_probes(tree, probe, target) == {name: False}   # the patched bytes alone would say no
    (x / "include" / "rdma" / "ib_verbs.h").write_text(verbs.replace("qp)", "qp, int flags)"))
    assert run_core_probes(tree, probe, target, pristine=x) == {name: False}
