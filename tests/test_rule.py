"""--rule NAME=upstream|target: which rule builds a driver both rules can build (mlx5), offline
and in seconds, on the real catalog (backports/modules.toml) and a fake kernel build tree
(tests/fakekernel.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import fakekernel
from conftest import error_line, run_cli
from ofedtool import pipeline
from ofedtool.adapt.generate import _copy_sources
from ofedtool.errors import OfedError
from ofedtool.fetch.headers import BuildTree
from ofedtool.fetch.sources import SourceTree
from ofedtool.modules import choose_rules, load_catalog, parse_rules, select


def _carried() -> tuple[str, str]:
    """One pair the catalog carries X's mlx5 onto, as the data says (not written here)."""
    c = load_catalog().choices["mlx5"]
    series = sorted(c.carried)[0]
    return series, c.carried[series][0]


def _rules_of(cat, spec="mlx5"):
    return {m.name: m.rule for m in select(cat, spec)}


def test_parse_rules():
    assert parse_rules("mlx5=target") == (("mlx5", "target"),)
    assert parse_rules(" mlx5 = upstream ,") == (("mlx5", "upstream"),)
    assert parse_rules("") == ()
    for bad in ("mlx5", "mlx5=inbox", "=target", "mlx5=upstream,mlx5=target"):
        with pytest.raises(OfedError, match="--rule"):
            parse_rules(bad)


def test_default_is_upstream_where_carried():
    series, target = _carried()
    cat, chosen = choose_rules(load_catalog(), (), series, target)
    assert _rules_of(cat) == {"mlx5_core": "upstream", "mlxfw": "upstream", "mlx5_ib": "upstream",
                              "ib_core": "upstream", "ib_uverbs": "upstream", "ib_cm": "upstream",
                              "iw_cm": "upstream", "ib_uverbs_support": "upstream"}
    mlx5 = next(r for r in chosen if r.name == "mlx5")
    assert mlx5.rule == "upstream" and not mlx5.explicit and "carry" in mlx5.why
    # X's mlx5_ib needs X's mlx5_core; the target variant's ODP switch-off is not X's
    ib = cat.modules["mlx5_ib"]
    assert "mlx5_core" in ib.depends and "INFINIBAND_ON_DEMAND_PAGING" not in {o.config for o in ib.off}
    # what X's mlx5_ib switches off follows X's mlx5_core (its eswitch), under the same conditions
    core_off = {o.config: o.when for o in cat.modules["mlx5_core"].off}
    assert all(core_off.get(o.config) == o.when for o in ib.off)
    assert cat.modules["mlx5_core"].includes == ("include/linux/mlx5",)


def test_default_stays_target_where_not_carried_and_says_why():
    cat, chosen = choose_rules(load_catalog(), (), "6.12", "debian-11")
    rules = _rules_of(cat)
    assert rules["mlx5_ib"] == "target" and "mlx5_core" not in rules and "mlxfw" not in rules
    assert cat.modules["mlx5_core"].rule == "inbox"   # the distro's, which Y's mlx5_ib binds to
    assert [o.config for o in cat.modules["mlx5_ib"].off] == ["INFINIBAND_ON_DEMAND_PAGING"]
    mlx5 = next(r for r in chosen if r.name == "mlx5")
    assert mlx5.rule == "target" and not mlx5.explicit
    assert "do not carry" in mlx5.why and "6.12 → debian-11" in mlx5.why


def test_explicit_target_on_a_carried_pair():
    series, target = _carried()
    cat, chosen = choose_rules(load_catalog(), parse_rules("mlx5=target"), series, target)
    assert _rules_of(cat)["mlx5_ib"] == "target" and "mlx5_core" not in _rules_of(cat)
    assert next(r for r in chosen if r.name == "mlx5").explicit


@pytest.mark.parametrize("rule, says", [
    ("mlx5=upstream", "the rules do not carry X's mlx5 from 6.12 → debian-11 yet"),
    ("mlx5_ib=upstream", "mlx5_ib is chosen with its set, --rule mlx5=upstream|target"),
    ("mlx5_core=target", "mlx5_core is chosen with its set"),
    ("rdma_rxe=target", "rdma_rxe is built only under rule upstream"),
    ("nope=target", "--rule nope: no module or choice of that name"),
])
def test_refused_choices_are_one_line(rule, says):
    with pytest.raises(OfedError) as e:
        choose_rules(load_catalog(), parse_rules(rule), "6.12", "debian-11")
    assert says in str(e.value) and "\n" not in str(e.value)


def test_the_choice_is_part_of_the_selection_and_the_child_argv():
    from ofedtool.cli import parser
    from ofedtool.commands.options import selection
    args = parser().parse_args(["build", "--kernel", "debian-13", "--from", "6.12", "--rule", "mlx5=target"])
    sel = selection(args)
    assert sel.rules == (("mlx5", "target"),)
    assert selection(parser().parse_args(sel.argv() and ["build", *sel.argv()])) == sel


