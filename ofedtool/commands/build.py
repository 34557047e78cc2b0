"""ofedtool build: generate + compile against the target + judge (errors, undefined, hazards)."""

from __future__ import annotations

import json

from .. import ui
from ..build import compile_tree
from ..generate import generate
from ..kbuild import inspect_tree
from ..pipeline import add_pipeline_arguments, output_dir, require_jobs, resolve_and_fetch


def add_arguments(p) -> None:
    add_pipeline_arguments(p)


def run(args, cache) -> dict:
    require_jobs(args.jobs)
    inp = resolve_and_fetch(args, cache)
    g = generate(cache, inp.source, inp.build, inp.catalog, inp.modules, output_dir(args, inp), args.jobs,
                 inp.target_id, inp.target_source, inp.skipped)
    ktree = inspect_tree(inp.build.build_dir)
    with ui.stage("build", f"make -j{args.jobs} against {ktree.release} (CC={ktree.cc})"):
        res = compile_tree(g.out, ktree, inp.modules, args.jobs)
    c = res.counts()
    rows = [f"{'MODULE':<12} {'RESULT':<7} {'ERR':>4} {'UNDEF':>5} {'HAZ':>4} {'WARN':>4}  VERMAGIC"]
    for m in res.modules:
        rows.append(f"{m.name:<12} {'ok' if m.ok else 'FAIL':<7} {m.errors:>4} {len(m.undefined):>5} "
                    f"{m.hazards:>4} {m.warnings:>4}  {m.vermagic or '-'}")
    for name, why in inp.skipped.items():
        rows.append(f"{name:<12} {'skipped':<7} {why}")
    for d in [d for d in res.diagnostics if d.kind != "warning"][:20]:
        rows.append(f"  {d.kind}: {d.file}:{d.line}: {d.msg}")
    rows.append(f"{'PASS' if res.ok else 'FAIL'}: {sum(m.ko is not None for m in res.modules)}/{len(res.modules)} "
                f".ko, {c['errors']} errors, {c['undefined']} undefined, {c['hazards']} hazards, "
                f"{c['warnings']} other warnings, compile {res.seconds:.0f}s")
    rows.append(f"tree: {g.out}\nlog:  {res.log}")
    result = {"ok": res.ok, "output": str(g.out), "source": inp.source.manifest(), "kernel": inp.build.release,
              "target": inp.target_id, "probes": g.probe_stats, "skipped": inp.skipped, "build": res.as_dict(), "text": "\n".join(rows)}
    (g.out / "result.json").write_text(json.dumps({k: v for k, v in result.items() if k != "text"},
                                                  indent=2, sort_keys=True, default=str) + "\n")
    return result
