"""The library: resolve → fetch → generate → build → package → vmtest → check → release.

Every stage takes typed requests and never sees argparse: a `Selection` (which X, which Y,
which modules, where X comes from), `BuildOptions` (jobs, output, ccache), the package
`Options`, and a `Session` (the cache, --offline). `ofedtool.commands` only translates the
command line into these, calls a function here and prints. A stage that needs another calls
it here (vmtest without --tree builds; release runs the check matrix), never a command.

Every default is written once, in ofedtool/defaults.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import ui
from .defaults import DEFAULT_JOBS, DEFAULT_MODULES, DEFAULT_SOURCE, SOURCES  # noqa: F401  (the API's defaults)
from .catalog import check_offered, parse_from, resolve_target
from .requests import BuildOptions, Selection, Session  # noqa: F401  (the API's request types)
from .errors import Failed, OfedError
from .fsutil import check_output
from .fetch.headers import BuildTree, fetch_headers, is_local
from .fetch.kbuild import KernelTree, config_values, inspect
from .modules import Catalog, Module, RuleChoice, choose_rules, in_source, load_catalog, select
from .fetch.sources import SourceTree, fetch_source

if TYPE_CHECKING:
    from .fetch.exports import SourceIndex


@dataclass
class Inputs:
    source: SourceTree
    build: BuildTree
    catalog: Catalog
    modules: list[Module]
    target_id: str
    target_source: SourceTree | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # module → why it is not built
    left: tuple[str, ...] = ()  # --leave: distro modules not rebuilt; blacklisted by our packages
    ktree: KernelTree | None = None  # the kernel build tree, inspected once per run
    exporters: SourceIndex | None = None   # the target source's exporter index (the ABI gate)
    no_exporters: str = ""                 # why there is none
    rules: tuple[RuleChoice, ...] = ()     # the rule of each choice (mlx5) for this pair, and why


def parse_leave(text: str | None) -> tuple[str, ...]:
    """--leave names as modinfo spells them (nvme-rdma → nvme_rdma), sorted, once each."""
    return tuple(sorted({w.strip().replace("-", "_") for w in (text or "").split(",") if w.strip()}))


def apply_leave(modules: list[Module], left: tuple[str, ...]) -> list[Module]:
    """Drop the modules the user leaves to the distro. Our own code (core, rxe, siw) cannot be
    left, nor a module another selected one imports from: that one would bind to the distro's."""
    keep = [m for m in modules if m.name.replace("-", "_") not in left]
    for m in modules:
        if m not in keep and m.rule == "upstream":
            raise OfedError(f"--leave {m.name}: it is X's code we replace the distro's with (rule upstream); "
                            f"leave only target-rule modules (hardware drivers, ULPs, in-kernel users)")
    gone = {m.name for m in modules} - {m.name for m in keep}
    for m in keep:
        needs = sorted(set(m.depends) & gone)
        if needs:
            raise OfedError(f"--leave {needs[0]}: {m.name} imports from it; leave {m.name} too")
    return keep


def require_jobs(jobs: int) -> int:
    if jobs < 1:
        raise OfedError(f"--jobs {jobs}: must be at least 1")
    return jobs


