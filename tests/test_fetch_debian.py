"""Debian providers against Debian's real mirror, and the built tree compiles a module."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli

TRIVIAL = """#include <linux/module.h>
#include <linux/slab.h>
static int __init triv_init(void) { kfree(kmalloc(8, GFP_KERNEL)); return 0; }
module_init(triv_init);
MODULE_LICENSE("GPL");
"""


def compile_trivial(build_dir: Path, where: Path) -> str:
    from ofedtool.fetch.kbuild import inspect_tree
    tree = inspect_tree(build_dir)
    where.mkdir(parents=True, exist_ok=True)
    (where / "triv.c").write_text(TRIVIAL)
    (where / "Kbuild").write_text("obj-m := triv.o\n")
    p = subprocess.run(["make", "-C", str(build_dir), f"M={where}", f"CC={tree.cc}", "modules"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    info = subprocess.run(["modinfo", "-F", "vermagic", str(where / "triv.ko")], capture_output=True,
                          text=True, check=True).stdout
    return info.split()[0]


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.parametrize("kernel,release_prefix", [("6.1", "6.1.0-"), ("5.10", "5.10.0-"),
                                                   ("6.12", "6.12.")])
def test_headers_build_a_module(cache, kernel, release_prefix, tmp_path):
    p = run_cli("--json", "fetch", "--kernel", kernel)
    assert p.returncode == 0, p.stderr
    k = json.loads(p.stdout)["kernel"]
    assert k["release"].startswith(release_prefix)
    # The ABI came from the index, and the tree records exactly which packages made it.
    assert {pk["package"].split("-")[1] for pk in k["packages"]} >= {"headers", "kbuild"}
    assert compile_trivial(Path(k["build_dir"]), tmp_path) == k["release"]


@pytest.mark.slow
@pytest.mark.network
def test_debian_source_provider(src_6_12):
    m = json.loads((src_6_12 / "manifest.json").read_text())
    assert m["provider"] == "debian" and m["package"] == "linux-source-6.12"
    assert m["version"].startswith("6.12.") and m["package_version"].startswith(m["version"])
    assert len(m["sha256"]) == 64
    assert (src_6_12 / "drivers/infiniband/core/verbs.c").exists()
    assert (src_6_12 / "include/uapi/rdma/ib_user_verbs.h").exists()
    assert not (src_6_12 / "fs").exists() and not (src_6_12 / "mm").exists()
    n = sum(1 for _ in (src_6_12 / "drivers/infiniband").rglob("*.[ch]"))
    assert n > 500


@pytest.mark.slow
@pytest.mark.network
def test_auto_falls_back_to_debian_with_one_line(tmp_path, cache):
    # An unreachable remote: auto says so in one line and takes Debian's linux-source.
    p = run_cli("--json", "fetch", "--from", "6.12", "--git-url", f"file://{tmp_path}/none")
    assert p.returncode == 0, p.stderr
    said = [ln for ln in p.stderr.splitlines() if "falling back" in ln]
    assert len(said) == 1 and "linux-source-6.12" in said[0]
    assert json.loads(p.stdout)["source"]["provider"] == "debian"
