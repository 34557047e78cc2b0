"""What every package format shares: the built tree as input, naming and versioning,
SOURCE_DATE_EPOCH, deterministic tarballs, SHA256SUMS and module signing.

Naming and versioning
---------------------
The package name defaults to ``ofed-rdma`` (``--name``). The version is
``<X version>-<release counter>``, e.g. ``6.12.117-1``: X is the upstream release the tree was
generated from (manifest.json ``source.version``), the counter (``--release``, default 1) is
ofedtool's own and is bumped when the same X is repackaged with different backports. RPM
splits it into Version 6.12.117 and Release 1.<kernel>, Debian uses it whole, DKMS uses it
as PACKAGE_VERSION.

SOURCE_DATE_EPOCH
-----------------
Every timestamp in every package is the source release's date, so the same inputs give the
same bytes. In order: $SOURCE_DATE_EPOCH if set (the reproducible-builds convention); the
commit time of the git source (manifest ``source.commit``, read from the cache's mirror);
the date of the newest entry of the Debian source package's changelog (read from the cached
.deb); else the fixed value 315532800 (1980-01-01, the zip epoch) with a warning.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path

from .. import kmod, ui
from ..errors import OfedError
from ..fetch.kbuild import VIEW
from ..tree import BuildRecord, BuiltTree, Manifest

DEFAULT_NAME = "ofed-rdma"
FALLBACK_EPOCH = 315532800
_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")

# Build products that never go into a source package (the DKMS tree rebuilds them).
_PRODUCTS = re.compile(
    r"(\.o|\.ko|\.mod|\.mod\.c|\.cmd|\.d|\.order|\.a|\.tmp|\.symvers)$|^(build\.log|result\.json|\.cache\.mk)$"
)


@dataclass
class Module:
    name: str
    dir: str  # relative to the tree, e.g. drivers/infiniband/core
    ko: Path  # the built object in the tree


@dataclass
class Tree:
    """A generated and built tree (the -o of `ofedtool build`), as package reads it."""
    path: Path
    manifest: Manifest
    result: BuildRecord
    modules: list[Module]

    @property
    def release(self) -> str:
        return self.manifest.release

    @property
    def source_version(self) -> str:
        return self.manifest.source_version

    @property
    def left(self) -> list[str]:
        """Distro modules the build left to the distro (--leave): the packages blacklist them."""
        return sorted(x["name"] for x in self.result.left or [])


@dataclass
class Package:
    """Everything a format writer needs to know about what it packages."""
    tree: Tree
    name: str
    counter: int
    epoch: int  # SOURCE_DATE_EPOCH
    epoch_from: str  # where it came from, for the summary
    module_dir: str  # under /lib/modules/<kver>/, e.g. updates/ofed-rdma
    kernel_dir: Path | None  # the target's build tree (sign-file), when found
    strip: str | None = None  # the built-with toolchain's strip (find_strip); None: the host's
    shipped_kos: dict[str, Path] = field(default_factory=dict)  # module name -> stripped (signed) copy
    # target id -> the tree generated from the same X for another kernel of the release (DKMS variants)
    variant_trees: dict[str, Path] = field(default_factory=dict)
    signer: str | None = None

    @property
    def version(self) -> str:
        return f"{self.tree.source_version}-{self.counter}"

    @property
    def kos(self) -> dict[str, Path]:
        if not self.shipped_kos:
            raise RuntimeError("prepare_modules() first")
        return self.shipped_kos


def load_tree(path: Path) -> Tree:
    bt = BuiltTree.open(path)
    bt.require_ok("packaging")
    kos = bt.manifest_kos()
    return Tree(bt.path, bt.manifest, bt.build, [Module(m.name, m.dir, kos[m.name]) for m in bt.manifest.modules])


def check_name(name: str) -> str:
    # The intersection of what RPM, Debian and DKMS accept in a package name.
    if not _NAME.match(name):
        raise OfedError(f"--name {name!r}: use lower-case letters, digits, '+', '-' and '.' (Debian policy)")
    return name


# ---------------------------------------------------------------- SOURCE_DATE_EPOCH


def source_date_epoch(manifest: Manifest, cache) -> tuple[int, str]:
    env = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if env:
        if not env.isdigit():
            raise OfedError(f"SOURCE_DATE_EPOCH={env!r}: must be a number of seconds")
        return int(env), "$SOURCE_DATE_EPOCH"
    src = manifest.source
    if src.get("provider") == "git" and src.get("commit"):
        t = _git_commit_time(cache, src)
        if t is not None:
            return t, f"git commit {src['commit'][:12]}"
    if src.get("provider") == "debian" and src.get("deb") and cache is not None:
        t = _deb_changelog_time(cache, src)
        if t is not None:
            return t, f"{src['package']} {src['package_version']} changelog"
    ui.warn(f"no date for source {src.get('version')} (not in the cache): using SOURCE_DATE_EPOCH={FALLBACK_EPOCH}")
    return FALLBACK_EPOCH, "fixed fallback (1980-01-01)"


def _git_commit_time(cache, src: dict) -> int | None:
    if cache is None:
        return None
    # Any mirror in the cache that has the commit will do: the commit id is the identity.
    for git_dir in sorted(cache.path("git").glob("*")) if cache.path("git").is_dir() else []:
        p = subprocess.run(["git", "-C", str(git_dir), "show", "-s", "--format=%ct", src["commit"]],
                           capture_output=True, text=True)
        if p.returncode == 0 and p.stdout.strip().isdigit():
            return int(p.stdout.strip())
    return None


def _deb_changelog_time(cache, src: dict) -> int | None:
    hits = sorted(cache.path("debs").glob(f"*/{src['deb']}")) if cache.path("debs").is_dir() else []
    if not hits:
        return None
    text = _deb_member(hits[0], f"./usr/share/doc/{src['package']}/changelog.Debian.gz")
    if text is None:
        return None
    # The first trailer line is the newest entry: " -- Name <mail>  Thu, 13 Nov 2026 18:00:00 +0000"
    m = re.search(r"^ -- .*?>  (.+)$", gzip.decompress(text).decode(errors="replace"), re.M)
    return int(parsedate_to_datetime(m.group(1).strip()).timestamp()) if m else None


def _deb_member(deb: Path, member: str) -> bytes | None:
    """One file out of a .deb's data.tar, streaming (linux-source keeps its docs at the front)."""
    with open(deb, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            return None
        while header := f.read(60):
            name, size = header[:16].strip().decode().rstrip("/"), int(header[48:58])
            if name.startswith("data.tar"):
                comp = name.rsplit(".", 1)[-1] if name != "data.tar" else ""
                with tarfile.open(fileobj=f, mode=f"r|{comp}") as tf:
                    for ti in tf:
                        if ti.name == member:
                            return tf.extractfile(ti).read()
                return None
            f.seek(size + (size & 1), 1)
    return None


# ---------------------------------------------------------------- deterministic files


def deterministic_tar(src_dir: Path, dest: Path, prefix: str, epoch: int) -> Path:
    """tar.gz of src_dir under prefix/: sorted, uid/gid 0 root, mtime = epoch, gzip without
    name or time, so equal content gives equal bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        tf.addfile(_tarinfo(prefix, tarfile.DIRTYPE, 0o755, epoch))
        for path in sorted(Path(src_dir).rglob("*"), key=lambda p: p.relative_to(src_dir).as_posix()):
            rel = f"{prefix}/{path.relative_to(src_dir).as_posix()}"
            if path.is_symlink():
                ti = _tarinfo(rel, tarfile.SYMTYPE, 0o777, epoch)
                ti.linkname = os.readlink(path)
                tf.addfile(ti)
            elif path.is_dir():
                tf.addfile(_tarinfo(rel, tarfile.DIRTYPE, 0o755, epoch))
            else:
                ti = _tarinfo(rel, tarfile.REGTYPE, 0o755 if os.access(path, os.X_OK) else 0o644, epoch)
                ti.size = path.stat().st_size
                with open(path, "rb") as f:
                    tf.addfile(ti, f)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                 compresslevel=9) as gz:
        gz.write(buf.getvalue())
    return dest


def _tarinfo(name: str, kind: bytes, mode: int, epoch: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = kind, mode, epoch
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def source_files(tree: Path) -> list[str]:
    """The tree's source files (no build products), as sorted relative paths."""
    out = []
    for path in sorted(tree.rglob("*")):
        rel = path.relative_to(tree)
        if path.is_dir() or _PRODUCTS.search(path.name) or rel.parts[0] in ("packages", VIEW):
            continue
        out.append(rel.as_posix())
    return out


def copy_sources(tree: Path, dest: Path) -> list[str]:
    """The tree's source files (no build products) into dest; returns their relative paths."""
    out = source_files(tree)
    for rel in out:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tree / rel, dest / rel)
    return out


