"""release: what the Jenkins pipeline does, on one machine, into one release directory.

    fetch → check matrix (parallel builds) → vmtest per target → package every format per target
    → <name>-<version>/ with packages/<target>/, SHA256SUMS, manifest.json, report.html,
      report.json, junit.xml and CHANGELOG.md

Version scheme: <X.Y.Z>-<N>: the upstream release the RDMA code comes from (6.12.117) and
ofedtool's release counter for it (--release, default 1), bumped when the rules change but X
does not. RPMs carry the target kernel in their Release so each kernel gets its own kmod.

The directory is assembled under a temporary name and renamed into place when everything
passed; a failed release leaves its work directory (with the reports) and no release dir.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import ui
from .catalog import parse_from
from .errors import Failed
from .fsutil import MARKER, check_output, mark, replace_dir, temp_beside
from .matrix import CheckRequest, run_check
from .package import Options, package
from .package.common import DEFAULT_NAME, sha256sums
from .defaults import DEFAULT_JOBS, DEFAULT_MODULES, DEFAULT_SOURCE
from .tree import BuiltTree, Manifest


@dataclass(frozen=True)
class ReleaseRequest:
    from_: str
    kernels: tuple[str, ...]
    formats: tuple[str, ...] = ("dkms", "rpm", "deb")
    modules: str = DEFAULT_MODULES
    name: str = DEFAULT_NAME
    counter: int = 1
    sign_key: Path | None = None
    sign_cert: Path | None = None
    vmtest: bool = True
    jobs: int = DEFAULT_JOBS
    source: str = DEFAULT_SOURCE
    git_url: str | None = None
    output: Path = Path("release")   # the parent of <name>-<version>/
    conflicts: tuple[str, ...] = ()
    leave: tuple[str, ...] = ()      # --leave, for every target


def run_release(session, req: ReleaseRequest) -> dict:
    parse_from(req.from_)
    parent = Path(req.output).absolute()
    work = check_output(parent / ".work", "release -o")
    ui.info(f"[release] --from {req.from_} for {','.join(req.kernels)}; work dir {work}")
    matrix = run_check(session, CheckRequest(req.from_, tuple(req.kernels), modules=req.modules, source=req.source,
                                             git_url=req.git_url, jobs=req.jobs, output=work, vmtest=req.vmtest,
                                             leave=req.leave))
    if not matrix["ok"]:
        raise Failed(f"release: the check matrix failed ({matrix['reports']['html']}); no release written")
    targets = matrix["targets"]
    version = None
    opts = Options(formats=list(req.formats), name=req.name, counter=req.counter, sign_key=req.sign_key,
                   sign_cert=req.sign_cert, conflicts=list(req.conflicts))
    summaries = {}
    from .pipeline import release_variants
    for t in targets:
        with ui.stage("release", f"packages for {t['target']}"):
            # the DKMS package builds on every kernel of the target's release (variants)
            res = package(Path(t["output"]), work / "packages" / t["target"], opts, session.cache,
                          lambda tree, t=t: release_variants(session, tree, work / "variants" / t["target"]))
        summaries[t["target"]] = res
        version = version or res.get("version")
    name = f"{req.name}-{version}"
    final = parent / name
    check_output(final, "release -o")  # before assembling: an older release of ours may be replaced, nothing else
    tmp = temp_beside(final)
    try:
        shutil.copytree(work / "packages", tmp / "packages", ignore=shutil.ignore_patterns(MARKER))
        for f in ("report.html", "report.json", "junit.xml"):
            shutil.copyfile(work / f, tmp / f)
        manifests = {t["target"]: BuiltTree.open(Path(t["output"])).manifest for t in targets}
        (tmp / "manifest.json").write_text(json.dumps(
            {"name": req.name, "version": version, "from": req.from_, "modules": req.modules,
             "targets": {k: m.as_dict() for k, m in manifests.items()}, "packages": summaries},
            indent=2, sort_keys=True, default=str) + "\n")
        (tmp / "CHANGELOG.md").write_text(changelog(name, manifests))
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        sha256sums(tmp, files)
        mark(tmp)
        replace_dir(tmp, final, "release -o")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in final.rglob("*") if p.is_file())
    n = sum(1 for p in final.rglob("*") if p.is_file())
    return {"ok": True, "release": str(final), "version": version, "files": n, "bytes": size,
            "targets": [t["target"] for t in targets],
            "text": f"release {final}: {n} files, {size >> 20} MiB, targets {', '.join(t['target'] for t in targets)}"}


def changelog(name: str, manifests: dict[str, Manifest]) -> str:
    """What went into the release, per target: source tag, rules, shims, probe results."""
    out = [f"# {name}", ""]
    first = next(iter(manifests.values()))
    src = first.source
    out.append(f"Upstream RDMA source: {src.get('version')} via {src.get('provider')} "
               f"({src.get('tag') or src.get('package_version')}, {src.get('commit') or src.get('sha256', '')[:16]})")
    out.append("")
    for target, m in manifests.items():
        probes = m.features
        out.append(f"## {target} ({m.release})")
        out.append("")
        out.append(f"- modules: {', '.join(x.name for x in m.modules)}")
        if m.skipped:
            out.append(f"- not built: {', '.join(f'{k} ({v})' for k, v in m.skipped.items())}")
        out.append(f"- patches: {', '.join(p['patch'] for p in m.patches) or 'none'}")
        out.append(f"- SmPL: {', '.join(s['file'] for s in m.smpl if s['active']) or 'none'}")
        out.append(f"- verb shims: {', '.join(s['shim'] for s in m.shims if s['active']) or 'none'}")
        out.append(f"- probes: {sum(probes.values())} present, {len(probes) - sum(probes.values())} absent")
        out.append(f"- compat active (absent features): {', '.join(m.compat['active']) or 'none'}")
        out.append("")
    return "\n".join(out)