def resolve_and_fetch(session: Session, sel: Selection, output: Path | None = None, measure: bool = False) -> Inputs:
    # Resolve everything that can be checked locally before any download.
    spec = parse_from(sel.from_)
    if is_local(sel.kernel):
        from .fetch.headers import local
        local.fetch(sel.kernel)  # a wrong path fails now, not after a 146 MiB source download
    target = None if is_local(sel.kernel) else resolve_target(sel.kernel)
    check_offered(spec, target)
    cat, rules = choose_rules(load_catalog(), sel.rules, spec.series,
                              target.id if target else None, measure)
    selected = select(cat, sel.modules)
    # A choice none of whose members is selected (--modules core,rxe) decides nothing here.
    names = {m.name for m in selected}
    rules = tuple(r for r in rules if r.name not in cat.choices or names & set(cat.choices[r.name].modules))
    modules = apply_leave(selected, sel.leave)
    if output is not None:
        check_output(output)  # a foreign -o is refused before any download
    ui.info(f"[resolve] --from {sel.from_} → {spec.series}{'.' + str(spec.sublevel) if spec.sublevel is not None else ' (newest)'}; "
            f"--kernel {sel.kernel} → {target.id if target else sel.kernel}; "
            f"modules: {', '.join(m.name for m in modules)}")
    for r in rules:
        ui.info(f"[resolve] --rule {r.name}={r.rule}: {r.why}")
    with ui.stage("fetch", "upstream source and target build tree"):
        src = fetch_source(session.cache, spec, sel.source, sel.git_url, session.offline)
        _, build = fetch_headers(session.cache, sel.kernel, session.offline)
    ui.info(f"[fetch] source {src.version} ({src.provider}); target {build.release}")
    build = ktree = inspect(build)  # the one kernel tree of this run, inspected once
    modules, absent = in_source(modules, src.path)
    for name in absent:
        ui.info(f"[resolve] {name}: not in {src.version} (its Makefile does not build it)")
    modules, skipped = buildable(modules, build)
    for name, why in skipped.items():
        ui.info(f"[resolve] {name}: not built: {why}")
    ysrc = None
    hv = next((p["version"] for p in build.provenance.get("packages", [])
               if p["package"].startswith("linux-headers-")), None)
    if any(m.rule == "target" for m in modules):
        if target is None:
            raise OfedError(f"ULPs ({', '.join(m.name for m in modules if m.rule == 'target')}) take the "
                            f"target kernel's own source: use a catalog --kernel, not a build directory")
        from .fetch.sources.debian import fetch_target_source
        with ui.stage("fetch", f"{target.id}'s own source for the ULPs"):
            ysrc = fetch_target_source(session.cache, target, hv, session.offline)
    exporters, why = _exporters(session, target, ktree, cat, hv if target else None)
    return Inputs(src, build, cat, modules, target.id if target else "local", ysrc, skipped, sel.leave, ktree,
                  exporters, why, rules)


def _exporters(session: Session, target, ktree: KernelTree, cat: Catalog,
               headers_version: str | None) -> tuple[SourceIndex | None, str]:
    """The ABI gate's index of the target's own source, or None and why not (a local build
    dir has no source package; offline with nothing cached)."""
    if target is None:
        return None, "a local build dir has no target source to read the exporters from"
    from .fetch.exports import fetch_index
    try:
        return fetch_index(session.cache, target, headers_version, ktree.arch, cat.include_paths,
                           session.offline), ""
    except OfedError as e:
        ui.warn(f"abi: the ABI gate cannot run: {e}")
        return None, str(e)


def buildable(modules: list[Module], build: BuildTree) -> tuple[list[Module], dict[str, str]]:
    """Target-rule modules (ULPs, hardware drivers, in-kernel users) are built exactly where the
    target's own .config builds them (its subsystem, its netdev driver): one whose Kconfig
    symbol the target leaves unset is reported and skipped, never silently dropped and never
    forced on."""
    config = {k.removeprefix("CONFIG_"): v for k, v in config_values(build.build_dir).items()}
    keep, skipped = [], {}
    for m in modules:
        # An empty value switches a directory sibling off; it is no condition on the target.
        missing = [k for k, v in m.kconfig if v and config.get(k) not in ("m", "y")]
        needs = [d for d in m.depends if d in skipped]
        if (m.rule == "target" or m.target_config) and missing:
            skipped[m.name] = f"CONFIG_{missing[0]} is not set in {build.release}'s config"
        elif needs:
            # X's mlx5_ib without X's mlx5_core would bind to nothing (catalog order: deps first)
            skipped[m.name] = f"it needs {needs[0]}, which is not built ({skipped[needs[0]]})"
        else:
            keep.append(m)
    return keep, skipped


def output_dir(opts: BuildOptions, inputs: Inputs) -> Path:
    if opts.output:
        return opts.output
    return Path("build") / f"{inputs.target_id}-{inputs.build.release}_from-{inputs.source.version}"


