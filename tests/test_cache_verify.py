"""Cache entries are verified on use, not trusted: a damaged entry is found, removed with one
warning and made again (ofedtool/fetch/cache.py records, pins and seals)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO
from ofedtool.fetch.cache import Cache, seal, unseal
from ofedtool.fetch.sources import SOURCE_KIND


def _maker(calls: list, files: dict[str, bytes]):
    def create(tmp: Path) -> None:
        calls.append(tmp)
        for rel, data in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(data)
    return create


FILES = {"include/rdma/iw_cm.h": b"#define IW 1\n" * 50, "drivers/infiniband/core/device.c": b"int x;\n" * 300,
         "manifest.json": b"{}\n"}


@pytest.mark.parametrize("kind", ["tree", "content"])
@pytest.mark.parametrize("damage,found", [
    (lambda e: (e / "include/rdma/iw_cm.h").unlink(), "missing: include/rdma/iw_cm.h"),
    (lambda e: (e / "drivers/infiniband/core/device.c").write_bytes(b"in"), "changed: drivers/infiniband/core/device.c"),
    (lambda e: (e / "stray.o").write_bytes(b"x"), "not made by ofedtool: stray.o"),
])
def test_damaged_entry_is_removed_and_made_again(tmp_path, capsys, kind, damage, found):
    cache = Cache(tmp_path)
    calls: list = []
    e = cache.ensure("sources/x", _maker(calls, FILES), kind=kind)
    assert len(calls) == 1 and (tmp_path / "sources" / ".x.digest").is_file()
    damage(e)
    fresh = Cache(tmp_path)  # another run: nothing remembered in memory
    again = fresh.ensure("sources/x", _maker(calls, FILES), kind=kind)
    assert len(calls) == 2
    assert {str(p.relative_to(again)): p.read_bytes() for p in again.rglob("*") if p.is_file()} == FILES
    warn = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("warning:")]
    assert len(warn) == 1 and "cache entry sources/x is damaged" in warn[0] and found in warn[0], warn
    assert Cache(tmp_path).ensure("sources/x", _maker(calls, FILES), kind=kind) == again and len(calls) == 2


def test_content_kind_finds_a_same_size_edit(tmp_path):
    cache = Cache(tmp_path)
    e = cache.ensure("sources/x", _maker([], FILES), kind="content")
    (e / "manifest.json").write_bytes(b"[]\n")  # same size
    assert Cache(tmp_path).get("sources/x", kind="content") is None
    # list+sizes, the cheap check for big trees, cannot see it: that is what "content" is for
    e = Cache(tmp_path).ensure("headers/y", _maker([], FILES))
    (e / "manifest.json").write_bytes(b"[]\n")
    assert Cache(tmp_path).get("headers/y") == e


def test_entry_from_before_records_is_adopted_then_verified(tmp_path):
    legacy = tmp_path / "headers" / "old"
    _maker([], FILES)(legacy)
    assert Cache(tmp_path).get("headers/old") == legacy  # no record: adopted as it is
    assert (tmp_path / "headers" / ".old.digest").is_file()
    (legacy / "include/rdma/iw_cm.h").unlink()
    assert Cache(tmp_path).get("headers/old") is None and not legacy.exists()


def test_pinned_deb_is_checked_against_the_index_hash_on_every_use(tmp_path, capsys):
    deb = b"!<arch>\n" + b"x" * 4000
    sha = hashlib.sha256(deb).hexdigest()
    calls: list = []
    make = _maker(calls, {"p_1_amd64.deb": deb})
    cache = Cache(tmp_path)
    e = cache.ensure("debs/p_1", make, pins={"p_1_amd64.deb": sha})
    with open(e / "p_1_amd64.deb", "r+b") as f:  # a truncated download
        f.truncate(1000)
    e = Cache(tmp_path).ensure("debs/p_1", make, pins={"p_1_amd64.deb": sha})
    assert len(calls) == 2 and (e / "p_1_amd64.deb").read_bytes() == deb
    assert "debs/p_1 is damaged (p_1_amd64.deb: sha256" in capsys.readouterr().err
    # made before records existed and already bad: the pin catches it, no record is trusted
    legacy = tmp_path / "debs" / "q_1"
    legacy.mkdir()
    (legacy / "q_1_amd64.deb").write_bytes(deb[:100])
    assert Cache(tmp_path).get("debs/q_1", pins={"q_1_amd64.deb": sha}) is None
    # a re-download that is still wrong is an error, not a loop
    from ofedtool.errors import OfedError
    with pytest.raises(OfedError, match="sha256"):
        Cache(tmp_path).ensure("debs/q_1", _maker([], {"q_1_amd64.deb": b"bad"}), pins={"q_1_amd64.deb": sha})


def test_seal():
    blob = seal(b"changed\nint main;\n")
    assert unseal(blob) == b"changed\nint main;\n"
    assert unseal(blob[:-3]) is None and unseal(blob[:40]) is None and unseal(b"changed\nint") is None
    assert unseal(blob.replace(b"main", b"mein")) is None


@pytest.mark.slow
def test_real_source_entry_missing_a_header_is_found(src_6_12, tmp_path, capsys):
    """The user's case: include/rdma/iw_cm.h deleted inside the cached linux-source entry. Before,
    `build` passed against the target's own header; now the entry is refused and made again."""
    rel = f"sources/debian/{src_6_12.name}"
    entry = tmp_path / rel
    shutil.copytree(src_6_12, entry, symlinks=True)
    t0 = time.monotonic()
    assert Cache(tmp_path).get(rel, SOURCE_KIND) == entry  # adopted (first use of a record-less entry)
    t1 = time.monotonic()
    assert Cache(tmp_path).get(rel, SOURCE_KIND) == entry  # verified against its record
    t2 = time.monotonic()
    print(f"source entry {sum(1 for _ in entry.rglob('*'))} paths: adopt {t1 - t0:.3f}s, verify {t2 - t1:.3f}s")
    (entry / "include/rdma/iw_cm.h").unlink()
    assert Cache(tmp_path).get(rel, SOURCE_KIND) is None
    assert "missing: include/rdma/iw_cm.h" in capsys.readouterr().err


