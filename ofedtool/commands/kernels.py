"""ofedtool kernels: the catalog."""

from __future__ import annotations

from ..catalog import load_sources, load_targets, version_key


def add_arguments(p) -> None:
    pass


def run(args, cache) -> dict:
    targets = load_targets()
    sources = load_sources()
    rows = [f"{'ID':<18} {'SERIES':<7} {'FLAVOUR':<12} {'ALIASES':<22} NAME"]
    for t in targets:
        rows.append(f"{t.id:<18} {t.series:<7} {t.flavour:<12} {','.join(t.aliases):<22} {t.name}")
    rows.append("")
    order = sorted(sources, key=version_key)
    rows.append("source releases (--from): " + " ".join(s for s in order if sources[s].offered))
    for s in (s for s in order if not sources[s].offered):
        rows.append(f"  not offered as X: {s} ({sources[s].not_offered})")
    return {
        "targets": [{"id": t.id, "name": t.name, "distro": t.distro, "release": t.release, "series": t.series,
                     "flavour": t.flavour, "arch": t.arch, "aliases": list(t.aliases), "suites": list(t.suites)}
                    for t in targets],
        "sources": [{"series": s.series, "tag_prefix": s.tag_prefix, "debian_package": s.debian_package,
                     "offered": s.offered, **({} if s.offered else {"not_offered": s.not_offered})}
                    for s in sources.values()],
        "text": "\n".join(rows),
    }