def test_cli_refuses_a_bad_rule_in_one_line(tmp_path):
    p = run_cli("--cache-dir", str(tmp_path / "cache"), "--offline", "build", "--kernel", "debian-13",
                "--from", "6.12", "--rule", "mlx5=inbox", "-o", str(tmp_path / "o"), cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert error_line(p.stderr).startswith("ofedtool: error: --rule 'mlx5=inbox'")
    assert not (tmp_path / "o").exists()


@pytest.fixture
def fake_kernel(tmp_path) -> Path:
    return fakekernel.make(tmp_path / "k")


def test_upstream_mlx5_is_built_only_where_the_target_builds_it(fake_kernel, tmp_path):
    series, target = _carried()
    cat, _ = choose_rules(load_catalog(), (), series, target)
    mods = select(cat, "mlx5")
    keep, skipped = pipeline.buildable(mods, BuildTree(fake_kernel, fakekernel.RELEASE))
    # the fake target has the RDMA core but no mlx5: X's mlx5_core never adds a driver
    assert set(skipped) == {"mlx5_core", "mlxfw", "mlx5_ib"}
    cfg = fake_kernel / ".config"
    cfg.write_text(cfg.read_text() + "CONFIG_MLX5_CORE=m\nCONFIG_MLXFW=m\nCONFIG_MLX5_INFINIBAND=m\n")
    keep, skipped = pipeline.buildable(mods, BuildTree(fake_kernel, fakekernel.RELEASE))
    assert skipped == {} and {"mlx5_core", "mlxfw", "mlx5_ib"} <= {m.name for m in keep}


def _source(root: Path, version: str, mark: str) -> SourceTree:
    for rel in ("drivers/net/ethernet/mellanox/mlx5/core/main.c", "drivers/net/ethernet/mellanox/mlxfw/mlxfw.h",
                "drivers/infiniband/hw/mlx5/main.c", "drivers/infiniband/core/device.c",
                "include/linux/mlx5/driver.h", "include/rdma/ib_verbs.h"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"/* {mark} */\n")
    (root / "drivers/infiniband/hw/mlx5/Makefile").write_text("obj-m += mlx5_ib.o\n")
    return SourceTree(root, version, "debian", {})


@pytest.mark.parametrize("rule", ["upstream", "target"])
def test_mlx5_headers_follow_the_rule(rule, tmp_path):
    """X's include/linux/mlx5 shadows the target's only for X's mlx5; the target's mlx5_ib keeps
    the target's own (the distro's mlx5_core it binds to has them)."""
    series, target = _carried()
    cat, _ = choose_rules(load_catalog(), parse_rules(f"mlx5={rule}"), series, target)
    x, y = _source(tmp_path / "x", "9.9.0", "X"), _source(tmp_path / "y", "9.8.0", "Y")
    out = tmp_path / "tree"
    _copy_sources(x, y, cat, select(cat, "mlx5"), out)
    ib = (out / "drivers/infiniband/hw/mlx5/main.c").read_text()
    if rule == "upstream":
        assert ib == "/* X */\n" and (out / "include/linux/mlx5/driver.h").read_text() == "/* X */\n"
        assert (out / "drivers/net/ethernet/mellanox/mlx5/core/main.c").is_file()
    else:
        assert ib == "/* Y */\n" and not (out / "include/linux/mlx5").exists()
        assert not (out / "drivers/net/ethernet/mellanox").exists()


def test_a_run_time_off_is_reported_and_guards_the_same_code(tmp_path):
    """An off with a `feature` (AF_XDP zero-copy in X's mlx5 without xdp_buff_xsk.cb) is no
    Kconfig symbol: it is reported, empties nothing, and names the probe mlx5's refusal is under."""
    from ofedtool.adapt.generate import _switch_off
    from ofedtool.catalog import data_dir
    core = load_catalog().modules["mlx5_core"]
    (tmp_path / "a" / core.dir).mkdir(parents=True)
    on_6_1 = {"HAVE_XSK_BUFF_CB": False, "HAVE_DEVLINK_PORT_OPS": True, "HAVE_IRQ_CPU_RMAP_REMOVE": True}
    rows = _switch_off(tmp_path / "a", on_6_1, [core])
    assert [(r["module"], r.get("feature"), r.get("config")) for r in rows] == [
        ("mlx5_core", "AF_XDP zero-copy", None)]
    assert not [p.name for p in (tmp_path / "a" / core.dir).iterdir()]
    xsk = next(o for o in core.off if o.feature)
    patch = (data_dir("backports") / "patches" / core.dir / "en/xsk/pool.c.patch").read_text()
    guard = [w.lstrip("!") for w in xsk.when]
    assert [f"#ifndef {g}" for g in guard] == [ln[1:] for ln in patch.splitlines() if ln.startswith("+#ifndef")]
    assert "+\t\treturn -EOPNOTSUPP;" in patch
    # where the buffers have the area it is not reported; a Kconfig off beside it still empties its symbol
    (tmp_path / "b" / core.dir).mkdir(parents=True)
    rows = _switch_off(tmp_path / "b", {**on_6_1, "HAVE_XSK_BUFF_CB": True, "HAVE_DEVLINK_PORT_OPS": False}, [core])
    assert not [r for r in rows if "feature" in r] and "CONFIG_MLX5_ESWITCH" in {r["config"] for r in rows}
    assert "CONFIG_MLX5_ESWITCH :=\n" in (tmp_path / "b" / core.dir / "Kbuild").read_text()


# ---------------------------------------------------------------- DKMS variants keep the tree's choices


def _reference(target: str, rules: tuple[tuple[str, str], ...], x: str = "6.12"):
    """The manifest fields release_variants reads: the rule choices generate recorded for target."""
    from types import SimpleNamespace
    _, chosen = choose_rules(load_catalog(), rules, x, target)
    return SimpleNamespace(source_version=f"{x}.1", rules=[c.as_dict() for c in chosen])


@pytest.mark.parametrize("x, reference, given", [
    ("6.12", "debian-12-6.12", ()), ("6.12", "debian-12-6.12", (("mlx5", "upstream"),)),
    ("6.12", "debian-12-6.12", (("mlx5", "target"),)), ("6.12", "debian-12", ()), ("7.3", "debian-12-6.12", ())])
def test_siblings_get_the_trees_rule_choices(x, reference, given):
    """release_variants generates each sibling with the reference's choices; one the rules do not
    carry onto a sibling (X's mlx5 onto a 6.1 flavour the rules have not reached) gives that
    sibling no variant, said why, instead of failing the package; every sibling it does generate
    resolves its rules."""
    from ofedtool.catalog import release_targets
    m = _reference(reference, given, x)
    siblings = [t.id for t in release_targets(reference)[1:]]
    rules, cannot = pipeline.sibling_rules(m, siblings)
    mlx5 = next(r for r in m.rules if r["name"] == "mlx5")
    assert rules == (("mlx5", mlx5["rule"]),)
    carried = load_catalog().choices["mlx5"].carried.get(x, [])
    if mlx5["rule"] == "upstream":
        assert sorted(cannot) == sorted(t for t in siblings if t not in carried)
        assert all("mlx5=upstream" in why and "carried" in why for why in cannot.values())
    else:
        assert cannot == {}
    for t in siblings:
        if t not in cannot:
            cat, chosen = choose_rules(load_catalog(), rules, x, t)   # what generate runs first
            assert next(c for c in chosen if c.name == "mlx5").rule == mlx5["rule"]
            assert cat.modules["mlx5_ib"].rule == mlx5["rule"]


# ---------------------------------------------------------------- verb shims touch only the target's code


def test_shim_smpl_rewrites_only_target_rule_directories(tmp_path):
    """The default stack onto 6.1 has Y's mlx4_ib (target) beside X's mlx5_ib (upstream, carried)
    in drivers/infiniband/hw/: a provider shim's globs match both, and it must rewrite only Y's.
    (It once wrapped X's create_cq, which already takes the attrs, and mlx5_ib failed to build.)"""
    import fnmatch
    from ofedtool.adapt.generate import target_files
    from ofedtool.adapt.shims import load_shims
    cat, _ = choose_rules(load_catalog(), (), "6.12", "debian-12")
    mods = select(cat, "stack")
    assert cat.modules["mlx5_ib"].rule == "upstream" and cat.modules["mlx4_ib"].rule == "target"
    for rel in ("drivers/infiniband/hw/mlx5/main.c", "drivers/infiniband/hw/mlx4/main.c",
                "drivers/infiniband/sw/rdmavt/qp.c", "drivers/infiniband/sw/rxe/rxe_verbs.c",
                "drivers/infiniband/core/verbs.c", "net/rds/ib.c"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("/* */\n")
    shim = next(s for s in load_shims() if s.name == "ib-create-cq-attrs-6.10")

    def shim_files(modules):
        return [f for f in target_files(tmp_path, modules) if any(fnmatch.fnmatchcase(f, g) for g in shim.smpl_files)]
    assert shim_files(mods) == ["drivers/infiniband/hw/mlx4/main.c", "drivers/infiniband/sw/rdmavt/qp.c"]
    target_mlx5, _ = choose_rules(load_catalog(), (("mlx5", "target"),), "6.12", "debian-12")
    assert "drivers/infiniband/hw/mlx5/main.c" in shim_files(select(target_mlx5, "stack"))