# ---------------------------------------------------------------- generate, build, gap


def generate(session: Session, sel: Selection, opts: BuildOptions):
    """The generate stage alone: the backported source tree (generate.Generated), written under
    the output's lock so a concurrent run into the same -o waits."""
    from .fsutil import output_lock
    require_jobs(opts.jobs)
    inp = resolve_and_fetch(session, sel, opts.output)
    with output_lock(output_dir(opts, inp)):
        return _generate_tree(session, sel, opts, inp)


def _generate_tree(session: Session, sel: Selection, opts: BuildOptions, inp: Inputs,
                   pristine: bool = False, out: Path | None = None):
    """The backported (or, pristine, the unadapted) tree, for a caller holding the output's lock."""
    from .adapt.generate import generate as _generate
    return _generate(session.cache, inp.source, inp.build, inp.catalog, inp.modules, out or output_dir(opts, inp),
                     opts.jobs, inp.target_id, inp.target_source, inp.skipped, pristine=pristine, ktree=inp.ktree,
                     rules=[r.as_dict() for r in inp.rules])


@dataclass(frozen=True)
class Built:
    """One `build`: the inputs, the generated tree, the judged compile and its record."""
    inputs: Inputs
    generated: object      # generate.Generated
    result: object         # build.BuildResult
    record: object         # tree.BuildRecord (written to the tree's result.json)
    packages: dict | None = None
    consumers: object = None   # consumers.Verdict: stranded and left distro modules


def build(session: Session, sel: Selection, opts: BuildOptions, package: object | None = None,
          package_dir: Path | None = None) -> Built:
    """generate + compile + judge; with package (package.Options), packages after a passing build."""
    from .fsutil import output_lock
    require_jobs(opts.jobs)
    if opts.output is not None:
        from .build.compile import check_build_path
        check_build_path(opts.output)  # before fetch and generate write anything there
    inp = resolve_and_fetch(session, sel, opts.output)
    with output_lock(output_dir(opts, inp)):  # a second build into the same -o waits for this one
        return _build(session, sel, opts, inp, package, package_dir)


def _build(session: Session, sel: Selection, opts: BuildOptions, inp: Inputs, package, package_dir) -> Built:
    from . import jobserver
    from .build.compile import compile_tree
    from .build.consumers import judge_consumers
    from .tree import BuildRecord
    g = _generate_tree(session, sel, opts, inp)
    ktree = inp.ktree
    js = jobserver.from_environ()
    jobs = f"a shared jobserver ({js.jobs or '?'} jobs in all)" if js else f"-j{opts.jobs}"
    with ui.stage("build", f"make with {jobs} against {ktree.release} (CC={ktree.cc})"):
        res = compile_tree(g.out, ktree, inp.modules, opts.jobs, ccache=opts.ccache, exporters=inp.exporters,
                           no_abi=inp.no_exporters)
    found = consumers(session, inp)
    # The default selection is the whole stack the target ships: a module it strands is one that
    # could not be rebuilt, and fails the build. An explicit --modules is a partial stack by
    # choice: its stranded modules are reported (and recorded), not a failure.
    verdict = judge_consumers(found, inp.left, strict=sel.whole_stack, partial=sel.modules)
    for name in verdict.unknown_left:
        ui.warn(f"--leave {name}: {inp.build.release} ships no module of that name importing from ours; "
                f"nothing to blacklist")
    ok = res.ok and verdict.ok
    record = BuildRecord(ok=ok, output=str(g.out), source=inp.source.manifest(), kernel=inp.build.release,
                         target=inp.target_id, probes=g.probe_stats, skipped=inp.skipped, build=res.as_dict(),
                         consumers=found, stranded=verdict.stranded, left=verdict.left,
                         stranded_fail=verdict.strict, off=list(g.manifest.off))
    record.write(g.out)
    packages = None
    if package is not None and ok:
        packages = _packages(g.out, package_dir, package, session)
    return Built(inp, g, res, record, packages, verdict)


