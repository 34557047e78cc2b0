"""ofedtool generate: write the backported source tree."""

from __future__ import annotations

from .. import pipeline
from .options import add_build, build_options, selection, session


def add_arguments(p) -> None:
    add_build(p, ccache=False)


def run(args, cache) -> dict:
    g = pipeline.generate(session(args, cache), selection(args), build_options(args))
    return {"ok": True, "output": str(g.out), "probes": g.probe_stats,
            "features_absent": g.manifest.compat["active"],
            "patches": [p["patch"] for p in g.manifest.patches],
            "smpl": [s["file"] for s in g.manifest.smpl if s["active"]],
            "text": f"generated {g.out}"}
