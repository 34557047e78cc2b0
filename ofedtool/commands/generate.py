"""ofedtool generate: write the backported source tree."""

from __future__ import annotations

from ..fsutil import output_lock
from ..generate import generate
from ..pipeline import add_pipeline_arguments, output_dir, require_jobs, resolve_and_fetch


def add_arguments(p) -> None:
    add_pipeline_arguments(p)


def run(args, cache) -> dict:
    require_jobs(args.jobs)
    inp = resolve_and_fetch(args, cache)
    out = output_dir(args, inp)
    with output_lock(out):
        g = generate(cache, inp.source, inp.build, inp.catalog, inp.modules, out, args.jobs,
                     inp.target_id, inp.target_source, inp.skipped)
    return {"ok": True, "output": str(g.out), "probes": g.probe_stats,
            "features_absent": g.manifest["compat"]["active"],
            "patches": [p["patch"] for p in g.manifest["patches"]],
            "smpl": [s["file"] for s in g.manifest["smpl"] if s["active"]],
            "text": f"generated {g.out}"}
