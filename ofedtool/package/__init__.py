"""package: a generated and built tree → DKMS tarball, SRPM + kmod and -devel RPMs, Debian -dkms,
-modules-<kver> and -dev-<kver> .debs.

One module per format (dkms, rpm, deb); common holds naming, versioning, SOURCE_DATE_EPOCH,
deterministic archives, SHA256SUMS and signing. Beside the packages: SHA256SUMS, a copy of the
tree's manifest.json and packages.json (what was made, from what, signed or not).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .. import ui
from ..fetch.apt import require
from ..errors import OfedError
from ..fsutil import check_output, mark, output_lock, replace_dir, temp_beside
from .common import DEFAULT_NAME, Package, check_name, find_kernel_dir, find_strip, load_tree, private_tmp, sha256sums, prepare_modules, signature_state, source_date_epoch

FORMATS = ("dkms", "rpm", "deb")


@dataclass
class Options:
    formats: list[str]
    name: str = DEFAULT_NAME
    counter: int = 1
    sign_key: Path | None = None
    sign_cert: Path | None = None
    kernel_dir: Path | None = None
    conflicts: list[str] = field(default_factory=list)
    obsoletes: list[str] = field(default_factory=list)
    kernel_requires: str | None = None
    # target id -> the tree generated from the same X for another kernel of the release: the DKMS
    # package carries their differences as variants (pipeline.release_variants makes them)
    variant_trees: dict[str, Path] = field(default_factory=dict)
    variants: bool = True  # False: --no-variants (the caller does not generate them)


def parse_formats(text: str, flag: str = "--format") -> list[str]:
    wanted = [f.strip() for f in text.split(",") if f.strip()]
    bad = [f for f in wanted if f not in FORMATS]
    if bad or not wanted:
        raise OfedError(f"{flag} {text!r}: choose from {', '.join(FORMATS)} (comma-separated)")
    return [f for f in FORMATS if f in wanted]


def package(tree_dir: Path, out: Path, opts: Options, cache, variants=None) -> dict:
    """variants: called with the tree's directory once the request is checked, returns the trees
    for the release's other kernels (pipeline.release_variants), added to opts.variant_trees."""
    out = check_output(out, "packages -o")  # refused before anything else is read or written
    # Every tool a format needs, before anything is written (a missing rpmbuild used to leave
    # a half package directory: the DKMS files and no SHA256SUMS).
    for fmt in opts.formats:
        for tool, debian_pkg in TOOLS[fmt]:
            require(tool, debian_pkg)
    tree = load_tree(tree_dir)
    check_name(opts.name)
    if opts.counter < 1:
        raise OfedError(f"--release {opts.counter}: must be at least 1")
    if bool(opts.sign_key) != bool(opts.sign_cert):
        raise OfedError("--sign-key and --sign-cert go together: give both or neither")
    epoch, epoch_from = source_date_epoch(tree.manifest, cache)
    variant_trees = {**opts.variant_trees, **(variants(tree.path) if variants else {})}
    pkg = Package(tree=tree, name=opts.name, counter=opts.counter, epoch=epoch, epoch_from=epoch_from,
                  module_dir="", kernel_dir=find_kernel_dir(tree, cache, opts.kernel_dir),
                  strip=find_strip(tree, cache), variant_trees=variant_trees)
    made: dict[str, list[str]] = {}
    with output_lock(out, "packages -o"):
        stage = temp_beside(out)
        try:
            summary = _make(pkg, tree, opts, stage, made, epoch, epoch_from)
            mark(stage)
            replace_dir(stage, out, "packages -o")
        except BaseException as e:
            kept = _keep_log(stage, out)
            shutil.rmtree(stage, ignore_errors=True)
            if kept and isinstance(e, OfedError):
                raise OfedError(str(e).replace(str(stage / "rpmbuild.log"), str(kept))) from None
            raise
    rows = [f"{pkg.name} {pkg.version} for {tree.release} ({signature_state(pkg)}; "
            f"SOURCE_DATE_EPOCH={epoch} from {epoch_from})"]
    rows += [f"  {fmt:<5} {name}" for fmt, names in made.items() for name in names]
    rows.append(f"  SHA256SUMS, manifest.json, packages.json in {out}")
    return {"ok": True, "output": str(out), **summary, "text": "\n".join(rows)}


# (tool, Debian package) each format runs
TOOLS = {"dkms": [], "rpm": [("rpmbuild", "rpm")], "deb": [("dpkg-deb", "dpkg")]}


def _make(pkg, tree, opts: Options, out: Path, made: dict[str, list[str]], epoch, epoch_from) -> dict:
    """Write every package, SHA256SUMS, manifest.json and packages.json into `out` (a temporary
    directory that package() swaps into place)."""
    with ui.stage("package", f"{', '.join(opts.formats)} of {pkg.name} {pkg.version} for {tree.release}"), \
            private_tmp("ofedtool-package-") as tmp:
        work = Path(tmp)
        if opts.sign_key and not {"rpm", "deb"} & set(opts.formats):
            ui.warn("--sign-key: only the kmod RPM and the -modules .deb ship built modules; DKMS builds sign "
                    "with dkms's own key (MOK)")
        if {"rpm", "deb"} & set(opts.formats):
            prepare_modules(pkg, work / "modules", opts.sign_key, opts.sign_cert)
        # The DKMS tree is the source of the RPM (Source0) and the content of the .deb.
        from . import dkms
        d = dkms.build(pkg, out, work / "dkms")
        if "dkms" in opts.formats:
            made["dkms"] = [d.tarball.name, d.conf.name]
        if "rpm" in opts.formats:
            from . import rpm
            from .common import conflicts
            r = rpm.build(pkg, out, work, d.tarball, conflicts(pkg.tree.manifest, "rpm", opts.conflicts),
                          opts.obsoletes, opts.kernel_requires)
            made["rpm"] = [r.srpm.name, *(p.name for p in r.rpms), r.spec.name, r.rpmlintrc.name]
        if "deb" in opts.formats:
            from . import deb
            made["deb"] = [deb.build(pkg, out, work, d.tree).deb.name, deb.build_modules(pkg, out, work).deb.name,
                           deb.build_dev(pkg, out, work).deb.name]
        if "dkms" not in opts.formats:
            d.tarball.unlink()
            d.conf.unlink()
    shutil.copyfile(tree.path / "manifest.json", out / "manifest.json")
    summary = {
        "name": pkg.name, "version": pkg.version, "kernel": tree.release, "target": tree.manifest.target.get("id"),
        "source": tree.source_version, "source_date_epoch": epoch, "source_date_epoch_from": epoch_from,
        "signed": bool(pkg.signer), "signer": pkg.signer, "modules": [m.name for m in tree.modules],
        "packages": made,
    }
    (out / "packages.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    files = [out / f for names in made.values() for f in names] + [out / "manifest.json", out / "packages.json"]
    sha256sums(out, files)
    return summary


def _keep_log(stage: Path, out: Path) -> Path | None:
    """A failed rpmbuild's log is the one thing worth keeping from a failed run: beside `out`."""
    log = stage / "rpmbuild.log"
    if not log.is_file():
        return None
    kept = out.parent / f"{out.name}.rpmbuild.log"
    shutil.move(str(log), str(kept))
    return kept
