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
