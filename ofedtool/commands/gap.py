"""ofedtool gap: compile X's core and Y's ULPs with no adaptation at all and group the errors by API."""

from __future__ import annotations

import json
from pathlib import Path

from .. import ui
from ..build import compile_tree
from ..gap import parse, render
from ..fsutil import output_lock
from ..generate import generate
from ..kbuild import inspect_tree
from ..pipeline import add_pipeline_arguments, output_dir, require_jobs, resolve_and_fetch


def add_arguments(p) -> None:
    add_pipeline_arguments(p)
    p.add_argument("--sites", type=int, default=2, metavar="N", help="first sites shown per API (default 2)")


def run(args, cache) -> dict:
    require_jobs(args.jobs)
    inp = resolve_and_fetch(args, cache)
    out = args.output or Path(str(output_dir(args, inp)) + "_gap")
    with output_lock(out):
        return _gap(args, cache, inp, out)


def _gap(args, cache, inp, out) -> dict:
    g = generate(cache, inp.source, inp.build, inp.catalog, inp.modules, out, args.jobs,
                 inp.target_id, inp.target_source, inp.skipped, pristine=True)
    ktree = inspect_tree(inp.build.build_dir, inp.build.toolchain)
    with ui.stage("build", f"make -k -j{args.jobs} of the pristine tree against {ktree.release}"):
        res = compile_tree(g.out, ktree, inp.modules, args.jobs)
    apis = parse(Path(res.log).read_text(errors="replace"), g.out, ktree.build_dir)
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
    (g.out / "gap.json").write_text(json.dumps({k: v for k, v in result.items() if k != "text"},
                                               indent=2, sort_keys=True) + "\n")
    return result