def test_truncated_smpl_result_is_recomputed(src_6_12, tmp_path, capsys):
    """The user's case: SmPL results truncated in the cocci cache gave a 2-byte device.c."""
    from ofedtool.adapt.cocci import run_smpl
    core = "drivers/infiniband/core"
    files = [f"{core}/device.c", f"{core}/uverbs_main.c"]
    smpl = tmp_path / "r.cocci"
    smpl.write_text("@@\nexpression list ES;\n@@\n- ib_register_client(ES)\n+ ib_register_client_compat(ES)\n")

    def tree(name: str) -> Path:
        for f in files:
            (tmp_path / name / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src_6_12 / f, tmp_path / name / f)
        return tmp_path / name

    first = tree("t1")
    run_smpl(smpl, first, files, jobs=1, cache_dir=tmp_path / "c")
    for entry in (tmp_path / "c" / "cocci").rglob("*"):
        if entry.is_file():
            with open(entry, "r+b") as f:
                f.truncate(len(seal(b"")) + 2)
    second = tree("t2")
    r = run_smpl(smpl, second, files, jobs=1, cache_dir=tmp_path / "c")
    assert r.cache_hits == 0
    for f in files:
        assert (second / f).read_bytes() == (first / f).read_bytes() and len((second / f).read_bytes()) > 1000
    assert "SmPL cache entry" in capsys.readouterr().err


def test_probe_results_are_sealed(tmp_path, capsys):
    from ofedtool.adapt.probes import _Cache
    c = _Cache(tmp_path / "probes" / "t.json", "t", "gcc-12")
    c.store({"a": True, "b": False})
    assert c.load() == {"a": True, "b": False}
    p = tmp_path / "probes" / "t.json"
    p.write_bytes(p.read_bytes().replace(b"false", b"true "))  # an edited answer, same size
    assert c.load() == {}
    assert "probe cache" in capsys.readouterr().err


_PROBE_RUN = textwrap.dedent("""
    import sys, time, json
    from pathlib import Path
    from ofedtool.adapt import probes
    from ofedtool.fetch.kbuild import KernelTree
    real = probes._answer
    def slow(todo, tree, jobs):
        with open(sys.argv[2], "a") as f:
            f.write("ran\\n")
        time.sleep(2)
        return real(todo, tree, jobs)
    probes._answer = slow
    build = Path(sys.argv[1])
    ps = [probes.Probe(name="HAVE_IB_REGISTER_CLIENT", kind="symbol", source="t.toml", symbol="ib_register_client"),
          probes.Probe(name="HAVE_NOPE", kind="symbol", source="t.toml", symbol="nope_not_there")]
    run = probes.run_probes(ps, KernelTree(build, "6.1.0-t", "gcc", "x86"), Path(sys.argv[3]), 1)
    print(json.dumps({"ran": run.ran, "cached": run.cached, "results": run.results}))
""")


def test_two_runs_share_one_probe_run(tmp_path):
    """Two builds of one target on a fresh cache: the second waits for the first's answers."""
    build = tmp_path / "build"
    (build / "include" / "generated").mkdir(parents=True)
    (build / "include" / "linux").mkdir()
    (build / ".config").write_text("CONFIG_X86=y\nCONFIG_X86_64=y\n")
    (build / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\n")
    (build / "Module.symvers").write_text("0x1\tib_register_client\tvmlinux\tEXPORT_SYMBOL\t\n")
    (build / "include" / "generated" / "utsrelease.h").write_text('#define UTS_RELEASE "6.1.0-t"\n')
    log = tmp_path / "answers.log"
    cmd = [sys.executable, "-c", _PROBE_RUN, str(build), str(log), str(tmp_path / "cache")]
    a = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.7)
    b = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    (ao, ae), (bo, be) = a.communicate(60), b.communicate(60)
    assert a.returncode == 0 and b.returncode == 0, (ae, be)
    assert log.read_text() == "ran\n"  # one run answered them
    ra, rb = json.loads(ao), json.loads(bo)
    assert ra["results"] == rb["results"] == {"HAVE_IB_REGISTER_CLIENT": True, "HAVE_NOPE": False}
    assert (ra["ran"], rb["ran"], rb["cached"]) == (2, 0, 2)
    assert "waiting for its results" in be