def clamp_mtimes(root: Path, epoch: int) -> None:
    for path in [root, *root.rglob("*")]:
        os.utime(path, (epoch, epoch), follow_symlinks=False)


def sha256sums(out_dir: Path, files: list[Path]) -> Path:
    lines = [f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.relative_to(out_dir).as_posix()}"
             for f in sorted(files, key=lambda f: f.relative_to(out_dir).as_posix())]
    path = out_dir / "SHA256SUMS"
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- kernel build tree, signing


def find_strip(tree: Tree, cache) -> str | None:
    """The strip of the toolchain the tree was built with (a target's own, named in its manifest)
    when it is in the cache: the binutils that wrote the .ko also rewrite it."""
    entry = (tree.manifest.target.get("toolchain") or {}).get("entry")
    if cache is None or not entry:
        return None
    found = sorted(cache.path("toolchains", entry, "root", "usr", "bin").glob("*-linux-*-strip"))
    return str(found[0]) if found else None


def find_kernel_dir(tree: Tree, cache, given: Path | None) -> Path | None:
    """The target's build tree (headers.find_build_dir): for scripts/sign-file."""
    from ..fetch.headers import find_build_dir
    return find_build_dir(cache, tree.manifest.target, tree.release, given)


def prepare_modules(pkg: Package, work: Path, key: Path | None, cert: Path | None) -> None:
    """Copies of every .ko to ship: debug info stripped (as `make modules_install
    INSTALL_MOD_STRIP=1` and dkms do), then signed with the target's scripts/sign-file (sha256)
    when a key is given. Strip before signing: the signature covers the bytes before it, and
    stripping afterwards would cut it off. The tree itself stays as built."""
    if key is not None:
        kmod.check_key_pair(key, cert)
    work.mkdir(parents=True, exist_ok=True)
    for m in pkg.tree.modules:
        dst = work / f"{m.name}.ko"
        shutil.copyfile(m.ko, dst)
        kmod.strip(dst, pkg.strip)
        pkg.shipped_kos[m.name] = dst
    if key is not None:
        _sign(pkg, key, cert)