def consumers(session: Session, inp: Inputs) -> list[dict] | None:
    """Distro modules importing from the modules we replace (ofedtool/build/consumers.py); None when
    it cannot be told (a local build dir, or the image package is unavailable)."""
    from .build.consumers import find_consumers
    if inp.target_id == "local":
        ui.warn("consumers: a local build dir has no image package to scan; distro RDMA consumers unknown")
        return None
    try:
        found = find_consumers(session.cache, resolve_target(inp.target_id), inp.build, inp.modules,
                               session.offline)
    except OfedError as e:
        ui.warn(f"consumers: cannot scan {inp.build.release}'s modules: {e}")
        return None
    for x in found:
        if x.name not in inp.left:
            ui.warn(f"consumer {x.name} ({x.path}) imports from {', '.join(x.imports_from)}: it will fail to "
                    f"load against our modules (disagrees about version of symbol); rebuild it or --leave it")
    return [x.as_dict() for x in found]


@dataclass(frozen=True)
class Gap:
    inputs: Inputs
    generated: object
    result: object         # build.BuildResult of the pristine tree
    apis: list             # gap.Api, most errors first


def gap(session: Session, sel: Selection, opts: BuildOptions) -> Gap:
    """The same plan as build without the adaptation steps, compiled with make -k, errors by API."""
    from .fsutil import output_lock
    require_jobs(opts.jobs)
    inp = resolve_and_fetch(session, sel, opts.output, measure=True)
    out = opts.output or Path(str(output_dir(opts, inp)) + "_gap")
    with output_lock(out):
        return _gap(session, sel, opts, inp, out)


def _gap(session: Session, sel: Selection, opts: BuildOptions, inp: Inputs, out: Path) -> Gap:
    from .build.compile import compile_tree
    from .build.gap import parse
    g = _generate_tree(session, sel, opts, inp, pristine=True, out=out)
    ktree = inp.ktree
    with ui.stage("build", f"make -k -j{opts.jobs} of the pristine tree against {ktree.release}"):
        res = compile_tree(g.out, ktree, inp.modules, opts.jobs)
    apis = parse(Path(res.log).read_text(errors="replace"), g.out, Path(res.kbuild_dir))
    return Gap(inp, g, res, apis)


def default_package_dir(tree: Path) -> Path:
    return Path(str(Path(tree).absolute()) + "-packages")


def package(tree: Path, out: Path | None, opts, session: Session) -> dict:
    """DKMS, RPM and Debian packages from a built tree (ofedtool/package). The DKMS tree carries
    the variants for the release's other kernels (release_variants)."""
    return _packages(tree, out, opts, session)


def _packages(tree: Path, out: Path | None, opts, session: Session) -> dict:
    import tempfile
    from .package import package as make_packages
    with tempfile.TemporaryDirectory(prefix="ofedtool-variants-") as tmp:
        return make_packages(tree, out or default_package_dir(tree), opts, session.cache,
                             (lambda t: release_variants(session, t, Path(tmp))) if opts.variants else None)


def release_variants(session: Session, tree: Path, work: Path) -> dict[str, Path]:
    """The tree generated from the same X, modules, --leave and rule choices for each other catalog
    kernel of the tree's distro release (Debian 12's 6.1 tree: its cloud and rt flavours and
    bookworm-security's 6.12), under work/<target>; {} for a local kernel dir. Generated only,
    never compiled: the DKMS package ships the differences, the node compiles them.

    A sibling onto which the rules do not carry one of the tree's upstream choices (X's mlx5 on
    6.12's tree, not carried onto 6.1) gets no variant, with a warning: its own default would be
    another tree, which no probe tells apart, and the choice made for the reference is kept."""
    from .catalog import release_targets
    from .package.common import load_tree
    built = load_tree(tree)
    m = built.manifest
    siblings = release_targets(m.target_id)[1:]
    out: dict[str, Path] = {}
    if not siblings:
        return out
    src = m.source
    rules, cannot = sibling_rules(m, [t.id for t in siblings])
    with ui.stage("package", f"DKMS variants for {', '.join(t.id for t in siblings)}"):
        for t in siblings:
            if t.id in cannot:
                ui.warn(f"[package] dkms: no variant for {t.id}: {cannot[t.id]}; there the kit builds the tree "
                        "whose features it has")
                continue
            sel = Selection(kernel=t.id, from_=m.source_version, modules=",".join(x.name for x in m.modules),
                            source=src.get("provider", DEFAULT_SOURCE), git_url=src.get("url"),
                            leave=tuple(built.left), rules=rules)
            try:
                g = generate(session, sel, BuildOptions(output=work / t.id))
            except OfedError as e:
                raise OfedError(f"the DKMS package covers every kernel of its release, and {t.id}'s tree "
                                f"cannot be generated: {e}") from None
            out[t.id] = Path(g.out)
    return out


