"""ofedtool build: generate + compile against the target + judge (errors, undefined, hazards)."""

from __future__ import annotations

from .. import pipeline
from .options import add_build, build_options, selection, session
from .package import add_package_options


def add_arguments(p) -> None:
    add_build(p)
    add_package_options(p, for_build=True)


def run(args, cache) -> dict:
    pipeline.require_jobs(args.jobs)
    opts = None
    if args.formats:
        from .package import options
        opts = options(args, "--package")  # a typo fails before the compile, not after
    b = pipeline.build(session(args, cache), selection(args), build_options(args), opts, args.package_dir)
    result = {**b.record.as_dict(), "text": text(b)}
    if b.packages is not None:
        result["packages"] = {k: v for k, v in b.packages.items() if k != "text"}
        result["text"] += "\n" + b.packages["text"]
    return result


def text(b: pipeline.Built) -> str:
    res, inp, g = b.result, b.inputs, b.generated
    c = res.counts()
    w = max([12] + [len(m.name) for m in res.modules] + [len(n) for n in inp.skipped])
    rows = [f"{'MODULE':<{w}} {'RESULT':<7} {'ERR':>4} {'UNDEF':>5} {'HAZ':>4} {'WARN':>4}  VERMAGIC"]
    for m in res.modules:
        rows.append(f"{m.name:<{w}} {'ok' if m.ok else 'FAIL':<7} {m.errors:>4} {len(m.undefined):>5} "
                    f"{m.hazards:>4} {m.warnings:>4}  {m.vermagic or '-'}")
    for name, why in inp.skipped.items():
        rows.append(f"{name:<{w}} {'skipped':<7} {why}")
    for r in g.manifest.rules:
        rows.append(f"rule {r['name']}: {r['rule']} ({r['why']})")
    for o in g.manifest.off:
        rows.append(f"{o['module']}: built without {o.get('config') or o['feature']} (switched off: {o['why']})")
    for d in [d for d in res.diagnostics if d.kind != "warning"][:20]:
        rows.append(f"  {d.kind}: {d.file}:{d.line}: {d.msg}")
    rows.append(f"{'PASS' if res.ok else 'FAIL'}: {sum(m.ko is not None for m in res.modules)}/{len(res.modules)} "
                f".ko, {c['errors']} errors, {c['undefined']} undefined, {c['hazards']} hazards, "
                f"{c['warnings']} other warnings, compile {res.seconds:.0f}s")
    if res.failure:
        rows.append(f"make failed (not a compile error): {res.failure}")
    rows.append(f"{c['binding']} binding problems (imports not bound to our core's exports)")
    rows.append(_abi_line(res.abi, c["abi"]))
    rows += b.consumers.rows
    rows.append(f"tree: {g.out}\nlog:  {res.log}")
    return "\n".join(rows)


def _abi_line(abi: dict | None, hazards: int) -> str:
    if not abi or "skipped" in abi:
        return f"ABI gate: NOT checked ({(abi or {}).get('skipped', 'no result')})"
    unv = f", {len(abi['unverified'])} could not be checked (see the warnings)" if abi["unverified"] else ""
    if abi.get("behind_pointers"):
        unv += f", {len(abi['behind_pointers'])} differ only behind pointers (warned, not failed)"
    if abi.get("redirected"):
        unv += (f", {len(abi['redirected'])} redirected by compat to calls handing no RDMA structure "
                f"({', '.join(h['symbol'] for h in abi['redirected'])})")
    return (f"{hazards} ABI hazards: of {abi['imports']} imports from code we do not rebuild, "
            f"{len(abi['compared'])} reach RDMA headers and were compared by CRC over our headers{unv}")