def _sign(pkg: Package, key: Path, cert: Path) -> None:
    sign_file = kmod.sign_file_of(pkg.kernel_dir, pkg.tree.release)
    for ko in pkg.shipped_kos.values():
        kmod.sign(sign_file, key, cert, ko)
    pkg.signer = kmod.signer(next(iter(pkg.shipped_kos.values()))) or "unknown"
    ui.info(f"[package] signed {len(pkg.shipped_kos)} modules (sha256, signer: {pkg.signer})")


def signature_state(pkg: Package) -> str:
    return f"signed by {pkg.signer}" if pkg.signer else "unsigned"


PLACEHOLDER_PACKAGER = "ofedtool <ofedtool@localhost>"


def packager() -> tuple[str, bool]:
    """Who made the package, "Name <mail>": $OFEDTOOL_PACKAGER, else Debian's DEBFULLNAME and
    DEBEMAIL (what dch uses). True with the placeholder, when neither is set: there is no real
    address to put in Maintainer: then, and the .deb says so in a lintian override."""
    given = os.environ.get("OFEDTOOL_PACKAGER", "").strip()
    if given:
        return given, False
    name, mail = os.environ.get("DEBFULLNAME", "").strip(), os.environ.get("DEBEMAIL", "").strip()
    if mail:
        if "<" in mail:  # DEBEMAIL may hold "Name <mail>" itself
            return mail, False
        return f"{name or mail.split('@')[0]} <{mail}>", False
    return PLACEHOLDER_PACKAGER, True