def sibling_rules(m, siblings: list[str]) -> tuple[tuple[tuple[str, str], ...], dict[str, str]]:
    """The reference tree's rule choices (its manifest's `rules`, defaults and --rule alike) as the
    --rule of its siblings, and target id -> why a sibling cannot take them: an upstream choice
    the rules do not carry onto that kernel (backports/modules.toml [choice.NAME.carried])."""
    cat = load_catalog()
    series = parse_from(m.source_version).series
    rules = tuple(sorted((r["name"], r["rule"]) for r in m.rules))
    cannot: dict[str, str] = {}
    for r in m.rules:
        c = cat.choices.get(r["name"])
        if c is None or r["rule"] != "upstream":
            continue
        for tid in siblings:
            if tid not in c.carried.get(series, ()) and tid not in cannot:
                how = "given with --rule" if r.get("explicit") else "the reference's default"
                cannot[tid] = (f"the tree has X's {c.name} ({c.name}=upstream, {how}), which the rules do not carry "
                               f"from {series} onto {tid} (backports/modules.toml [choice.{c.name}.carried])")
    return rules, cannot


# ---------------------------------------------------------------- vmtest, check, release


def vmtest(session: Session, req) -> object:
    """Boot the target's kernel with a built tree's modules (vmtest.VmRequest → tree.VmRecord).
    Without req.tree, builds first, through build() above."""
    from .prove.vmtest import run_vmtest

    def build_tree(output: Path) -> Path:
        built = build(session, req.selection, with_output(req.build, output))
        if not built.record.ok:
            raise Failed(f"build for {built.record.kernel} failed: see {built.record.build['log']}")
        return Path(built.record.output)
    return run_vmtest(session, req, build_tree)


def system_test(session: Session, req) -> dict:
    """Our packages on a real Debian system of the target's release (system.SystemRequest): the
    mmdebstrap image from the cache, install, boot, kernel update, purge. The record (dict)."""
    from .fetch.apt import Apt
    from .fetch.sysimage import fetch_system, spec_for
    from .prove.system import run_system

    def image_for(target, release: str):
        apt = Apt(session.cache, tuple(target.suites), arch=target.arch, offline=session.offline)
        apt.update()
        version = apt.newest(f"linux-image-{release}")
        return fetch_system(session.cache, spec_for(target, release, version), session.offline)

    def newest_release(target) -> str:
        from .fetch.headers.debian import resolve
        apt = Apt(session.cache, tuple(target.suites), arch=target.arch, offline=session.offline)
        apt.update()
        name, _version, _abi = resolve(apt, target)
        return name[len("linux-headers-"):]
    return run_system(session, req, image_for, newest_release)


def check(session: Session, req) -> dict:
    """The build matrix (matrix.CheckRequest): one build per target in parallel, reports."""
    from .matrix import run_check
    return run_check(session, req)


def release(session: Session, req) -> dict:
    """check + vmtest + packages for every target into one directory (release.ReleaseRequest)."""
    from .release import run_release
    return run_release(session, req)


def watch(session: Session, req) -> dict:
    """Which targets need a new build since the last one (watch.WatchRequest), and a release of them."""
    from .watch import run_watch
    return run_watch(session, req)


def with_output(opts: BuildOptions, output: Path | None) -> BuildOptions:
    return replace(opts, output=output)
