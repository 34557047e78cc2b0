"""The engine on real code: 6.12's RDMA core + rxe + siw against Debian's 6.1 and 6.12 kernels."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import REPO, error_line, run_cli
from ofedtool.fetch.kbuild import VIEW

pytestmark = [pytest.mark.slow, pytest.mark.network]

NINE = {"ib_core", "ib_cm", "iw_cm", "rdma_cm", "ib_umad", "ib_uverbs", "rdma_ucm", "rdma_rxe", "siw"}


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_generate_is_byte_identical(tmp_path, build_tree_6_1, src_6_12):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        p = run_cli("--json", "generate", "--kernel", "6.1", "--from", "6.12", "--source", "debian",
                "--modules", "core,rxe,siw", "-o", str(out))
        assert p.returncode == 0, p.stderr
    da, db = tree_digest(a), tree_digest(b)
    assert da == db
    m = json.loads((a / "manifest.json").read_text())
    assert m["source"]["version"].startswith("6.12.") and m["target"]["release"].startswith("6.1.0-")
    assert {x["name"] for x in m["modules"]} == NINE
    assert m["probes"]["results"] and all(len(p["sha256"]) == 64 for p in m["patches"])
    # The backported include/rdma is in the tree and the Kbuild puts it ahead of the kernel's.
    assert (a / "include/rdma/ib_verbs.h").exists()
    assert "NOSTDINC_FLAGS := -I$(OFED_TOP)/compat/include" in (a / "Kbuild").read_text()
    # Re-generating over an existing output replaces it whole.
    p = run_cli("generate", "--kernel", "6.1", "--from", "6.12", "--source", "debian",
                "--modules", "core,rxe,siw", "-o", str(a))
    assert p.returncode == 0 and tree_digest(a) == da


def _broken_backports(tmp_path: Path) -> Path:
    bp = tmp_path / "backports"
    shutil.copytree(REPO / "backports", bp)
    patches = sorted((bp / "patches").rglob("*.patch"))
    assert patches, "the backport needs at least one patch for this test"
    victim = patches[0]
    lines = victim.read_text().splitlines(keepends=True)
    # Corrupt the first context line of the first hunk: the hunk can no longer match.
    for i, ln in enumerate(lines):
        if ln.startswith("@@"):
            j = next(k for k in range(i + 1, len(lines)) if lines[k].startswith(" "))
            lines[j] = " this line is not in the source\n"
            break
    victim.write_text("".join(lines))
    return victim.relative_to(bp)


def test_broken_patch_names_patch_and_hunk_and_writes_nothing(tmp_path, build_tree_6_1, src_6_12):
    rel = _broken_backports(tmp_path)
    out = tmp_path / "out"
    p = run_cli("generate", "--kernel", "6.1", "--from", "6.12", "--source", "debian",
                "--modules", "core,rxe,siw", "-o", str(out),
                env={"OFEDTOOL_BACKPORTS": str(tmp_path / "backports")})
    assert p.returncode != 0
    err = error_line(p.stderr)
    assert str(rel) in err and "hunk #1" in err
    assert not out.exists()
    assert not [x for x in tmp_path.iterdir() if x.name.startswith(".out.")]


def _build(kernel: str, out: Path, env: dict | None = None) -> dict:
    p = run_cli("--json", "build", "--kernel", kernel, "--from", "6.12", "--source", "debian",
                "--modules", "core,rxe,siw", "-o", str(out), env=env)
    res = json.loads(p.stdout)
    assert p.returncode == 0, p.stderr[-3000:] + "\n" + "\n".join(
        f"{d['kind']} {d['file']}:{d['line']} {d['msg']}" for d in res["build"]["diagnostics"][:30])
    return res


def _ccache_results(statslog: Path) -> dict[str, str]:
    """source → hit or miss, from ccache's stats_log (one '# <source>' block per compile)."""
    out, src = {}, None
    for line in statslog.read_text().splitlines():
        if line.startswith("# "):
            src = line[2:]
        elif src and line in ("direct_cache_hit", "preprocessed_cache_hit", "cache_miss"):
            out[src] = "miss" if line == "cache_miss" else "hit"
    return out