_KINDS = (("core", "the RDMA core"), ("sw", "the software RDMA drivers"), ("hw", "the RDMA hardware drivers"),
          ("ulp", "the upper-layer protocols"), ("user", "the in-kernel RDMA users"),
          ("net", "the network drivers they bind to, which replace the distro's own (mlx5_core is also "
                  "the mlx5 Ethernet driver)"))

# The other vendor stacks that install a network driver of the same name (mlnx-en: NVIDIA's
# Ethernet-only mlx5_core), conflicting only where we ship one: per format, as each spells them.
NETDEV_CONFLICTS = {"rpm": ("mlnx-en", "kmod-mlnx-en"), "deb": ("mlnx-en-dkms",)}


def replaced_netdevs(manifest: Manifest) -> list[str]:
    """Network drivers of the tree built from X (mlx5_core, mlxfw): installing it replaces the
    distro's, the Ethernet driver included."""
    return [m.name for m in manifest.modules if m.cls == "net" and m.rule == "upstream"]


def conflicts(manifest: Manifest, fmt: str, base) -> list[str]:
    """The package's conflicts: the OFED stacks always, the netdev stacks where we ship a netdev."""
    extra = NETDEV_CONFLICTS[fmt] if replaced_netdevs(manifest) else ()
    return list(dict.fromkeys([*base, *extra]))


def describe_rules(manifest: Manifest) -> str:
    """The --rule choices in words ("mlx5: rule upstream (...)"), empty without one."""
    return "; ".join(f"{r['name']}: rule {r['rule']} ({r['why']})" for r in manifest.rules)


def describe_modules(manifest: Manifest) -> str:
    """What a package holds, in words, from the tree's own module list: "the RDMA core (ib_core,
    ib_cm), the software RDMA drivers (rdma_rxe, siw)"; never a fixed text (a core-only build
    holds no rdma_rxe)."""
    mods = manifest.modules
    parts = []
    for cls, words in _KINDS:
        names = [m.name for m in mods if m.cls == cls]
        if names:
            parts.append(f"{words} ({', '.join(names)})")
    other = [m.name for m in mods if m.cls not in {c for c, _ in _KINDS}]
    if other:
        parts.append(f"the modules {', '.join(other)}")
    text = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1] if parts else "no modules"
    rules = describe_rules(manifest)
    return f"{text} [{rules}]" if rules else text


def private_tmp(prefix: str) -> tempfile.TemporaryDirectory:
    # Paths without spaces or colons: kbuild's M= and rpmbuild's macros take neither.
    return tempfile.TemporaryDirectory(prefix=prefix)


def target_info(tree: Tree) -> dict:
    """Catalog facts about the tree's target (series, arch, module_dir); a local build dir has
    no catalog entry, so its release stands in."""
    from ..catalog import load_targets
    tid = tree.manifest.target.get("id")
    m = re.match(r"(\d+)\.(\d+)", tree.release)
    info = {"id": tid or "local", "series": f"{m.group(1)}.{m.group(2)}" if m else tree.release,
            "arch": None, "module_dir": "updates", "raw": {}}
    for t in load_targets():
        if t.id == tid:
            import tomllib
            with open(t.path, "rb") as f:
                raw = tomllib.load(f)
            info.update(series=t.series, arch=t.arch, module_dir=t.module_dir, raw=raw)
    return info
