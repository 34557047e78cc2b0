import pytest

from ofedtool.catalog import load_sources, load_targets, parse_from, resolve_target
from ofedtool.errors import OfedError


def test_catalog_has_required_targets():
    ids = {t.id for t in load_targets()}
    assert {"debian-11", "debian-12", "debian-12-cloud", "debian-12-rt", "debian-12-6.12", "debian-13"} <= ids
    assert {"5.10", "6.1", "6.12", "7.2", "7.3"} <= set(load_sources())


def test_only_debian_13_declares_its_own_toolchain():
    # Its kernel's gcc-14 is not on a Debian 12 host; the others' compilers (or a near one) are.
    declared = {t.id: t.toolchain for t in load_targets() if t.toolchain}
    assert declared == {"debian-13": {"provider": "debian", "packages": ["gcc-14", "binutils"]}}


@pytest.mark.parametrize("query,expected", [
    ("6.1", "debian-12"), ("5.10", "debian-11"), ("6.12", "debian-12-6.12"), ("trixie", "debian-13"),
    ("debian-12-cloud", "debian-12-cloud"), ("debian-12", "debian-12"), ("6.1-rt", "debian-12-rt"),
])
def test_resolve_target(query, expected):
    assert resolve_target(query).id == expected


def test_ambiguous_kernel_lists_candidates():
    with pytest.raises(OfedError) as e:
        resolve_target("debian")
    msg = str(e.value)
    assert "ambiguous" in msg and "debian-12-cloud" in msg and "debian-11" in msg and "\n" not in msg


def test_unknown_kernel_names_it():
    with pytest.raises(OfedError, match="unknown kernel '4.4'"):
        resolve_target("4.4")


@pytest.mark.parametrize("q,sub,tag", [("6.12", None, None), ("6.12.117", 117, None), ("v6.12", 0, "v6.12")])
def test_parse_from(q, sub, tag):
    s = parse_from(q)
    assert (s.series, s.sublevel, s.exact_tag) == ("6.12", sub, tag)


@pytest.mark.parametrize("q", ["3.1", "banana", "6"])
def test_parse_from_rejects(q):
    with pytest.raises(OfedError):
        parse_from(q)


# ---------------------------------------------------------------- what the catalog offers as X


def test_offered_sources_are_the_proven_ones():
    """kernels/sources keeps every Debian linux-source (the targets' own code); only the releases
    whose builds across the catalog are proven are offered as X, the rest say why not."""
    sources = load_sources()
    assert sorted(s for s, r in sources.items() if r.offered) == ["6.12", "7.3"]
    assert all(r.not_offered for r in sources.values() if not r.offered)


@pytest.mark.parametrize("cmd", [["build", "--kernel", "debian-11", "--from", "5.10"],
                                 ["check", "--kernel", "6.1", "--from", "6.1"],
                                 ["gap", "--kernel", "6.1", "--from", "7.2.1"]])
def test_a_source_not_offered_is_refused_before_anything_is_made(cmd, tmp_path):
    from conftest import error_line, run_cli
    p = run_cli(*cmd, "-o", str(tmp_path / "out"), "--offline", "--cache-dir", str(tmp_path / "cache"))
    line = error_line(p.stderr)
    assert p.returncode == 2 and line.startswith(f"ofedtool: error: --from {cmd[-1][:4].rstrip('.')}: not offered"), line
    assert "offered: 6.12, 7.3" in line and "Traceback" not in p.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_a_target_newer_than_x_is_a_downgrade():
    from dataclasses import replace
    from ofedtool.catalog import check_offered
    newer = replace(resolve_target("debian-13"), id="debian-14", series="7.9")
    check_offered(parse_from("7.3"), resolve_target("debian-13"))
    with pytest.raises(OfedError, match=r"^--from 7\.3 onto --kernel debian-14 \(7\.9\): X must be the target's "
                                        r"series or newer"):
        check_offered(parse_from("7.3"), newer)


def test_check_all_takes_the_targets_x_is_offered_onto(monkeypatch):
    """--all is every target of X's series or older; a named newer one is refused in one line."""
    from dataclasses import replace
    from ofedtool import matrix
    real = load_targets()
    newer = replace(next(t for t in real if t.id == "debian-13"), id="debian-14", series="7.0", aliases=("7.0",))
    monkeypatch.setattr(matrix, "load_targets", lambda: [*real, newer])
    assert matrix.targets_of(matrix.CheckRequest("6.12", (), True), parse_from("6.12")) == [t.id for t in real]
    assert matrix.targets_of(matrix.CheckRequest("7.3", (), True), parse_from("7.3")) == [*(t.id for t in real),
                                                                                          "debian-14"]
    monkeypatch.setattr(matrix, "resolve_target", lambda q: newer if q == "debian-14" else resolve_target(q))
    with pytest.raises(OfedError, match=r"^--from 6\.12 onto --kernel debian-14 \(7\.0\): X must be"):
        matrix.targets_of(matrix.CheckRequest("6.12", ("debian-12", "debian-14")), parse_from("6.12"))
