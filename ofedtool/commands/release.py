"""ofedtool release: what the Jenkins pipeline does, on one machine, into one release directory.

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
import os
import shutil
from argparse import Namespace
from pathlib import Path

from .. import ui
from ..catalog import parse_from
from ..errors import Failed
from ..fsutil import MARKER, check_output, mark, replace_dir, temp_beside
from ..package import Options, package, parse_formats
from ..package.common import DEFAULT_NAME, sha256sums
from ..package.rpm import DEFAULT_CONFLICTS
from . import check


def add_arguments(p) -> None:
    p.add_argument("--from", dest="from_", required=True, metavar="X")
    p.add_argument("--kernel", required=True, metavar="K1,K2,...", help="targets (catalog ids or aliases)")
    p.add_argument("--modules", default="core,rxe,siw")
    p.add_argument("--format", dest="formats", default="dkms,rpm,deb")
    p.add_argument("--name", default=DEFAULT_NAME)
    p.add_argument("--release", type=int, default=1, dest="pkg_release", help="ofedtool release counter N")
    p.add_argument("--sign-key", type=Path)
    p.add_argument("--sign-cert", type=Path)
    p.add_argument("--no-vmtest", action="store_true", help="skip booting the targets (not a full release)")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--source", choices=("git", "debian", "auto"), default="auto")
    p.add_argument("--git-url")
    p.add_argument("-o", "--output", type=Path, default=Path("release"), help="parent directory (default ./release)")


def run(args, cache) -> dict:
    parse_from(args.from_)
    formats = parse_formats(args.formats)
    parent = args.output.absolute()
    work = check_output(parent / ".work", "release -o")
    ui.info(f"[release] --from {args.from_} for {args.kernel}; work dir {work}")
    matrix = check.run(Namespace(from_=args.from_, kernel=args.kernel, all=False, modules=args.modules,
                                 jobs=args.jobs, source=args.source, git_url=args.git_url, output=work,
                                 vmtest=not args.no_vmtest, offline=args.offline), cache)
    if not matrix["ok"]:
        raise Failed(f"release: the check matrix failed ({matrix['reports']['html']}); no release written")
    targets = matrix["targets"]
    version = None
    opts = Options(formats=formats, name=args.name, counter=args.pkg_release, sign_key=args.sign_key,
                   sign_cert=args.sign_cert, conflicts=list(DEFAULT_CONFLICTS))
    summaries = {}
    for t in targets:
        with ui.stage("release", f"packages for {t['target']}"):
            res = package(Path(t["output"]), work / "packages" / t["target"], opts, cache)
        summaries[t["target"]] = res
        version = version or res.get("version")
    name = f"{args.name}-{version}"
    final = parent / name
    check_output(final, "release -o")  # before assembling: an older release of ours may be replaced, nothing else
    tmp = temp_beside(final)
    try:
        shutil.copytree(work / "packages", tmp / "packages", ignore=shutil.ignore_patterns(MARKER))
        for f in ("report.html", "report.json", "junit.xml"):
            shutil.copyfile(work / f, tmp / f)
        manifests = {t["target"]: json.loads((Path(t["output"]) / "manifest.json").read_text()) for t in targets}
        (tmp / "manifest.json").write_text(json.dumps(
            {"name": args.name, "version": version, "from": args.from_, "modules": args.modules,
             "targets": manifests, "packages": summaries}, indent=2, sort_keys=True, default=str) + "\n")
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


def changelog(name: str, manifests: dict[str, dict]) -> str:
    """What went into the release, per target: source tag, rules, shims, probe results."""
    out = [f"# {name}", ""]
    first = next(iter(manifests.values()))
    src = first["source"]
    out.append(f"Upstream RDMA source: {src.get('version')} via {src.get('provider')} "
               f"({src.get('tag') or src.get('package_version')}, {src.get('commit') or src.get('sha256', '')[:16]})")
    out.append("")
    for target, m in manifests.items():
        t = m["target"]
        probes = m["probes"]["results"]
        out.append(f"## {target} ({t['release']})")
        out.append("")
        out.append(f"- modules: {', '.join(x['name'] for x in m['modules'])}")
        if m.get("skipped"):
            out.append(f"- not built: {', '.join(f'{k} ({v})' for k, v in m['skipped'].items())}")
        out.append(f"- patches: {', '.join(p['patch'] for p in m['patches']) or 'none'}")
        out.append(f"- SmPL: {', '.join(s['file'] for s in m['smpl'] if s['active']) or 'none'}")
        out.append(f"- verb shims: {', '.join(s['shim'] for s in m.get('shims', []) if s['active']) or 'none'}")
        out.append(f"- probes: {sum(probes.values())} present, {len(probes) - sum(probes.values())} absent")
        out.append(f"- compat active (absent features): {', '.join(m['compat']['active']) or 'none'}")
        out.append("")
    return "\n".join(out)
