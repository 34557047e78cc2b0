"""ofedtool gap: compile X's core and Y's ULPs with no adaptation at all and group the errors by API."""

from __future__ import annotations

import json

from .. import pipeline
from ..fsutil import atomic_write
from ..build.gap import render
from .options import add_build, build_options, selection, session


def add_arguments(p) -> None:
    add_build(p, ccache=False)
    p.add_argument("--sites", type=int, default=2, metavar="N", help="first sites shown per API (default 2)")


def run(args, cache) -> dict:
    gp = pipeline.gap(session(args, cache), selection(args), build_options(args))
    inp, g, res, apis = gp.inputs, gp.generated, gp.result, gp.apis
    by_kind: dict[str, int] = {}
    for a in apis:
        by_kind[a.kind] = by_kind.get(a.kind, 0) + a.count
    total = sum(a.count for a in apis)
    per_module = {m.name: {"ko": m.ko is not None, "errors": m.errors, "undefined": len(m.undefined)}
                  for m in res.modules}
    text = [f"gap: {inp.source.version} core + {inp.build.release} ULPs, no compat/patches/SmPL/shims: "
            f"{total} errors in {len(apis)} APIs "
            f"({', '.join(f'{k} {v}' for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])) or 'none'})"]
    text += render(apis, args.sites)
    text.append("modules: " + ", ".join(f"{n} {'ok' if r['ko'] else 'FAIL'}" for n, r in per_module.items()))
    for name, why in inp.skipped.items():
        text.append(f"  (module {name} not built: {why})")
    text.append(f"tree: {g.out}\nlog:  {res.log}")
    result = {"ok": True, "output": str(g.out), "log": res.log, "kernel": inp.build.release,
              "source": inp.source.version, "total": total, "by_kind": by_kind,
              "apis": [a.as_dict(args.sites) for a in apis], "modules": per_module, "skipped": inp.skipped,
              "text": "\n".join(text)}
    atomic_write(g.out / "gap.json", json.dumps({k: v for k, v in result.items() if k != "text"},
                                                indent=2, sort_keys=True) + "\n")
    return result
