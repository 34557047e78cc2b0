"""ofedtool build: generate + compile against the target + judge (errors, undefined, hazards)."""

from __future__ import annotations

import argparse
import json

from .. import jobserver, ui
from ..build import compile_tree
from ..fsutil import output_lock
from ..generate import generate
from ..kbuild import inspect_tree
from ..pipeline import add_pipeline_arguments, output_dir, require_jobs, resolve_and_fetch


def add_arguments(p) -> None:
    add_pipeline_arguments(p)
    p.add_argument("--ccache", action=argparse.BooleanOptionalAction, default=None,
                   help="compile through ccache (default: when ccache is installed)")
    from .package import add_package_options
    add_package_options(p, for_build=True)


def run(args, cache) -> dict:
    require_jobs(args.jobs)
    if args.formats:
        from ..package import parse_formats
        parse_formats(args.formats, "--package")  # a typo fails before the compile, not after
    if args.output is not None:
        from ..build import check_build_path
        check_build_path(args.output)  # before fetch and generate write anything there
    inp = resolve_and_fetch(args, cache)
    out = output_dir(args, inp)
    with output_lock(out):  # a second build into the same -o waits for this one
        return _build(args, cache, inp, out)


def _build(args, cache, inp, out) -> dict:
    g = generate(cache, inp.source, inp.build, inp.catalog, inp.modules, out, args.jobs,
                 inp.target_id, inp.target_source, inp.skipped)
    ktree = inspect_tree(inp.build.build_dir, inp.build.toolchain)
    js = jobserver.from_environ()
    jobs = f"a shared jobserver ({js.jobs or '?'} jobs in all)" if js else f"-j{args.jobs}"
    with ui.stage("build", f"make with {jobs} against {ktree.release} (CC={ktree.cc})"):
        res = compile_tree(g.out, ktree, inp.modules, args.jobs, ccache=args.ccache, exporters=inp.exporters,
                           no_abi=inp.no_exporters)
    c = res.counts()
    w = max([12] + [len(m.name) for m in res.modules] + [len(n) for n in inp.skipped])
    rows = [f"{'MODULE':<{w}} {'RESULT':<7} {'ERR':>4} {'UNDEF':>5} {'HAZ':>4} {'WARN':>4}  VERMAGIC"]
    for m in res.modules:
        rows.append(f"{m.name:<{w}} {'ok' if m.ok else 'FAIL':<7} {m.errors:>4} {len(m.undefined):>5} "
                    f"{m.hazards:>4} {m.warnings:>4}  {m.vermagic or '-'}")
    for name, why in inp.skipped.items():
        rows.append(f"{name:<{w}} {'skipped':<7} {why}")
    for d in [d for d in res.diagnostics if d.kind != "warning"][:20]:
        rows.append(f"  {d.kind}: {d.file}:{d.line}: {d.msg}")
    rows.append(f"{'PASS' if res.ok else 'FAIL'}: {sum(m.ko is not None for m in res.modules)}/{len(res.modules)} "
                f".ko, {c['errors']} errors, {c['undefined']} undefined, {c['hazards']} hazards, "
                f"{c['warnings']} other warnings, compile {res.seconds:.0f}s")
    if res.failure:
        rows.append(f"make failed (not a compile error): {res.failure}")
    rows.append(f"{c['binding']} binding problems (imports not bound to our core's exports)")
    rows.append(_abi_line(res.abi, c["abi"]))
    consumers = _consumers(args, cache, inp)
    if consumers:
        rows.append(f"{len(consumers)} distro modules import from modules we replace and will NOT load "
                    f"with them: {', '.join(x['name'] for x in consumers)}")
    rows.append(f"tree: {g.out}\nlog:  {res.log}")
    result = {"consumers": consumers, "ok": res.ok, "output": str(g.out), "source": inp.source.manifest(), "kernel": inp.build.release,
              "target": inp.target_id, "probes": g.probe_stats, "skipped": inp.skipped, "build": res.as_dict(), "text": "\n".join(rows)}
    (g.out / "result.json").write_text(json.dumps({k: v for k, v in result.items() if k != "text"},
                                                  indent=2, sort_keys=True, default=str) + "\n")
    if args.formats and res.ok:
        from ..package import package
        from .package import default_out, options
        pk = package(g.out, args.package_dir or default_out(g.out), options(args), cache)
        result["packages"] = {k: v for k, v in pk.items() if k != "text"}
        result["text"] += "\n" + pk["text"]
    return result


def _abi_line(abi: dict | None, hazards: int) -> str:
    if not abi or "skipped" in abi:
        return f"ABI gate: NOT checked ({(abi or {}).get('skipped', 'no result')})"
    unv = f", {len(abi['unverified'])} could not be checked (see the warnings)" if abi["unverified"] else ""
    return (f"{hazards} ABI hazards: of {abi['imports']} imports from code we do not rebuild, "
            f"{len(abi['compared'])} reach RDMA headers and were compared by CRC over our headers{unv}")


def _consumers(args, cache, inp) -> list[dict] | None:
    """Distro modules importing from the modules we replace (ofedtool/consumers.py); None when
    it cannot be told (a local build dir, or the image package is unavailable)."""
    from ..catalog import resolve_target
    from ..consumers import find_consumers
    from ..errors import OfedError
    if inp.target_id == "local":
        ui.warn("consumers: a local build dir has no image package to scan; distro RDMA consumers unknown")
        return None
    try:
        found = find_consumers(cache, resolve_target(inp.target_id), inp.build, inp.modules, args.offline)
    except OfedError as e:
        ui.warn(f"consumers: cannot scan {inp.build.release}'s modules: {e}")
        return None
    for x in found:
        ui.warn(f"consumer {x.name} ({x.path}) imports from {', '.join(x.imports_from)}: it will fail to "
                f"load against our modules (disagrees about version of symbol); rebuild or blacklist it")
    return [x.as_dict() for x in found]