def test_build_6_12_on_debian_6_1(tmp_path, build_tree_6_1, built_tree_6_1):
    # The same inputs as the session's built_tree_6_1, generated into another directory: with
    # ccache (installed by scripts/bootstrap), every compile is a hit on that tree's entries.
    stats = tmp_path / "ccache-stats"
    res = _build("6.1", tmp_path / "out", env={"CCACHE_STATSLOG": str(stats)})
    if shutil.which("ccache"):
        got = _ccache_results(stats)
        missed = sorted(s for s, r in got.items() if r == "miss")
        assert len(got) >= 50 and missed == [], missed[:10]
    b = res["build"]
    assert b["counts"]["errors"] == 0 and b["counts"]["undefined"] == 0 and b["counts"]["hazards"] == 0
    mods = {m["name"]: m for m in b["modules"]}
    assert set(mods) == NINE
    for m in mods.values():
        assert m["ko"] and Path(m["ko"]).exists()
        assert m["vermagic"].split()[0] == res["kernel"]
    # compat is really in use on 6.1: some features are absent and an SmPL rule ran.
    man = json.loads((tmp_path / "out/manifest.json").read_text())
    assert man["compat"]["active"]
    assert any(s["active"] and s["changed"] for s in man["smpl"])
    # Our struct ib_device is not the target's: the ABI gate's redirects are on, and it ran clean.
    assert man["probes"]["results"]["OFED_CORE_RDMA_HEADERS_ARE_TARGETS"] is False
    assert "OFED_CORE_RDMA_HEADERS_ARE_TARGETS" in man["compat"]["active"]
    assert b["counts"]["abi"] == 0 and b["abi"]["compared"] and b["abi"]["hazards"] == [], b["abi"]
    # No kernel include/rdma header was read: the .d files name only ours. (Paths are relative
    # to where kbuild runs the compiler, the tree's view of the kernel build dir, when ccache
    # rewrote them.)
    deps = "".join(p.read_text() for p in (tmp_path / "out").rglob(".*.o.cmd"))
    cwd = tmp_path / "out" / VIEW
    rdma = {os.path.normpath(os.path.join(cwd, d)) for d in deps.split() if "/include/rdma/" in d}
    assert rdma
    assert [d for d in rdma if not d.startswith(str(tmp_path))] == []


def test_build_6_12_on_6_12_uses_no_compat(tmp_path, build_tree_6_12):
    res = _build("6.12", tmp_path / "out")
    man = json.loads((tmp_path / "out/manifest.json").read_text())
    assert man["compat"]["active"] == [], "a compat item stayed on where the kernel has the API"
    # X → X: our include/rdma is the target's, so code we do not rebuild may read our structures:
    # the gate compares the same imports the redirects avoid elsewhere, and they match.
    assert man["probes"]["results"]["OFED_CORE_RDMA_HEADERS_ARE_TARGETS"] is True
    abi = res["build"]["abi"]
    assert "__dynamic_ibdev_dbg" in abi["compared"] and abi["hazards"] == [], abi
    # a rule written for a newer X may run, but must find nothing to change in 6.12's code
    assert not [s["file"] for s in man["smpl"] if s.get("changed")]
    assert {m["name"] for m in res["build"]["modules"] if m["ok"]} == NINE


def test_readme_main_job_tree_keeps_xs_code_out_of_the_shims(tmp_path, build_tree_6_1, src_6_12):
    """The README's main job, generated (the default stack onto 6.1, X's mlx5 carried there): the
    verb shims rewrite the target's drivers and never X's code beside them. X's mlx5_ib once got
    the shims' create_cq wrappers and the whole build failed in it."""
    out = tmp_path / "tree"
    p = run_cli("--json", "generate", "--kernel", "6.1", "--from", "6.12", "--source", "debian", "-o", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    m = json.loads((out / "manifest.json").read_text())
    rules = {r["name"]: r["rule"] for r in m["rules"]}
    assert rules["mlx5"] == "upstream", m["rules"]
    target_dirs = {x["dir"] for x in m["modules"] if x["rule"] == "target"}
    changed = [f for row in m["shims"] for f in row.get("changed", [])]
    assert changed and all(any(f.startswith(d + "/") for d in target_dirs) for f in changed), changed
    assert "ofed_shim_" in (out / "drivers/infiniband/hw/mlx4/main.c").read_text()
    assert not [f for f in (out / "drivers/infiniband/hw/mlx5").glob("*.c") if "ofed_shim_" in f.read_text()]
