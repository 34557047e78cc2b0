"""ofedtool shims: which verb shims apply to the target's ULPs, and why."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..catalog import data_dir
from ..adapt.generate import run_feature_probes
from ..fetch.kbuild import source_dir
from ..pipeline import resolve_and_fetch
from .options import add_jobs, add_selection, selection, session
from ..adapt.shims import load_core_probes, load_shims, plan, run_core_probes


def add_arguments(p) -> None:
    add_selection(p)
    add_jobs(p)
    p.set_defaults(modules="core,ulps")


def run(args, cache) -> dict:
    inp = resolve_and_fetch(session(args, cache), selection(args))
    run_ = run_feature_probes(cache, inp.build, args.jobs, inp.ktree)
    features = dict(run_.results)
    # Core probes read X's headers: the same paths generate copies, without writing a tree.
    with tempfile.TemporaryDirectory() as t:
        for rel in inp.catalog.include_paths:
            s = inp.source.path / rel
            if s.is_dir():
                shutil.copytree(s, Path(t) / rel)
        features.update(run_core_probes(Path(t), load_core_probes(), source_dir(inp.build.build_dir)))
    names = [m.name for m in inp.modules if m.rule == "target"]
    rows = plan(load_shims(), features, names)
    text = [f"verb shims for {', '.join(names) or 'no ULPs'} ({inp.build.release}, core from {inp.source.version}):"]
    for r in rows:
        text.append(f"  {'APPLY' if r['active'] else 'skip ':<5} {r['shim']:<36} {','.join(r['modules']) or '-':<28} {r['why']}")
    for name, why in inp.skipped.items():
        text.append(f"  (module {name} not built: {why})")
    return {"ok": True, "shims": rows, "skipped": inp.skipped, "shim_dir": str(data_dir("backports") / "shims"),
            "text": "\n".join(text)}
