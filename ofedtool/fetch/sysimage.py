"""A minimal Debian system of the target's release, made by mmdebstrap, as a cache entry.

vmtest's initramfs proves our modules load on the distro kernel; it is not a system an admin
runs. This is one: Debian's own apt, dpkg, dkms, initramfs-tools, systemd and udev, the target's
exact kernel image and headers, rdma-core's userspace. The entry is the root directory (apt's
downloads and lists cleaned), made from the same mirror ofedtool's private apt uses. Callers
never change the entry: each scenario works on a copy (ofedtool/prove/system.py), which is where
our packages get installed and from which the boot disk is written.

mmdebstrap runs in root mode inside a private mount namespace (unshare): the /proc, /sys and /dev
mounts it makes in the new root disappear with the namespace, so a killed run leaves no mount
on the host and the cache's removal of its temporary directory never walks into the host's /dev.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import ui
from ..catalog import Target, load_suites
from ..errors import OfedError
from ..proc import require, run
from .apt import MIRRORS

# Bump when the way the root is made changes (options, cleanup): the entry's key includes it.
IMAGE_FORMAT = "1"

# What an admin's RDMA node has besides the kernel: the tools that install and build modules
# (dkms pulls gcc and make; initramfs-tools writes the initrd the boot uses), systemd and udev
# (which load modules on demand at boot), rdma-core's userspace with the rxe provider and the
# traffic tools, iproute2's `rdma`.
BASE_PACKAGES = ("initramfs-tools", "dkms", "kmod", "systemd-sysv", "udev", "iproute2",
                 "rdma-core", "ibverbs-providers", "ibverbs-utils", "rdmacm-utils")


@dataclass(frozen=True)
class SystemSpec:
    """Everything that decides the image's content: two equal specs are the same entry."""
    target: str                   # catalog id (debian-12)
    suite: str                    # the release's main suite, mmdebstrap's SUITE (bookworm)
    sources: tuple[str, ...]      # sources.list lines, the target's suites on ofedtool's mirrors
    kernel: str                   # linux-image-<kver>=<version>
    headers: str                  # linux-headers-<kver>=<version>
    packages: tuple[str, ...] = BASE_PACKAGES
    arch: str = "amd64"
    format: str = IMAGE_FORMAT

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    @property
    def release(self) -> str:
        """The kernel release (uname -r) the image boots: linux-image-<it>."""
        return self.kernel.split("=")[0][len("linux-image-"):]

    def includes(self) -> list[str]:
        return [self.kernel, self.headers, *self.packages]


@dataclass(frozen=True)
class SystemImage:
    root: Path          # the root directory (read-only for users: copy it)
    spec: SystemSpec
    manifest: dict      # spec, the installed packages (name=version), seconds to make, size


def spec_for(target: Target, release: str, version: str) -> SystemSpec:
    """The image for a built tree's target: its release's suites, its exact kernel upload."""
    suites = load_suites()
    unknown = [s for s in target.suites if s not in suites]
    if unknown:
        raise OfedError(f"target {target.id}: unknown Debian suite(s) {', '.join(unknown)} (see kernels/suites.toml)")
    sources = tuple(f"deb {MIRRORS[suites[s].archive]} {s} main" for s in target.suites)
    return SystemSpec(target.id, target.suites[0], sources, f"linux-image-{release}={version}",
                      f"linux-headers-{release}={version}", arch=target.arch)


def mmdebstrap_command(spec: SystemSpec, root: Path) -> list[str]:
    return ["mmdebstrap", "--mode=root", "--variant=apt", f"--architectures={spec.arch}",
            # Depends only, as a minimal server is installed: every package the test relies on is named.
            "--aptopt=APT::Install-Recommends \"false\"",
            f"--include={','.join(spec.includes())}",
            spec.suite, str(root), *spec.sources]


def fetch_system(cache, spec: SystemSpec, offline: bool = False) -> SystemImage:
    """The image's root from the cache, made first when absent or damaged."""
    rel = f"systems/{spec.target}_{spec.release}_{spec.key}"
    entry = cache.get(rel)
    if entry is None:
        if offline:
            raise OfedError(f"system image {spec.target} {spec.release} is not in the cache and --offline was given")
        require("mmdebstrap", "mmdebstrap")
        require("unshare", "util-linux")

        def create(tmp: Path) -> None:
            tmp.mkdir(parents=True)
            root = tmp / "root"
            ui.info(f"[system] mmdebstrap {spec.suite} with {spec.kernel.split('=')[0]} "
                    f"and {len(spec.packages)} more packages (a few minutes, downloads ~250 MB)")
            t0 = time.monotonic()
            run(["unshare", "--mount", "--propagation", "private", "--", *mmdebstrap_command(spec, root)],
                what=f"mmdebstrap of the {spec.target} system image", package="mmdebstrap")
            seconds = round(time.monotonic() - t0, 1)
            _check_root(root, spec)
            (tmp / "manifest.json").write_text(json.dumps(
                {"spec": asdict(spec), "seconds": seconds, "bytes": tree_bytes(root),
                 "packages": installed(root)}, indent=2, sort_keys=True) + "\n")

        entry = cache.ensure(rel, create)
    manifest = json.loads((entry / "manifest.json").read_text())
    return SystemImage(entry / "root", spec, manifest)


def _check_root(root: Path, spec: SystemSpec) -> None:
    kver = spec.release
    for need in (f"boot/vmlinuz-{kver}", f"boot/initrd.img-{kver}", f"lib/modules/{kver}/modules.dep",
                 f"usr/src/linux-headers-{kver}", "usr/sbin/dkms", "usr/bin/ibv_rc_pingpong"):
        if not (root / need).exists():
            raise OfedError(f"system image {spec.target}: mmdebstrap's root has no {need}")


def installed(root: Path) -> list[str]:
    """name=version of every package dpkg in the root says is installed."""
    out, pkg, ver, ok = [], "", "", False
    for line in (root / "var/lib/dpkg/status").read_text(errors="replace").splitlines() + [""]:
        if line.startswith("Package: "):
            pkg = line[9:]
        elif line.startswith("Version: "):
            ver = line[9:]
        elif line.startswith("Status: "):
            ok = line.endswith(" installed")
        elif not line and pkg:
            if ok:
                out.append(f"{pkg}={ver}")
            pkg, ver, ok = "", "", False
    return sorted(out)


def tree_bytes(root: Path) -> int:
    """Bytes of the regular files under root (hard links once), what an ext4 image must hold."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for p in Path(root).rglob("*"):
        try:
            st = p.lstat()
        except OSError:
            continue
        if p.is_file() and not p.is_symlink() and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total
